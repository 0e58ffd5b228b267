"""OpenID4VCI 1.0 and OpenID4VP 1.0 (with DCQL) for the staff passport: any conformant wallet, no lock-in.

Pure modules (stdlib, msgspec, cryptography, ``service/jws.py`` and the passport's pure modules; never
Litestar or SQLAlchemy): ``metadata`` (credential issuer and authorization server metadata), ``offers``
(credential offers, pre-authorized and transaction codes, QR codes), ``proofs`` (``openid4vci-proof+jwt``
key proofs), ``dcql`` (queries from compliance policies, selection and checking), ``authorization``
(signed OpenID4VP request objects, links, ``direct_post`` responses). See ``docs/oid4vc.md``.
"""
