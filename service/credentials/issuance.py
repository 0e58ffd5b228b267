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
import os
import secrets
import threading
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
# For that shape the disclosures are made directly as compact JSON from msgspec (RFC 9901 asks only for
# JSON: the digest is over the encoded text, whatever its spacing), with salts of :data:`SALT_BYTES`
# random bytes, decoys (1 to 3 per ``_sd`` array and per array, at random places in arrays) and sorted
# digests; the disclosures of a record's fields come first, then those of the records, then
# ``holder_id`` (a holder finds each by its digest, in any order). Anything else goes to the generic
# issuer. ``tests/credentials/test_issuance.py`` checks, by property, that both give the same
# disclosures at the same paths and that the verifier accepts them.
#
# Per disclosure the work is one msgspec encoding, one base64url encoding and one SHA-256; the digests
# of a whole ``_sd`` array (and its decoys) are base64url-encoded in one call (each 32-byte digest is
# followed by a zero byte: 33 bytes encode to exactly 44 characters, the first 43 of which are the
# digest's own unpadded encoding). Random bytes come from the OS in blocks (:class:`_Entropy`).

_json_encode: Final = msgspec.json.Encoder().encode
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_PLAIN: Final = ("iss", "iat", "exp", "vct", "status")
_b2a: Final = binascii.b2a_base64
_sha256: Final = hashlib.sha256


SALT_BYTES: Final = 18
"""144 bits of salt per disclosure (RFC 9901 asks for at least 128): 18 bytes encode to exactly 24
base64url characters, so a block of salts is encoded in one call and sliced."""
_SALTS_PER_BLOCK: Final = 2048
_BYTES_PER_BLOCK: Final = 16384


class _Entropy:
    """Salts and random bytes from ``os.urandom`` in blocks (one system call per block, not per
    credential), every byte used once. One per process: a forked child starts empty (it must never
    reuse its parent's bytes), and a lock keeps two threads from taking the same bytes."""

    __slots__ = ("_at", "_bytes", "_lock", "_salt_at", "_salts")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start empty, with a new lock (in a forked child the old one may have been held)."""
        self._lock = threading.Lock()
        self._salts = ""
        self._salt_at = 0
        self._bytes = b""
        self._at = 0

    def salt_text(self, count: int) -> tuple[str, int]:
        """Room for ``count`` fresh salts: a text and the offset where they start (24 base64url
        characters each, ``text[at + 24 * n : at + 24 * (n + 1)]``), reserved for the caller alone."""
        with self._lock:
            at, pool = self._salt_at, self._salts
            if at + 24 * count > len(pool):
                raw = os.urandom(SALT_BYTES * max(_SALTS_PER_BLOCK, count))
                pool = self._salts = _b2a(raw, newline=False).translate(_URLSAFE).decode("ascii")
                at = 0
            self._salt_at = at + 24 * count
        return pool, at

    def take(self, size: int) -> bytes:
        """``size`` fresh random bytes."""
        with self._lock:
            at = self._at
            if at + size > len(self._bytes):
                self._bytes, at = os.urandom(max(_BYTES_PER_BLOCK, size)), 0
            self._at = at + size
            return self._bytes[at : at + size]

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` (rejection sampling, no modulo bias)."""
        if bound > 256:
            return secrets.randbelow(bound)
        limit = 256 - 256 % bound
        draw = self.take(1)[0]
        while draw >= limit:
            draw = self.take(1)[0]
        return draw % bound


_ENTROPY: Final = _Entropy()
os.register_at_fork(after_in_child=_ENTROPY.reset)


def _decoy_bytes() -> list[bytes]:
    """1 to 3 decoys (count drawn without bias), each 32 random bytes. RFC 9901 suggests the digest of
    a random number; 256 random bits are the same thing to a reader (uniform 32 bytes, the same
    43-character canonical encoding) at a third of the cost."""
    low, high = sdjwt.DEFAULT_DECOYS
    count = low + _ENTROPY.below(high - low + 1)
    raw = _ENTROPY.take(32 * count)
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def _digest_texts(raw: list[bytes]) -> list[str]:
    """base64url (43 characters, no padding) of each 32-byte value, in one encoding call."""
    if not raw:
        return []
    text = _b2a(b"\0".join(raw) + b"\0", newline=False).translate(_URLSAFE).decode("ascii")
    return [text[i : i + 43] for i in range(0, len(text), 44)]


class _Blinder:
    """The disclosures of one credential, made as the digests that stand for them are asked for. The
    hot loops bind their callables to locals and take salts by offset from one block of salt text."""

    __slots__ = ("disclosures",)

    def __init__(self) -> None:
        self.disclosures: list[bytes] = []

    def digests(self, contents: list[list[Any]]) -> list[str]:
        """Each ``[None, (name,) value]`` made a disclosure (a fresh salt put in first place) and kept;
        their digests in order, then 1 to 3 decoy digests."""
        encode, b2a, urlsafe, sha256 = _json_encode, _b2a, _URLSAFE, _sha256
        keep = self.disclosures.append
        raw: list[bytes] = []
        add = raw.append
        salts, at = _ENTROPY.salt_text(len(contents))
        for content in contents:
            content[0] = salts[at : at + 24]
            at += 24
            encoded = b2a(encode(content), newline=False).translate(urlsafe).rstrip(b"=")
            keep(encoded)
            add(sha256(encoded).digest())
        raw += _decoy_bytes()
        return _digest_texts(raw)

    def record(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """An object each of whose members is a disclosure."""
        encode, b2a, urlsafe, sha256 = _json_encode, _b2a, _URLSAFE, _sha256
        keep = self.disclosures.append
        raw: list[bytes] = []
        add = raw.append
        salts, at = _ENTROPY.salt_text(len(fields))
        for name, value in fields.items():
            encoded = b2a(encode([salts[at : at + 24], name, value]), newline=False)
            encoded = encoded.translate(urlsafe).rstrip(b"=")
            at += 24
            keep(encoded)
            add(sha256(encoded).digest())
        raw += _decoy_bytes()
        digests = _digest_texts(raw)
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


_HEADERS: dict[tuple[str, str], str] = {}


def _protected(key: jws.PrivateKey, kid: str) -> str:
    """The credential's encoded JWS header (as :func:`service.jws.sign` writes it), once per key."""
    alg = jws.algorithm_of(key)
    found = _HEADERS.get((alg, kid))
    if found is None:
        header = {"alg": alg, "typ": sdjwt.CREDENTIAL_TYP, "kid": kid}
        found = _HEADERS[(alg, kid)] = jws.b64url_encode(jws.canonical_json(header))
    return found


def _fast(job: SignJob, container: str, key: jws.PrivateKey, kid: str) -> str:
    blinder = _Blinder()
    value = job.payload[container]
    if isinstance(value, list):
        records = [[None, blinder.record(r)] for r in value]
        digests = blinder.digests(records)
        elements: list[Any] = [{"...": d} for d in digests[: len(records)]]
        for decoy in digests[len(records) :]:
            elements.insert(_ENTROPY.below(len(elements) + 1), {"...": decoy})
        blinded: Any = elements
    else:
        blinded = blinder.record(value)
    top = blinder.digests([[None, "holder_id", job.payload["holder_id"]]])
    top.sort()
    signed: dict[str, Any] = {"_sd": top}
    for name in _PLAIN:
        signed[name] = job.payload[name]
    signed[container] = blinded
    signed["cnf"] = {"jwk": job.holder_jwk}
    signed["_sd_alg"] = sdjwt.SD_ALG
    signing_input = _protected(key, kid) + "." + jws.b64url_encode(_json_encode(signed))
    signature = jws.b64url_encode(jws.raw_signature(key, signing_input.encode("ascii")))
    return signing_input + "." + signature + "~" + (b"~".join(blinder.disclosures) + b"~").decode("ascii")


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
