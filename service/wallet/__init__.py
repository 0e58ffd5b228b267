"""The reference wallet: ``passport wallet init|fetch|list|verify`` (``present``: ``present.py``).

Storage format (a folder given with ``--dir``, created with mode 0700; read it with
:class:`service.wallet.store.Wallet`)::

    <dir>/holder-key.pem          the holder's private key: P-256, PKCS#8 PEM, unencrypted, mode 0600
    <dir>/wallet.json             {"format": 1, "key_thumbprint": <RFC 7638 thumbprint of the public key>,
                                   "registry": <base URL> | null, "registered_at": <ISO time> | null}
    <dir>/issuer-jwks.json        the registry's credential keys (JWKS) saved by ``fetch``, for offline checks
    <dir>/credentials/<kind>.json the first copy of a credential type (core_skills, occupational_health,
                                   training_placement, identity_link), mode 0600:
                                   {"id", "kind", "vct", "state", "issued_at", "expires_at",
                                    "credential": <compact SD-JWT VC, every disclosure: <jwt>~<d>~...~>}
    <dir>/credentials/<kind>.<n>.json  any further copy of that type (n = 2, 3, ...), the same format

``fetch`` replaces every file under ``credentials/`` with the copies the registry returns that are bound
to the wallet's key (a type no longer issued is removed; copies a wallet app holds under its own keys are
not saved), valid before suspended and newest first. Every file is written to a temporary name and
renamed, so a reader never sees half a file. To present: ``Wallet(dir).key()`` is the private key for the
key-binding JWT and ``service.passport.sdjwt.HeldCredential.parse(Wallet(dir).credential(kind).credential)``
the credential (``Wallet(dir).copies(kind)``: every copy of the type). ``present`` and ``list
--check-status`` read each copy's status list (``status.py``): ``present`` passes over a copy that is
revoked, suspended, expired or bound to another key for the next copy of its type, and stops before
sending anything when a type has no copy left.
"""
