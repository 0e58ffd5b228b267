"""Token Status List (draft-ietf-oauth-status-list): lists, status list tokens, index allocation.

A status list is a byte array of ``bits``-wide statuses; the status at index ``i`` sits in byte
``i * bits // 8`` starting at bit ``(i * bits) % 8``, counted from the least significant bit (the
draft's bit order). On the wire it is compressed with DEFLATE in the ZLIB format at the highest
level and base64url-encoded (``lst``). Our lists use 2 bits: 0 valid, 1 invalid (revoked),
2 suspended.

A status list token is a JWT (``typ: statuslist+jwt``) whose ``sub`` is the list's URI, with
``iat``, ``exp``, ``ttl`` and ``status_list: {bits, lst}``. A credential points at its entry with the
``status`` claim ``{"status_list": {"idx": ..., "uri": ...}}``.

Indexes are drawn at random (from :mod:`secrets`) without replacement from lists of at least
131,072 entries, so an index says nothing about when or to whom a credential was issued and a list
gives herd privacy. :class:`IndexAllocator` is pure: the storage layer persists what it allocates and
rebuilds it from the allocated indexes.

Pure module: no web or database imports.
"""

import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

from service import jws

STATUS_LIST_TYP: Final = "statuslist+jwt"
MIN_LIST_SIZE: Final = 131_072
DEFAULT_BITS: Final = 2
ALLOWED_BITS: Final = (1, 2, 4, 8)
MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
"""Largest list a verifier inflates (16 MiB, 64 million 2-bit entries): a guard against zip bombs."""


class StatusListError(ValueError):
    """A status list or status list token that cannot be used. ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class Status(IntEnum):
    """Status types of the draft (section 7.1) that our lists use."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


class CredentialStatus(StrEnum):
    """What a verifier learns about a credential from its status list."""

    VALID = "valid"
    INVALID = "invalid"
    SUSPENDED = "suspended"
    UNAVAILABLE = "unavailable"
    """No usable list: not fetched, too old, unverifiable, the index is outside it, or an unknown value."""


_FROM_VALUE: Final = {0: CredentialStatus.VALID, 1: CredentialStatus.INVALID, 2: CredentialStatus.SUSPENDED}


@dataclass(frozen=True, slots=True)
class StatusReference:
    """A credential's ``status.status_list``: its entry ``idx`` in the list at ``uri``."""

    uri: str
    idx: int

    def claim(self) -> dict[str, Any]:
        """The ``status`` claim of the credential."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}

    @classmethod
    def from_claim(cls, status: object) -> "StatusReference":
        """Read a credential's ``status`` claim; :class:`StatusListError` ``status_malformed`` otherwise."""
        entry = status.get("status_list") if type(status) is dict else None
        if type(entry) is not dict:
            entry = {}
        idx, uri = entry.get("idx"), entry.get("uri")
        if type(idx) is not int or idx < 0 or not isinstance(uri, str) or not uri:
            raise StatusListError(
                "status_malformed", 'the \'status\' claim is not {"status_list": {"idx": n, "uri": ...}}'
            )
        return cls(uri, idx)


def status_claim(uri: str, idx: int) -> dict[str, Any]:
    """``{"status_list": {"idx": idx, "uri": uri}}``: the value of a credential's ``status`` claim."""
    return StatusReference(uri, idx).claim()


# ---------------------------------------------------------------- the list


class StatusList:
    """``size`` statuses of ``bits`` bits each, packed as the draft says (least significant bit first)."""

    __slots__ = ("_data", "bits", "size")

    def __init__(self, size: int, bits: int = DEFAULT_BITS, data: bytes | None = None) -> None:
        if bits not in ALLOWED_BITS:
            raise StatusListError("invalid_bits", "bits must be 1, 2, 4 or 8")
        if size < 1 or (size * bits) % 8:
            raise StatusListError(
                "invalid_size", f"a list of {bits}-bit statuses holds a whole number of bytes"
            )
        length = size * bits // 8
        if data is not None and len(data) != length:
            raise StatusListError("invalid_size", f"{size} statuses of {bits} bits take {length} bytes")
        self.bits = bits
        self.size = size
        self._data = bytearray(data) if data is not None else bytearray(length)

    @classmethod
    def from_statuses(cls, statuses: Iterable[int], bits: int = DEFAULT_BITS) -> "StatusList":
        """A list holding ``statuses`` in order, padded with 0 (valid) to a whole byte."""
        values = list(statuses)
        per_byte = 8 // bits if bits in ALLOWED_BITS else 1
        size = max(1, -(-len(values) // per_byte)) * per_byte
        result = cls(size, bits)
        for index, value in enumerate(values):
            result[index] = value
        return result

    def _locate(self, index: int) -> tuple[int, int]:
        if type(index) is not int or not 0 <= index < self.size:
            raise IndexError(f"index {index!r} is outside this list of {self.size} entries")
        position = index * self.bits
        return position >> 3, position & 7

    def __getitem__(self, index: int) -> int:
        byte, shift = self._locate(index)
        return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def __setitem__(self, index: int, value: object) -> None:
        # ``object``, not ``int``: compiled, an ``int`` parameter would take True as 1 before this check
        if not (type(value) is int or isinstance(value, IntEnum)):
            raise TypeError("a status is an integer")
        if not 0 <= value < (1 << self.bits):
            raise StatusListError("invalid_status", f"status {value} does not fit in {self.bits} bits")
        byte, shift = self._locate(index)
        mask = ((1 << self.bits) - 1) << shift
        self._data[byte] = (self._data[byte] & ~mask) | (int(value) << shift)

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self.bits, self.size, self._data) == (other.bits, other.size, other._data)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    def encode(self) -> str:
        """``lst``: ZLIB (RFC 1950) DEFLATE at the highest level, base64url without padding."""
        return jws.b64url_encode(zlib.compress(bytes(self._data), 9))

    def to_json(self) -> dict[str, Any]:
        """The ``status_list`` claim: ``{"bits": ..., "lst": ...}``."""
        return {"bits": self.bits, "lst": self.encode()}

    @classmethod
    def decode(cls, bits: object, lst: object, *, max_bytes: int = MAX_DECODED_BYTES) -> "StatusList":
        """The list in a ``status_list`` claim's ``bits`` and ``lst``, or :class:`StatusListError`."""
        if type(bits) is not int or bits not in ALLOWED_BITS:
            raise StatusListError("status_list_malformed", "'bits' must be 1, 2, 4 or 8")
        if not isinstance(lst, str):
            raise StatusListError("status_list_malformed", "'lst' must be a base64url string")
        try:
            compressed = jws.b64url_decode(lst)
        except jws.JWSError:
            raise StatusListError("status_list_malformed", "'lst' is not base64url") from None
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(compressed, max_bytes)
        except zlib.error:
            raise StatusListError("status_list_malformed", "'lst' is not ZLIB-compressed data") from None
        if inflater.unconsumed_tail:
            raise StatusListError(
                "status_list_too_large", f"the list inflates to more than {max_bytes} bytes"
            )
        if not inflater.eof or inflater.unused_data:
            raise StatusListError("status_list_malformed", "'lst' is truncated or has trailing data")
        if not data:
            raise StatusListError("status_list_malformed", "the list is empty")
        return cls(len(data) * 8 // bits, bits, data)

    @classmethod
    def from_json(cls, claim: object, *, max_bytes: int = MAX_DECODED_BYTES) -> "StatusList":
        if not isinstance(claim, dict):
            raise StatusListError(
                "status_list_malformed", "'status_list' must be an object with 'bits' and 'lst'"
            )
        return cls.decode(claim.get("bits"), claim.get("lst"), max_bytes=max_bytes)

    def status_of(self, idx: int) -> CredentialStatus:
        """What a verifier concludes for entry ``idx``."""
        if type(idx) is not int or not 0 <= idx < self.size:
            return CredentialStatus.UNAVAILABLE
        bits = self.bits  # as __getitem__, in line: this runs on every verification
        position = idx * bits
        value = (self._data[position >> 3] >> (position & 7)) & ((1 << bits) - 1)
        return _FROM_VALUE.get(value, CredentialStatus.UNAVAILABLE)


# ---------------------------------------------------------------- the status list token


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified status list token."""

    uri: str
    iat: int
    exp: int | None
    ttl: int | None
    iss: str | None
    status_list: StatusList


def sign_token(
    status_list: StatusList,
    *,
    key: jws.PrivateKey,
    kid: str,
    uri: str,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
    iss: str | None = None,
) -> str:
    """The status list token (``typ: statuslist+jwt``) for the list published at ``uri``."""
    if ttl is not None and ttl <= 0:
        raise StatusListError("invalid_ttl", "ttl must be a positive number of seconds")
    claims: dict[str, Any] = {"sub": uri, "iat": iat}
    if iss is not None:
        claims["iss"] = iss
    if exp is not None:
        claims["exp"] = exp
    if ttl is not None:
        claims["ttl"] = ttl
    claims["status_list"] = status_list.to_json()
    return jws.sign(claims, key, typ=STATUS_LIST_TYP, kid=kid)


def _optional_int(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is not None and type(value) is not int:
        raise StatusListError("token_malformed", f"the status list token's {name!r} is not an integer")
    return value


def verify_token(
    token: str,
    keys: jws.KeySource,
    *,
    uri: str,
    now: int,
    leeway: int = 0,
    algorithms: Iterable[str] = jws.ALLOWED_ALGORITHMS,
    iss: str | None = None,
    max_bytes: int = MAX_DECODED_BYTES,
) -> StatusListToken:
    """Check a status list token fetched from ``uri`` and return its list.

    Checks ``typ``, the signature (allowed algorithm, known key), ``sub`` == ``uri``, ``iat``, ``exp``
    and ``ttl``, and ``iss`` when one is expected. Raises :class:`StatusListError` whose ``code`` is
    the :class:`service.jws.JWSError` code, or ``wrong_uri``, ``wrong_issuer``, ``token_malformed``,
    ``status_list_malformed`` or ``status_list_too_large``.
    """
    try:
        claims = jws.verify(token, keys, typ=STATUS_LIST_TYP, algorithms=frozenset(algorithms)).claims()
        if type(claims.get("iat")) is not int:
            raise StatusListError("token_malformed", "the status list token has no integer 'iat'")
        jws.check_times(claims, now=now, leeway=leeway, require_exp=False)
    except (jws.JWSError, RecursionError) as exc:
        code = exc.code if isinstance(exc, jws.JWSError) else "malformed"
        raise StatusListError(code, f"status list token refused: {exc}") from None
    if claims.get("sub") != uri:
        raise StatusListError("wrong_uri", "the status list token is for another list ('sub' is not its URI)")
    if iss is not None and claims.get("iss") != iss:
        raise StatusListError("wrong_issuer", "the status list token is from another issuer")
    exp, ttl = _optional_int(claims, "exp"), _optional_int(claims, "ttl")
    if ttl is not None and ttl <= 0:
        raise StatusListError("token_malformed", "the status list token's 'ttl' is not positive")
    found_iss = claims.get("iss")
    return StatusListToken(
        uri,
        claims["iat"],
        exp,
        ttl,
        found_iss if isinstance(found_iss, str) else None,
        StatusList.from_json(claims.get("status_list"), max_bytes=max_bytes),
    )


class StatusListCache:
    """Verified lists by URI for the verifier: each is used until its ``ttl`` (or ``exp``) runs out.

    Fetching is the caller's job (this module does no I/O): give each fetched and verified token to
    :meth:`put`; :meth:`lookup` answers ``unavailable`` for a list never put, or put too long ago.
    """

    def __init__(self, *, default_ttl: int = 300) -> None:
        self.default_ttl = default_ttl
        self._lists: dict[str, tuple[StatusList, int]] = {}

    def put(self, token: StatusListToken, *, fetched_at: int) -> None:
        ttl = token.ttl if token.ttl is not None else self.default_ttl
        until = fetched_at + ttl
        if token.exp is not None:
            until = min(until, token.exp)
        self._lists[token.uri] = (token.status_list, until)

    def fresh_until(self, uri: str) -> int | None:
        entry = self._lists.get(uri)
        return entry[1] if entry else None

    def lookup(self, ref: StatusReference, *, now: int) -> CredentialStatus:
        entry = self._lists.get(ref.uri)
        if entry is None or now >= entry[1]:
            return CredentialStatus.UNAVAILABLE
        return entry[0].status_of(ref.idx)

    def lookup_at(self, now: int) -> Callable[[StatusReference], CredentialStatus]:
        """A status lookup for :func:`service.passport.presentation.verify_presentation` at time ``now``."""
        lists = self._lists

        def lookup(ref: StatusReference) -> CredentialStatus:  # lookup() in line
            entry = lists.get(ref.uri)
            if entry is None or now >= entry[1]:
                return CredentialStatus.UNAVAILABLE
            return entry[0].status_of(ref.idx)

        return lookup


# ---------------------------------------------------------------- index allocation


class ListFull(StatusListError):
    def __init__(self, detail: str) -> None:
        super().__init__("list_full", detail)


class IndexAllocator:
    """Random indexes without replacement in a list of ``size`` entries (at least 131,072).

    ``allocated`` are the indexes already taken (from storage). Each :meth:`allocate` draws uniformly
    from the free indexes with :func:`secrets.randbelow`: by rejection while the list is mostly free,
    from an explicit free list once fewer than 1/16 of the entries remain. Indexes are never given
    back: a revoked credential's entry keeps its status for as long as the list is published.
    """

    DENSE_FRACTION: Final = 16

    def __init__(
        self,
        size: int,
        allocated: Iterable[int] = (),
        *,
        min_size: int = MIN_LIST_SIZE,
        randbelow: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        if size < min_size:
            raise StatusListError("invalid_size", f"a status list has at least {min_size} entries")
        self.size = size
        self._randbelow = randbelow
        self._taken = bytearray(-(-size // 8))
        self._count = 0
        self._free: list[int] | None = None
        for index in allocated:
            if type(index) is not int or not 0 <= index < size:
                raise StatusListError("invalid_index", f"allocated index {index!r} is outside the list")
            if self._is_taken(index):
                raise StatusListError("invalid_index", f"index {index} is allocated twice")
            self._mark(index)

    def _is_taken(self, index: int) -> bool:
        return bool(self._taken[index >> 3] >> (index & 7) & 1)

    def _mark(self, index: int) -> None:
        self._taken[index >> 3] |= 1 << (index & 7)
        self._count += 1

    @property
    def free(self) -> int:
        return self.size - self._count

    def is_allocated(self, index: int) -> bool:
        return 0 <= index < self.size and self._is_taken(index)

    def allocate(self) -> int:
        if self.free == 0:
            raise ListFull(f"all {self.size} entries of this status list are allocated")
        if self._free is None and self.free * self.DENSE_FRACTION >= self.size:
            while True:
                index = self._randbelow(self.size)
                if not self._is_taken(index):
                    self._mark(index)
                    return index
        if self._free is None:
            self._free = [i for i in range(self.size) if not self._is_taken(i)]
        position = self._randbelow(len(self._free))
        index = self._free[position]
        self._free[position] = self._free[-1]
        self._free.pop()
        self._mark(index)
        return index

    def allocate_many(self, count: int) -> list[int]:
        """``count`` distinct indexes, or :class:`ListFull` (and nothing allocated) when too few are free."""
        if count > self.free:
            raise ListFull(f"{count} entries asked for, {self.free} free")
        return [self.allocate() for _ in range(count)]
