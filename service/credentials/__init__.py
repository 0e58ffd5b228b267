"""Credentials: SD-JWT VC issuance, status lists, the lifecycle, holder keys and the device grant.

Layout as every domain: ``models.py`` tables, ``schemas.py`` wire structs, ``repository.py`` queries,
``service.py`` verbs (issue, revoke, suspend, reinstate, publish, the lifecycle step), ``controllers.py``
routes; pure modules: ``issuance.py`` (claims to a signed credential, also in worker processes),
``device.py`` (RFC 8628 user codes). See ``docs/credentials.md``.
"""
