"""From a holder's claim set to a signed SD-JWT VC (pure; also runs in worker processes).

The claim model (:mod:`service.passport.claims`) says which concrete paths are each a disclosure
(``("core_skills", 3, "date_to")``). :func:`patterns_of` turns them into the few claim patterns the
SD-JWT issuer walks (``("core_skills", ANY, "date_to")``): every record of a type has the same
disclosable fields, so the patterns reach exactly the same nodes, and the issuer compares a dozen
patterns per node instead of a hundred.

:class:`Signer` signs batches of :class:`SignJob` in this process or, for the August changeover, in a
pool of worker processes (``ProcessPoolExecutor``): the workers get the private key once, as DER bytes
through the pool's pipe (never a file, never logged), and return compact credentials.

Pure module: no web or database imports.
"""

import binascii
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Final, NamedTuple

import msgspec
from cryptography.hazmat.primitives import serialization

from service import jws
from service.passport import sdjwt
from service.passport.status_list import StatusReference

LIFETIME_DAYS: Final[dict[str, int]] = {
    "core_skills": 365,
    "occupational_health": 365,
    "training_placement": 180,
    "identity_link": 365,
}
"""Longest life of each type before the registry re-issues it (capped by PASSPORT_CREDENTIAL_LIFETIME_DAYS
and by the first day one of the stated records lapses). Placements rotate every 4 to 6 months."""


def patterns_of(disclosable: Iterable[Sequence[str | int]]) -> tuple[sdjwt.ClaimPath, ...]:
    """Concrete disclosable paths with every array index replaced by ``ANY``, each pattern once."""
    found: dict[sdjwt.ClaimPath, None] = {}
    for path in disclosable:
        found[tuple(sdjwt.ANY if isinstance(part, int) else part for part in path)] = None
    return tuple(found)


def expiry(kind: str, issued_at: dt.datetime, refresh_on: dt.date | None, max_days: int) -> dt.datetime:
    """When a credential of ``kind`` issued at ``issued_at`` expires: its type's lifetime, at most
    ``max_days``, and no later than the start (UTC) of ``refresh_on``, the day a stated record lapses."""
    expires = issued_at + dt.timedelta(days=min(LIFETIME_DAYS[kind], max_days))
    if refresh_on is not None:
        lapse = dt.datetime.combine(refresh_on, dt.time(), tzinfo=dt.UTC)
        if lapse > issued_at:
            expires = min(expires, lapse)
    return expires


def payload(
    claims: Mapping[str, Any], *, iss: str, vct: str, iat: int, exp: int, status: StatusReference
) -> dict[str, Any]:
    """The claims the issuer signs: the registry's plain claims, then the holder's (to be blinded)."""
    return {"iss": iss, "iat": iat, "exp": exp, "vct": vct, "status": status.claim(), **claims}


def claims_digest(claims: Mapping[str, Any], vct: str, holder_thumbprint: str) -> str:
    """Fingerprint of what a credential states and to whom: equal digests need no re-issue."""
    body = jws.canonical_json({"claims": claims, "vct": vct, "holder": holder_thumbprint})
    return hashlib.sha256(body).hexdigest()


class SignJob(NamedTuple):
    payload: dict[str, Any]
    """The registry's plain claims and the holder's claims (:func:`payload`)."""
    disclosable: tuple[tuple[str | int, ...], ...]
    """The claim model's concrete disclosable paths."""
    holder_jwk: dict[str, Any]
    """The holder's public JWK, as :func:`service.jws.public_jwk` writes it."""


# ---------------------------------------------------------------- the claim model's shape, fast
#
# The generic issuer (:func:`service.passport.sdjwt.issue`) walks every node against every pattern and
# builds each disclosure through ``json.dumps``; for a core skills credential (about 110 disclosures)
# that is most of 6 ms. The claim model has one shape: ``holder_id`` and a container that is an array
# of records (each record and each of its fields a disclosure) or one object (each field a disclosure).
# For that shape the disclosures are made directly, in the generic issuer's order, as compact JSON from
# msgspec (RFC 9901 asks only for JSON: the digest is over the encoded text, whatever its spacing), with
# salts from ``secrets`` (:data:`SALT_BYTES`), decoys (1 to 3 per ``_sd`` array and per array) and sorted
# digests. Anything else goes to the generic issuer. ``tests/credentials/test_issuance.py`` checks, by
# property, that both give the same disclosures at the same paths and that the verifier accepts them.

_json_encode: Final = msgspec.json.Encoder().encode
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_PLAIN: Final = ("iss", "iat", "exp", "vct", "status")


SALT_BYTES: Final = 18
"""144 bits of salt per disclosure (RFC 9901 asks for at least 128): 18 bytes encode to exactly 24
base64url characters, so a whole batch of salts is encoded in one call and sliced."""
_SALTS_PER_DRAW: Final = 256


class _Blinder:
    __slots__ = ("_random_at", "_randoms", "_salt_at", "_salts", "disclosures")

    def __init__(self) -> None:
        self._salts = ""
        self._salt_at = 0
        self._randoms = b""
        self._random_at = 0
        self.disclosures: list[bytes] = []

    def _salt(self) -> str:
        return self._salts_for(1)[0]

    def _salts_for(self, count: int) -> list[str]:
        at, pool = self._salt_at, self._salts
        if at + 24 * count > len(pool):
            raw = secrets.token_bytes(SALT_BYTES * max(_SALTS_PER_DRAW, count))
            pool = self._salts = binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode("ascii")
            at = 0
        self._salt_at = at + 24 * count
        return [pool[i : i + 24] for i in range(at, at + 24 * count, 24)]

    def disclose(self, content: list[Any]) -> str:
        """Encode ``[salt, (name,) value]`` (the salt is put in first place) and return its digest."""
        content[0] = self._salt()
        encoded = binascii.b2a_base64(_json_encode(content), newline=False).translate(_URLSAFE).rstrip(b"=")
        self.disclosures.append(encoded)
        digest = binascii.b2a_base64(hashlib.sha256(encoded).digest(), newline=False)
        return digest[:43].translate(_URLSAFE).decode("ascii")

    def _random(self, size: int) -> bytes:
        at = self._random_at
        if at + size > len(self._randoms):
            self._randoms, at = secrets.token_bytes(4096), 0
        self._random_at = at + size
        return self._randoms[at : at + size]

    def decoys(self) -> list[str]:
        """1 to 3 decoy digests (count drawn without bias). RFC 9901 suggests hashing a random number;
        256 random bits base64url-encoded are the same thing to a reader (uniform 32 bytes, the same
        43-character canonical encoding) at a third of the cost."""
        low, high = sdjwt.DEFAULT_DECOYS
        spread = high - low + 1
        draw = self._random(1)[0]
        while draw >= 256 - 256 % spread:
            draw = self._random(1)[0]
        raw = self._random(32 * (low + draw % spread))
        return [
            binascii.b2a_base64(raw[i : i + 32], newline=False)[:43].translate(_URLSAFE).decode("ascii")
            for i in range(0, len(raw), 32)
        ]

    def record(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """An object each of whose members is a disclosure (the hot loop: locals bound once)."""
        encode, b2a, sha256, urlsafe = _json_encode, binascii.b2a_base64, hashlib.sha256, _URLSAFE
        keep = self.disclosures.append
        digests = self.decoys()
        add = digests.append
        for (name, value), salt in zip(fields.items(), self._salts_for(len(fields)), strict=True):
            encoded = b2a(encode([salt, name, value]), newline=False).translate(urlsafe).rstrip(b"=")
            keep(encoded)
            add(b2a(sha256(encoded).digest(), newline=False)[:43].translate(urlsafe).decode("ascii"))
        digests.sort()
        return {"_sd": digests}


def model_shape(payload: Mapping[str, Any], disclosable: Sequence[tuple[str | int, ...]]) -> str | None:
    """The container name when the claims have the claim model's shape (so the fast path applies):
    ``holder_id`` and one container, an array of non-empty objects or one non-empty object, and the
    disclosable paths exactly ``holder_id``, each record and each of its fields (or each field)."""
    holder = [name for name in payload if name not in _PLAIN]
    if len(holder) != 2 or holder[0] != "holder_id" or len(payload) != len(_PLAIN) + 2:
        return None
    container = holder[1]
    value = payload[container]
    if not disclosable or tuple(disclosable[0]) != ("holder_id",):
        return None
    position = 1
    for index, element in enumerate(value if isinstance(value, list) else [value]):
        if not isinstance(element, dict) or not element or not sdjwt.RESERVED_NAMES.isdisjoint(element):
            return None
        base: tuple[str | int, ...] = (container, index) if isinstance(value, list) else (container,)
        if isinstance(value, list):
            if tuple(disclosable[position]) != base:
                return None
            position += 1
        for name in element:
            if position >= len(disclosable) or tuple(disclosable[position]) != (*base, name):
                return None
            position += 1
    return container if position == len(disclosable) else None


def _fast(job: SignJob, container: str, key: jws.PrivateKey, kid: str) -> str:
    blinder = _Blinder()
    value = job.payload[container]
    if isinstance(value, list):
        elements: list[Any] = [{"...": blinder.disclose([None, blinder.record(r)])} for r in value]
        for decoy in blinder.decoys():
            elements.insert(secrets.randbelow(len(elements) + 1), {"...": decoy})
        blinded: Any = elements
    else:
        blinded = blinder.record(value)
    top = [blinder.disclose([None, "holder_id", job.payload["holder_id"]]), *blinder.decoys()]
    top.sort()
    signed: dict[str, Any] = {"_sd": top}
    for name in _PLAIN:
        signed[name] = job.payload[name]
    signed[container] = blinded
    signed["cnf"] = {"jwk": job.holder_jwk}
    signed["_sd_alg"] = sdjwt.SD_ALG
    token = jws.sign(signed, key, typ=sdjwt.CREDENTIAL_TYP, kid=kid)
    return token + "~" + (b"~".join(blinder.disclosures) + b"~").decode("ascii")


def sign_one(job: SignJob, key: jws.PrivateKey, kid: str) -> str:
    """The compact SD-JWT VC ``<jwt>~<disclosure>~...~`` of one job."""
    container = model_shape(job.payload, job.disclosable)
    if container is not None:
        return _fast(job, container, key, kid)
    issued = sdjwt.issue(
        job.payload, patterns_of(job.disclosable), key=key, kid=kid, holder_jwk=job.holder_jwk
    )
    return issued.combined()


_worker_key: list[tuple[jws.PrivateKey, str]] = []


def _init_worker(der: bytes, kid: str) -> None:
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, jws.PrivateKey)  # noqa: S101 - our own key, given by the parent
    _worker_key[:] = [(key, kid)]


def _sign_batch(jobs: list[SignJob]) -> list[str]:
    key, kid = _worker_key[0]
    return [sign_one(job, key, kid) for job in jobs]


class Signer:
    """Signs jobs with one credential key, in this process (``workers=0``) or in worker processes."""

    def __init__(self, key: jws.PrivateKey, kid: str, *, workers: int = 0) -> None:
        self.key = key
        self.kid = kid
        self.workers = workers
        self._pool: Executor | None = None
        if workers > 0:
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            self._pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(der, kid))

    def sign(self, jobs: list[SignJob]) -> list[str]:
        """Sign in this process (also when a pool exists: for small batches)."""
        return [sign_one(job, self.key, self.kid) for job in jobs]

    async def sign_async(self, jobs: list[SignJob]) -> list[str]:
        """Sign across the pool, in chunks, without blocking the event loop; in-process without a pool."""
        if self._pool is None or len(jobs) < 64:
            return self.sign(jobs)
        import asyncio

        loop = asyncio.get_running_loop()
        size = -(-len(jobs) // (self.workers * 4))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        done = await asyncio.gather(*(loop.run_in_executor(self._pool, _sign_batch, c) for c in chunks))
        return [text for chunk in done for text in chunk]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
