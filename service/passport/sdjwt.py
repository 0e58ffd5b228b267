"""SD-JWT (RFC 9901) for SD-JWT VC credentials: disclosures, issuance and the holder's presentation.

What a caller says is selectively disclosable is a set of *claim paths*: tuples of member names,
array indexes and :data:`ANY` (every member of an object or every element of an array), or the same
written as text, ``"records/*/*"``. Each node a path reaches becomes its own disclosure; a node
reached by a path under another disclosable node is a *recursive* disclosure (its digest sits inside
its parent's disclosure). So ``{"records/*", "records/*/*"}`` means "each record of this array, and
each field of each record, is its own disclosure".

Issuance follows RFC 9901 section 4 and the SD-JWT VC draft (``typ: dc+sd-jwt``): salts of 128 bits
from :mod:`secrets`, ``_sd_alg: sha-256``, every ``_sd`` array sorted, decoy digests in every ``_sd``
array and every array with disclosable elements, and ``iss``, ``iat``, ``exp``, ``nbf``, ``vct``,
``vct#integrity``, ``cnf`` and ``status`` never disclosable. Disclosures are encoded as Python's
``json.dumps`` writes them (``", "`` separators, UTF-8), as in the RFC's examples, so its published
disclosures are reproduced byte for byte.

The holder side (:class:`HeldCredential`) parses what was issued, chooses disclosures by claim path
(a child disclosure brings its parent) and adds the key-binding JWT (``typ: kb+jwt``, ``aud``,
``nonce``, ``iat``, ``sd_hash``). The verifier is :mod:`service.passport.presentation`; the
reconstruction of the disclosed claims (:func:`unblind`) is shared by both.

Pure module: no web or database imports.
"""

import hashlib
import json
import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, NoReturn, cast

import msgspec
import pybase64

from service import jws

SD_ALG: Final = "sha-256"
CREDENTIAL_TYP: Final = "dc+sd-jwt"
KB_TYP: Final = "kb+jwt"
SALT_BYTES: Final = 16
"""128 bits of salt per disclosure (RFC 9901 section 9.3)."""

NEVER_DISCLOSABLE: Final = frozenset({"iss", "iat", "exp", "nbf", "vct", "vct#integrity", "cnf", "status"})
"""Top-level claims an SD-JWT VC never makes selectively disclosable (they are checked before disclosure)."""
RESERVED_NAMES: Final = frozenset({"_sd", "..."})
DEFAULT_DECOYS: Final = (1, 3)
"""Decoy digests added to each ``_sd`` array and each array with disclosable elements: a random number
in this inclusive range, so a reader cannot count the hidden claims."""

_decoder: Final = msgspec.json.Decoder()


class SdJwtError(ValueError):
    """Bad input to issuance or presentation, or an SD-JWT that does not pass; ``code`` says which."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


# ---------------------------------------------------------------- claim paths


class _Any:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""In a claim path: every member of an object, or every element of an array."""

Segment = str | int | _Any
ClaimPath = tuple[Segment, ...]
ConcretePath = tuple[str | int, ...]
PathSpec = ClaimPath | str


def parse_path(text: str) -> ClaimPath:
    """``"records/*/subject"`` -> ``("records", ANY, "subject")``.

    Segments are separated by ``/``; ``*`` is :data:`ANY`; ``~1`` stands for ``/`` and ``~0`` for ``~``
    inside a name (as in JSON Pointer). A segment of digits also matches that index of an array. An
    empty segment is refused (use the tuple form for a member named "").
    """
    if not isinstance(text, str) or "" in text.split("/"):
        raise SdJwtError("invalid_path", f"{text!r} is not a claim path such as 'records/*/subject'")
    return tuple(
        ANY if part == "*" else part.replace("~1", "/").replace("~0", "~") for part in text.split("/")
    )


def format_path(path: Sequence[Segment]) -> str:
    """The text form of a claim path (inverse of :func:`parse_path`)."""
    return "/".join("*" if part is ANY else str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _normalise(paths: Iterable[PathSpec]) -> tuple[ClaimPath, ...]:
    if isinstance(paths, str):
        raise SdJwtError("invalid_path", "claim paths are given as a collection, not one string")
    result: list[ClaimPath] = []
    for spec in paths:
        # the parts as given (objects, not yet segments: compiled code checks declared types)
        given: tuple[object, ...] = parse_path(spec) if isinstance(spec, str) else tuple(spec)
        if not given:
            raise SdJwtError("invalid_path", "the empty path (the whole claim set) cannot be disclosable")
        for part in given:
            if part is not ANY and (isinstance(part, bool) or not isinstance(part, str | int)):
                raise SdJwtError("invalid_path", f"{part!r} is not a member name, an index or ANY")
        result.append(cast(ClaimPath, given))
    return tuple(result)


def _matches(segment: Segment, key: str | int) -> bool:
    if segment is ANY:
        return True
    if isinstance(key, int):
        return segment == key or segment == str(key)
    return segment == key


def _prefix_matches(pattern: ClaimPath, path: ConcretePath) -> bool:
    return len(pattern) <= len(path) and all(_matches(s, k) for s, k in zip(pattern, path, strict=False))


# ---------------------------------------------------------------- disclosures


_b64encode: Final = pybase64.b64encode_as_string


def b64_digest(data: str) -> str:
    """base64url(SHA-256(ASCII bytes of ``data``)): a disclosure digest or an ``sd_hash``."""
    # 32 bytes encode to 43 characters and one '=' of padding, dropped here.
    return _b64encode(hashlib.sha256(data.encode("ascii")).digest(), b"-_")[:43]


def new_salt() -> str:
    return jws.b64url_encode(secrets.token_bytes(SALT_BYTES))


def _decoy() -> str:
    return jws.b64url_encode(hashlib.sha256(secrets.token_bytes(SALT_BYTES)).digest())


class Disclosure(NamedTuple):
    """A disclosure: ``[salt, name, value]`` for an object member, ``[salt, value]`` for an array element."""

    encoded: str
    digest: str
    salt: str
    name: str | None
    value: Any

    @classmethod
    def create(cls, salt: str, name: str | None, value: Any) -> "Disclosure":
        content = [salt, value] if name is None else [salt, name, value]
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SdJwtError("invalid_claims", f"a claim value is not JSON: {exc}") from None
        encoded = jws.b64url_encode(text.encode("utf-8"))
        return cls(encoded, b64_digest(encoded), salt, name, value)

    @classmethod
    def parse(cls, encoded: str) -> "Disclosure":
        """A received disclosure; :class:`SdJwtError` ``malformed_disclosure`` when it is not one."""
        return parse_disclosures((encoded,))[0]


def parse_disclosures(encoded: Iterable[str]) -> list[Disclosure]:
    """Received disclosures, in order; :class:`SdJwtError` ``malformed_disclosure`` when one is not one.

    One loop with every step inlined: it runs for each disclosure of each verification.
    """
    result: list[Disclosure] = []
    # compiled (decision 0051): jws.b64url_decode called by name is a C call, through a local a Python one
    decode, sha256, b64encode = _decoder.decode, hashlib.sha256, _b64encode
    for text in encoded:
        try:
            content = decode(jws.b64url_decode(text))
        except (jws.JWSError, msgspec.DecodeError, RecursionError):
            raise SdJwtError("malformed_disclosure", "a disclosure is not base64url-encoded JSON") from None
        if type(content) is list and type(content[0] if content else None) is str:
            # the digest: base64url of SHA-256 over the ASCII text (43 characters, the padding dropped)
            digest = b64encode(sha256(text.encode()).digest(), b"-_")[:43]  # ASCII: base64url decoded
            if len(content) == 3 and type(content[1]) is str:
                result.append(_new_tuple(Disclosure, (text, digest, content[0], content[1], content[2])))
                continue
            if len(content) == 2:
                result.append(_new_tuple(Disclosure, (text, digest, content[0], None, content[1])))
                continue
        raise SdJwtError(
            "malformed_disclosure",
            "a disclosure must be [salt, name, value] or [salt, value], salt and name strings",
        )
    return result


_new_tuple: Final = tuple.__new__
"""Builds a NamedTuple from a tuple of all its fields, skipping the generated ``__new__`` (hot path)."""


# ---------------------------------------------------------------- issuance


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """What the issuer hands to the holder: the issuer-signed JWT and every disclosure."""

    jwt: str
    disclosures: tuple[Disclosure, ...]
    payload: dict[str, Any]
    """The signed payload (digests in place of the disclosable claims)."""

    def combined(self) -> str:
        """``<jwt>~<d1>~...~<dn>~``: the SD-JWT as issued (RFC 9901 section 4)."""
        return self.jwt + "~" + "".join(d.encoded + "~" for d in self.disclosures)


class _Issuer:
    def __init__(self, salt: Callable[[], str], decoys: tuple[int, int], decoy: Callable[[], str]) -> None:
        self.salt = salt
        self.low, self.high = decoys
        self.decoy = decoy
        self.disclosures: list[Disclosure] = []

    def decoy_count(self) -> int:
        return self.low + secrets.randbelow(self.high - self.low + 1)

    def child(self, key: str | int, value: Any, patterns: tuple[ClaimPath, ...]) -> tuple[bool, Any]:
        """Whether the member/element is disclosable, and its (recursively blinded) value."""
        rest = [p[1:] for p in patterns if _matches(p[0], key)]
        return (any(not r for r in rest), self.build(value, tuple(r for r in rest if r)))

    def build(self, node: Any, patterns: tuple[ClaimPath, ...]) -> Any:
        if isinstance(node, Mapping):
            return self.object(node, patterns)
        if isinstance(node, list | tuple):
            return self.array(node, patterns)
        if node is None or isinstance(node, str | bool | int):
            return node
        if isinstance(node, float) and math.isfinite(node):
            return node
        raise SdJwtError("invalid_claims", f"a claim value is not JSON: {node!r}")

    def object(self, node: Mapping[Any, Any], patterns: tuple[ClaimPath, ...]) -> dict[str, Any]:
        plain: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in node.items():
            if not isinstance(name, str):
                raise SdJwtError("invalid_claims", f"claim names must be strings, not {name!r}")
            if name in RESERVED_NAMES:
                raise SdJwtError("invalid_claims", f"{name!r} is reserved by SD-JWT, not a claim name")
            disclosable, built = self.child(name, value, patterns)
            if disclosable:
                disclosure = Disclosure.create(self.salt(), name, built)
                self.disclosures.append(disclosure)
                digests.append(disclosure.digest)
            else:
                plain[name] = built
        if not digests:
            return plain
        digests.extend(self.decoy() for _ in range(self.decoy_count()))
        return {"_sd": sorted(digests), **plain}

    def array(self, node: Sequence[Any], patterns: tuple[ClaimPath, ...]) -> list[Any]:
        elements: list[Any] = []
        blinded = False
        for index, value in enumerate(node):
            disclosable, built = self.child(index, value, patterns)
            if disclosable:
                disclosure = Disclosure.create(self.salt(), None, built)
                self.disclosures.append(disclosure)
                elements.append({"...": disclosure.digest})
                blinded = True
            else:
                elements.append(built)
        if blinded:
            for _ in range(self.decoy_count()):
                elements.insert(secrets.randbelow(len(elements) + 1), {"...": self.decoy()})
        return elements


def _refuse_never_disclosable(patterns: tuple[ClaimPath, ...], claims: Mapping[str, Any]) -> None:
    for pattern in patterns:
        head = pattern[0]
        if head is ANY:
            clash = sorted(name for name in claims if name in NEVER_DISCLOSABLE)
            if clash:
                raise SdJwtError(
                    "never_disclosable",
                    f"'*' would make {', '.join(clash)} selectively disclosable; an SD-JWT VC never does",
                )
        elif str(head) in NEVER_DISCLOSABLE:
            raise SdJwtError(
                "never_disclosable", f"{head!r} (and anything in it) is never selectively disclosable"
            )


def issue(
    claims: Mapping[str, Any],
    disclosable: Iterable[PathSpec],
    *,
    key: jws.PrivateKey,
    kid: str,
    typ: str = CREDENTIAL_TYP,
    holder_jwk: Mapping[str, Any] | None = None,
    decoys: tuple[int, int] = DEFAULT_DECOYS,
    salt: Callable[[], str] = new_salt,
) -> IssuedCredential:
    """Sign ``claims`` as an SD-JWT with the claims that ``disclosable`` reaches made selectively disclosable.

    ``holder_jwk`` (a public JWK) becomes ``cnf.jwk``, binding the credential to the holder's key.
    ``iat``, ``exp``, ``nbf``, ``iss``, ``vct`` and ``status`` are taken from ``claims`` as given; with
    ``typ`` ``dc+sd-jwt`` a string ``vct`` is required. ``salt`` and ``decoys`` are parameters so
    known-answer tests can reproduce published examples; production uses the defaults.
    Raises :class:`SdJwtError` for a description or claim set that cannot be issued.
    """
    patterns = _normalise(disclosable)
    low, high = decoys
    if not 0 <= low <= high:
        raise SdJwtError("invalid_decoys", "decoys must be a range (low, high) with 0 <= low <= high")
    if not isinstance(claims, Mapping):
        raise SdJwtError("invalid_claims", "the claim set must be a JSON object")
    if "_sd_alg" in claims:
        raise SdJwtError("invalid_claims", "'_sd_alg' is set by the issuer, not given as a claim")
    if typ == CREDENTIAL_TYP and not isinstance(claims.get("vct"), str):
        raise SdJwtError("invalid_claims", "an SD-JWT VC needs a string 'vct' (its credential type)")
    _refuse_never_disclosable(patterns, claims)
    if holder_jwk is not None and "cnf" in claims:
        raise SdJwtError("invalid_claims", "give the holder key either as holder_jwk or as 'cnf', not both")
    issuer = _Issuer(salt, (low, high), _decoy)
    payload: dict[str, Any] = issuer.build(claims, patterns)
    if holder_jwk is not None:
        try:
            holder = jws.key_from_jwk(holder_jwk)
        except jws.JWSError as exc:
            raise SdJwtError("invalid_holder_key", f"the holder key cannot be used: {exc}") from None
        payload["cnf"] = {"jwk": jws.public_jwk(holder.public_key)}
    payload["_sd_alg"] = SD_ALG
    token = jws.sign(payload, key, typ=typ, kid=kid)
    return IssuedCredential(token, tuple(issuer.disclosures), payload)


# ---------------------------------------------------------------- reconstruction


class Found(NamedTuple):
    """A disclosure found while reconstructing: where it sits and which disclosure encloses it."""

    disclosure: Disclosure
    path: ConcretePath
    parent: str | None
    """Digest of the enclosing disclosure (None: the disclosure sits in the signed payload itself)."""


_STR_ONLY: Final = frozenset({str})


class _Walker:
    """RFC 9901 section 7.1 steps 3-5: replace digests with disclosed claims, refusing what is unsafe.

    Written for speed (it runs on every verification): each object is copied in C (its plain members
    are not put back one by one) and only its containers and ``_sd`` are then processed in Python;
    paths are built only for containers; every digest met is collected and duplicates are found at
    the end in one set, except digests of disclosures, which are checked at once so no disclosure is
    ever expanded twice.
    """

    __slots__ = ("by_digest", "digests", "found", "in_place", "protected", "used")

    def __init__(self, by_digest: dict[str, Disclosure], protected: frozenset[str], in_place: bool) -> None:
        self.by_digest = by_digest
        self.protected = protected
        self.in_place = in_place
        """Reuse the payload's (and the disclosures') objects instead of copying them: only for
        objects no one else holds, such as those the verifier has just decoded."""
        self.digests: list[str] = []
        self.used: set[str] = set()
        self.found: list[Found] = []

    def value(self, node: Any, path: ConcretePath, parent: str | None) -> Any:
        kind = type(node)
        if kind is dict:
            return self.object(node, path, parent)
        if kind is list:
            return self.array(node, path, parent)
        return node

    def object(self, node: dict[str, Any], path: ConcretePath, parent: str | None) -> dict[str, Any]:
        out = node if self.in_place else node.copy()
        digests = out.pop("_sd", None)
        if not path:
            out.pop("_sd_alg", None)
        for name, member in out.items():  # replacing values of existing keys only: allowed
            kind = type(member)
            if kind is dict:
                out[name] = self.object(member, (*path, name), parent)
            elif kind is list:
                out[name] = self.array(member, (*path, name), parent)
        if digests is not None:
            self.disclose(digests, out, path, parent)
        return out

    def disclose(self, digests: Any, out: dict[str, Any], path: ConcretePath, parent: str | None) -> None:
        """Put the disclosures an ``_sd`` array references into ``out``, in the array's order."""
        if type(digests) is not list:
            raise SdJwtError("malformed_sd", "an '_sd' member of the credential is not an array")
        if not _STR_ONLY.issuperset(map(type, digests)):
            raise SdJwtError("malformed_sd", "a digest in the credential is not a string")
        self.digests.extend(digests)
        # the containers as typed locals, their methods called by name: C calls once compiled (a bound
        # method kept in a local is a Python call there)
        by_digest, used, protected, found = self.by_digest, self.used, self.protected, self.found
        for digest in digests:
            disclosure = by_digest.get(digest)
            if disclosure is None:
                continue
            if digest in used:
                raise SdJwtError("duplicate_digest", "a digest appears more than once in the credential")
            used.add(digest)
            name = disclosure.name
            if name is None or name in RESERVED_NAMES or name in out or (not path and name in protected):
                self.refuse(disclosure, out, path)
            child = (*path, name)
            found.append(_new_tuple(Found, (disclosure, child, parent)))
            value, kind = disclosure.value, type(disclosure.value)
            if kind is dict:
                value = self.object(value, child, digest)
            elif kind is list:
                value = self.array(value, child, digest)
            out[name] = value

    def refuse(self, disclosure: Disclosure, out: dict[str, Any], path: ConcretePath) -> NoReturn:
        """The error for an object-member disclosure in ``_sd`` whose name may not go into ``out``."""
        name = disclosure.name
        if name is None:
            raise SdJwtError(
                "disclosure_kind_mismatch", "an array-element disclosure is referenced from an '_sd' array"
            )
        if name in RESERVED_NAMES:
            raise SdJwtError("reserved_claim_name", f"a disclosure uses the reserved name {name!r}")
        if name in out:
            raise SdJwtError("claim_clash", f"a disclosure for {name!r} clashes with a claim of that name")
        raise SdJwtError("protected_claim_disclosed", f"{name!r} must never be a selective disclosure")

    def array(self, node: list[Any], path: ConcretePath, parent: str | None) -> list[Any]:
        out: list[Any] = []
        digests, by_digest = self.digests, self.by_digest
        for element in node:
            kind = type(element)
            if kind is dict and len(element) == 1 and "..." in element:
                # as in disclose(): record the digest, check a disclosure's at once
                digest = element["..."]
                if type(digest) is not str:
                    raise SdJwtError("malformed_sd", "a digest in the credential is not a string")
                digests.append(digest)
                disclosure = by_digest.get(digest)
                if disclosure is not None:
                    out.append(self.element(disclosure, (*path, len(out)), parent))
            elif kind is dict:
                out.append(self.object(element, (*path, len(out)), parent))
            elif kind is list:
                out.append(self.array(element, (*path, len(out)), parent))
            else:
                out.append(element)
        return out

    def element(self, disclosure: Disclosure, child: ConcretePath, parent: str | None) -> Any:
        """The value of an array-element disclosure met at ``child``."""
        digest = disclosure.digest
        if digest in self.used:
            raise SdJwtError("duplicate_digest", "a digest appears more than once in the credential")
        self.used.add(digest)
        if disclosure.name is not None:
            raise SdJwtError(
                "disclosure_kind_mismatch", "an object-member disclosure is referenced as an array element"
            )
        self.found.append(_new_tuple(Found, (disclosure, child, parent)))
        return self.value(disclosure.value, child, digest)


@dataclass(frozen=True, slots=True)
class Unblinded:
    claims: dict[str, Any]
    found: tuple[Found, ...]
    """Every disclosure that was referenced, in the order met (parents before children)."""


def index_disclosures(disclosures: Iterable[Disclosure]) -> dict[str, Disclosure]:
    """Disclosures by digest; :class:`SdJwtError` ``duplicate_disclosure`` when one is given twice."""
    items = disclosures if type(disclosures) is list or type(disclosures) is tuple else tuple(disclosures)
    by_digest = {disclosure.digest: disclosure for disclosure in items}
    if len(by_digest) != len(items):
        raise SdJwtError("duplicate_disclosure", "the same disclosure is included more than once")
    return by_digest


def unblind(
    payload: Mapping[str, Any],
    disclosures: Sequence[Disclosure],
    *,
    protected: frozenset[str] = NEVER_DISCLOSABLE,
) -> Unblinded:
    """The claims of an issuer-signed payload with ``disclosures`` put in place (RFC 9901 section 7.1).

    Raises :class:`SdJwtError` with code ``unsupported_sd_alg``, ``duplicate_disclosure``,
    ``duplicate_digest``, ``malformed_sd``, ``disclosure_kind_mismatch``, ``reserved_claim_name``,
    ``claim_clash``, ``protected_claim_disclosed`` or ``unreferenced_disclosure``.
    """
    claims, found = unblind_fast(payload, disclosures, protected)
    return Unblinded(claims, tuple(found))


def unblind_fast(
    payload: Mapping[str, Any],
    disclosures: Sequence[Disclosure],
    protected: frozenset[str],
    *,
    in_place: bool = False,
) -> tuple[dict[str, Any], list[Found]]:
    """:func:`unblind` returning ``(claims, found)`` as they are built: for the verifier's hot path.

    ``in_place=True`` builds the claims out of ``payload`` and the disclosures' values themselves
    (changing them) instead of copies: only for objects the caller has just decoded and holds alone.
    """
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise SdJwtError("unsupported_sd_alg", "the credential's digests use an algorithm other than sha-256")
    by_digest = index_disclosures(disclosures)
    walker = _Walker(by_digest, protected, in_place)
    claims = walker.object(payload if type(payload) is dict else dict(payload), (), None)
    digests, found = walker.digests, walker.found
    if len(set(digests)) != len(digests):
        raise SdJwtError("duplicate_digest", "a digest appears more than once in the credential")
    if len(found) != len(by_digest):
        raise SdJwtError(
            "unreferenced_disclosure", "a disclosure is not referenced by the credential or by its parent"
        )
    return claims, found


# ---------------------------------------------------------------- serialisation


class Parts(NamedTuple):
    """The pieces of a compact SD-JWT (``<jwt>~<d1>~...~<dn>~[<kb-jwt>]``), not yet verified."""

    jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str
    """The key-binding JWT, or "" when there is none."""
    presented: str
    """Everything up to and including the last ``~``: the input of ``sd_hash``."""


def _is_compact_jws(token: str) -> bool:
    first, last = token.find("."), token.rfind(".")
    return first != last and token.find(".", first + 1, last) < 0


def split(text: str) -> Parts:
    """Split a compact SD-JWT strictly; :class:`SdJwtError` ``malformed`` when it is not one."""
    if not isinstance(text, str) or not text.isascii():
        raise SdJwtError("malformed", "an SD-JWT is ASCII text")
    # find/rfind (memchr) and a split of the disclosures alone: the issuer-signed JWT is most of the text
    first, end = text.find("~"), text.rfind("~")
    if first < 0:
        raise SdJwtError("malformed", "an SD-JWT has the form <jwt>~<disclosure>~...~ (no '~' found)")
    jwt, kb_jwt = text[:first], text[end + 1 :]
    disclosures = tuple(text[first + 1 : end].split("~")) if end > first else ()
    if not _is_compact_jws(jwt):
        raise SdJwtError("malformed", "the issuer-signed part is not a compact JWS")
    if "" in disclosures:
        raise SdJwtError("malformed", "an SD-JWT has an empty disclosure ('~~')")
    if kb_jwt and not _is_compact_jws(kb_jwt):
        raise SdJwtError("malformed", "the part after the last '~' is not a compact JWS")
    return _new_tuple(Parts, (jwt, disclosures, kb_jwt, text[: end + 1]))


def key_binding_jwt(presented: str, holder_key: jws.PrivateKey, *, aud: str, nonce: str, iat: int) -> str:
    """The KB-JWT over ``presented`` (``<jwt>~<d1>~...~``), signed with the holder's key."""
    claims = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": b64_digest(presented)}
    return jws.sign(claims, holder_key, typ=KB_TYP)


def presentation(jwt: str, disclosures: Iterable[Disclosure]) -> str:
    """``<jwt>~<d1>~...~``: an SD-JWT with exactly these disclosures and no key binding."""
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


# ---------------------------------------------------------------- holder


def _exists(node: Any, pattern: ClaimPath) -> bool:
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if isinstance(node, dict):
        return any(_matches(head, name) and _exists(value, rest) for name, value in node.items())
    if isinstance(node, list):
        return any(_matches(head, index) and _exists(value, rest) for index, value in enumerate(node))
    return False


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """A credential as the holder keeps it: the issuer-signed JWT, its disclosures and the full claims."""

    jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    """Every disclosure, in the order the issuer listed them."""
    claims: dict[str, Any]
    """The full claim set, every disclosure in place."""
    found: tuple[Found, ...]

    @classmethod
    def parse(cls, combined: str) -> "HeldCredential":
        """Parse ``<jwt>~<d1>~...~`` as issued (the signature is checked by the verifier, not here)."""
        parts = split(combined)
        try:
            header = jws.unverified_header(parts.jwt)
            payload = jws.json_object(jws.b64url_decode(parts.jwt.split(".")[1]), "payload")
        except jws.JWSError as exc:
            raise SdJwtError("malformed", str(exc)) from None
        disclosures = tuple(Disclosure.parse(d) for d in parts.disclosures)
        unblinded = unblind(payload, disclosures)
        return cls(parts.jwt, header, payload, disclosures, unblinded.claims, unblinded.found)

    @property
    def paths(self) -> tuple[ConcretePath, ...]:
        """The claim path of every disclosure (array indexes count the full, reconstructed arrays)."""
        return tuple(found.path for found in self.found)

    def select(self, paths: Iterable[PathSpec]) -> tuple[Disclosure, ...]:
        """The disclosures that show the claims at ``paths``: each path's whole subtree, plus the
        disclosures enclosing it (a child is never shown without its parent). Issued order is kept.

        :class:`SdJwtError` ``unknown_claim_path`` when a path reaches no claim.
        """
        patterns = _normalise(paths)
        for pattern in patterns:
            if not _exists(self.claims, pattern):
                raise SdJwtError(
                    "unknown_claim_path", f"the credential has no claim at {format_path(pattern)!r}"
                )
        parent_of = {found.disclosure.digest: found.parent for found in self.found}
        chosen: set[str] = set()
        for found in self.found:
            if any(_prefix_matches(p, found.path) for p in patterns):
                digest: str | None = found.disclosure.digest
                while digest is not None and digest not in chosen:
                    chosen.add(digest)
                    digest = parent_of[digest]
        return tuple(d for d in self.disclosures if d.digest in chosen)

    def present(
        self,
        paths: Iterable[PathSpec],
        *,
        holder_key: jws.PrivateKey,
        aud: str,
        nonce: str,
        iat: int,
    ) -> str:
        """``<jwt>~<chosen disclosures>~<kb-jwt>`` for the verifier ``aud`` and its ``nonce``."""
        presented = presentation(self.jwt, self.select(paths))
        return presented + key_binding_jwt(presented, holder_key, aud=aud, nonce=nonce, iat=iat)
