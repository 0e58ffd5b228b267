"""Verification of SD-JWT VC presentations (RFC 9901 section 7, the SD-JWT VC draft).

:func:`verify_presentation` takes the presentation a holder sent (``<jwt>~<d1>~...~<kb-jwt>``), the
expected verifier (``aud``) and ``nonce``, the time, and two lookups the caller injects: the
issuer's keys (ours, retired ones included, chosen by ``kid``) and credential status (e.g. from a
cached status list). It returns a :class:`VerificationReport`: every check with its name, outcome, a
machine-readable code and a reason a person can read, the disclosed claims and the paths of the
claims the holder chose to disclose. Nothing the holder or an attacker sends makes it raise; only a
programming error does.

"Nonce used once" needs storage: pass ``nonce_unused`` (called only for a key-binding JWT whose
signature, audience and nonce are right; it records the nonce and answers whether it was unused),
or leave it out and record the answer later with :meth:`VerificationReport.with_nonce_use`. Until
then the ``kb_nonce_unused`` check is *pending* and the report is not valid.

The checks and their codes are listed in ``docs/credentials.md``. Pure module: no web or database
imports; no PyJWT on this path (two signature checks, one pass over the JSON).
"""

import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, NamedTuple

import msgspec

from service import jws
from service.passport import sdjwt
from service.passport.status_list import CredentialStatus, StatusListError, StatusReference

Outcome = Literal["passed", "failed", "skipped", "pending"]
StatusLookup = Callable[[StatusReference], CredentialStatus]
NonceHook = Callable[[str], bool]

# Check names, in the order they are reported.
SIZE: Final = "size"
FORMAT: Final = "format"
TYP: Final = "typ"
SIGNATURE: Final = "signature"
VALIDITY: Final = "validity"
DISCLOSURES: Final = "disclosures"
VCT: Final = "vct"
STATUS: Final = "status"
KEY_BINDING: Final = "key_binding"
KB_TYP: Final = "kb_typ"
KB_SIGNATURE: Final = "kb_signature"
KB_AUDIENCE: Final = "kb_audience"
KB_NONCE: Final = "kb_nonce"
KB_NONCE_UNUSED: Final = "kb_nonce_unused"
KB_IAT: Final = "kb_iat"
KB_SD_HASH: Final = "kb_sd_hash"
CHECKS: Final = (
    SIZE, FORMAT, TYP, SIGNATURE, VALIDITY, DISCLOSURES, VCT, STATUS,
    KEY_BINDING, KB_TYP, KB_SIGNATURE, KB_AUDIENCE, KB_NONCE, KB_NONCE_UNUSED, KB_IAT, KB_SD_HASH,
)  # fmt: skip
KB_CHECKS: Final = CHECKS[CHECKS.index(KB_TYP) :]
OVERSIZE: Final = "oversize"
"""The code of an oversize presentation (the HTTP layer answers it with 413)."""

_decoder: Final = msgspec.json.Decoder()


class Check(NamedTuple):
    name: str
    outcome: Outcome
    code: str
    """``ok`` when passed; otherwise what went wrong (``expired``, ``kb_wrong_nonce``, ...)."""
    reason: str

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """How strict the verifier is. The defaults are the registry's."""

    typ: str = sdjwt.CREDENTIAL_TYP
    algorithms: frozenset[str] = jws.ALLOWED_ALGORITHMS
    leeway: int = 60
    """Seconds of clock difference tolerated on ``iat``, ``nbf``, ``exp`` and the KB-JWT's ``iat``."""
    require_exp: bool = True
    max_bytes: int = 131_072
    """Largest presentation accepted; larger ones fail with :data:`OVERSIZE` before any parsing."""
    require_key_binding: bool = True
    kb_max_age: int = 300
    """Oldest key-binding JWT accepted, in seconds (its ``iat`` freshness window)."""
    require_status: bool = True
    accepted_vct: frozenset[str] | None = None
    """Credential types accepted (None: any string ``vct``)."""
    protected: frozenset[str] = sdjwt.NEVER_DISCLOSABLE


DEFAULT_POLICY: Final = VerificationPolicy()


class VerificationReport(NamedTuple):
    checks: tuple[Check, ...]
    claims: dict[str, Any] | None = None
    """The disclosed claim set (``_sd`` and ``_sd_alg`` removed), once signature and disclosures pass."""
    disclosed: tuple[sdjwt.ConcretePath, ...] = ()
    """Paths of the claims the holder disclosed selectively (array indexes count presented elements)."""
    header: dict[str, Any] | None = None
    issuer: str | None = None
    vct: str | None = None
    status_reference: StatusReference | None = None
    nonce: str | None = None
    """The KB-JWT's nonce once its signature, audience and nonce passed: the value to record as used."""

    @property
    def valid(self) -> bool:
        """True only when no check failed and none is pending."""
        checks = self.checks
        # every check passed: the one shared tuple of the verifier's success path (checked first: fast)
        return checks is _ALL_PASSED or all(c.outcome in ("passed", "skipped") for c in checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.outcome == "failed")

    @property
    def code(self) -> str | None:
        """The first failure's code (None when valid)."""
        for check in self.checks:
            if check.outcome in ("failed", "pending"):
                return check.code
        return None

    def check(self, name: str) -> Check:
        for found in self.checks:
            if found.name == name:
                return found
        raise KeyError(name)

    @property
    def nonce_pending(self) -> bool:
        """Whether the ``kb_nonce_unused`` check waits for storage (:meth:`with_nonce_use`)."""
        found = _nonce_check(self.checks)
        return found is not None and found.outcome == "pending"

    def with_nonce_use(self, first_use: bool) -> "VerificationReport":
        """The report once storage has recorded the nonce: ``first_use`` False means a replay.

        A report whose other checks all passed (the success path) and whose nonce was unused gets the
        shared all-passed tuple itself, so its :attr:`valid` is answered without looking at each check."""
        checks = self.checks
        pending = _nonce_check(checks)
        if pending is None:
            raise KeyError(KB_NONCE_UNUSED)
        if pending.outcome != "pending":
            raise ValueError("the nonce check is not pending")
        if first_use and _passed_but_the_nonce(checks):
            return _new_tuple(VerificationReport, (_ALL_PASSED, *self[1:]))
        done = (
            Check(KB_NONCE_UNUSED, "passed", "ok", "the nonce had not been used before")
            if first_use
            else Check(KB_NONCE_UNUSED, "failed", "kb_nonce_replayed", "the nonce was already used: a replay")
        )
        return self._replace(checks=tuple(done if c.name == KB_NONCE_UNUSED else c for c in self.checks))


_PASSED: Final = {
    check.name: check
    for check in (
        Check(SIZE, "passed", "ok", "within the size limit"),
        Check(FORMAT, "passed", "ok", "a well-formed SD-JWT"),
        Check(TYP, "passed", "ok", "an SD-JWT VC (typ dc+sd-jwt)"),
        Check(SIGNATURE, "passed", "ok", "signed with an allowed algorithm by a key of the registry"),
        Check(VALIDITY, "passed", "ok", "within its validity period"),
        Check(DISCLOSURES, "passed", "ok", "every disclosure is part of the credential, each exactly once"),
        Check(VCT, "passed", "ok", "a credential type accepted here"),
        Check(STATUS, "passed", "ok", "the issuer's status list says valid"),
        Check(
            KEY_BINDING,
            "passed",
            "ok",
            "a key-binding JWT is present and the credential names the holder's key",
        ),
        Check(KB_TYP, "passed", "ok", "the key-binding JWT is of type kb+jwt"),
        Check(KB_SIGNATURE, "passed", "ok", "the key-binding JWT is signed with the holder's key"),
        Check(KB_AUDIENCE, "passed", "ok", "the presentation was made for this verifier"),
        Check(KB_NONCE, "passed", "ok", "the presentation answers this request's nonce"),
        Check(KB_NONCE_UNUSED, "passed", "ok", "the nonce had not been used before"),
        Check(KB_IAT, "passed", "ok", "the presentation was made just now"),
        Check(KB_SD_HASH, "passed", "ok", "the key-binding JWT covers exactly the presented disclosures"),
    )
}


_ALL_PASSED: Final = tuple(_PASSED[name] for name in CHECKS)
_NONCE_AT: Final = CHECKS.index(KB_NONCE_UNUSED)
_INDEX: Final = {name: index for index, name in enumerate(CHECKS)}


def _passed_but_the_nonce(checks: tuple[Check, ...]) -> bool:
    """Whether every check but ``kb_nonce_unused`` is the passed one (the success path: the same
    objects, compared by identity first)."""
    if len(checks) != len(_ALL_PASSED):
        return False
    for index in range(len(checks)):
        check, passed = checks[index], _ALL_PASSED[index]
        if index != _NONCE_AT and check is not passed and check != passed:
            return False
    return True


def _nonce_check(checks: tuple[Check, ...]) -> Check | None:
    """The ``kb_nonce_unused`` check of ``checks`` (at its place in :data:`CHECKS` in every report the
    verifier makes: looked at there first)."""
    if len(checks) == len(CHECKS) and checks[_NONCE_AT].name == KB_NONCE_UNUSED:
        return checks[_NONCE_AT]
    for check in checks:
        if check.name == KB_NONCE_UNUSED:
            return check
    return None


_new_tuple: Final = tuple.__new__


class _Report:
    """Collects the checks that did not pass; every check before ``reached`` that has none passed,
    the ones after it were not reached and are reported as skipped with the reason why.

    A passing check costs nothing here (it is the default): a verification that passes them all
    returns :data:`_ALL_PASSED`, one shared tuple of static checks.
    """

    __slots__ = (
        "claims",
        "disclosed",
        "header",
        "issuer",
        "nonce",
        "notes",
        "reached",
        "status_reference",
        "vct",
    )

    def __init__(self) -> None:
        self.notes: dict[str, Check] = {}
        self.reached = len(CHECKS)
        self.claims: dict[str, Any] | None = None
        self.disclosed: tuple[sdjwt.ConcretePath, ...] = ()
        self.header: dict[str, Any] | None = None
        self.issuer: str | None = None
        self.vct: str | None = None
        self.status_reference: StatusReference | None = None
        self.nonce: str | None = None

    def stop_after(self, name: str) -> None:
        """Checks after ``name`` are not reached (unless a note says otherwise)."""
        self.reached = _INDEX[name] + 1

    def fail(self, name: str, code: str, reason: str) -> None:
        self.notes[name] = Check(name, "failed", code, reason)

    def skip(self, name: str, reason: str, code: str = "not_checked") -> None:
        self.notes[name] = Check(name, "skipped", code, reason)

    def pending(self, name: str, code: str, reason: str) -> None:
        self.notes[name] = Check(name, "pending", code, reason)

    def finish(self, missing_reason: str) -> VerificationReport:
        notes, reached = self.notes, self.reached
        if not notes and reached == len(CHECKS):
            checks = _ALL_PASSED
        else:
            checks = tuple(
                notes.get(name)
                or (
                    _PASSED[name]
                    if index < reached
                    else Check(name, "skipped", "not_checked", missing_reason)
                )
                for index, name in enumerate(CHECKS)
            )
        fields = (checks, self.claims, self.disclosed, self.header, self.issuer, self.vct)
        return _new_tuple(VerificationReport, (*fields, self.status_reference, self.nonce))


_SIG_REASONS: Final = {
    "unsupported_alg": "the credential's algorithm is not allowed (only ES256 and EdDSA are)",
    "unknown_key": "the credential is signed with a key this registry does not know",
    "bad_signature": "the issuer signature does not verify: the credential was altered or forged",
    "crit": "the credential requires extensions this registry does not understand",
    "malformed": "the credential is not a well-formed JWS",
}
_TIME_REASONS: Final = {
    "expired": "the credential has expired",
    "not_yet_valid": "the credential is not valid yet (its 'nbf' or 'iat' is in the future)",
}


def _times(report: _Report, claims: dict[str, Any], now: int, policy: VerificationPolicy) -> None:
    # the usual case first, in line: integer exp and iat, no nbf (the same verdict as check_times)
    exp, iat = claims.get("exp"), claims.get("iat")
    leeway = policy.leeway
    if (
        type(exp) is int
        and type(iat) is int
        and "nbf" not in claims
        and now - leeway < exp
        and iat <= now + leeway
    ):
        return
    try:
        jws.check_times(claims, now=now, leeway=leeway, require_exp=policy.require_exp)
    except jws.JWSError as exc:
        code = exc.code if exc.code in _TIME_REASONS else "malformed_time"
        report.fail(
            VALIDITY, code, _TIME_REASONS.get(exc.code, f"the credential's validity is unreadable: {exc}")
        )


def _vct(report: _Report, claims: dict[str, Any], policy: VerificationPolicy) -> None:
    vct = claims.get("vct")
    if not isinstance(vct, str):
        report.fail(VCT, "missing_vct", "the credential has no 'vct' (credential type)")
    elif policy.accepted_vct is not None and vct not in policy.accepted_vct:
        report.fail(VCT, "unexpected_vct", f"credentials of type {vct!r} are not accepted here")
    else:
        report.vct = vct


_STATUS_OUTCOMES: Final = {
    CredentialStatus.INVALID: ("revoked", "the issuer has revoked the credential"),
    CredentialStatus.SUSPENDED: ("suspended", "the issuer has suspended the credential"),
    CredentialStatus.UNAVAILABLE: ("status_unavailable", "the credential's status could not be established"),
}


def _status(
    report: _Report, claims: dict[str, Any], lookup: StatusLookup | None, policy: VerificationPolicy
) -> None:
    if "status" not in claims:
        if policy.require_status:
            report.fail(STATUS, "status_missing", "the credential has no 'status' claim")
        else:
            report.skip(STATUS, "the credential has no status and none is required", "not_required")
        return
    try:
        reference = StatusReference.from_claim(claims["status"])
    except StatusListError as exc:
        report.fail(STATUS, exc.code, str(exc))
        return
    report.status_reference = reference
    if lookup is None:
        report.skip(STATUS, "no status lookup was configured", "not_required")
        return
    found = lookup(reference)
    if found != CredentialStatus.VALID:
        code, reason = _STATUS_OUTCOMES.get(found, _STATUS_OUTCOMES[CredentialStatus.UNAVAILABLE])
        report.fail(STATUS, code, reason)


_HOLDER_KEYS: dict[tuple[Any, ...], jws.VerificationKey] = {}
_HOLDER_KEYS_MAX: Final = 10_000
_STRINGS: Final = frozenset({str, type(None)})


def _holder_key(cnf: object) -> jws.VerificationKey | None:
    """The key in ``cnf.jwk``, parsed once per distinct JWK (a bounded cache: a key object is the same
    for the same JWK members, and building it checks the point is on the curve, which costs)."""
    jwk = cnf.get("jwk") if type(cnf) is dict else None
    if type(jwk) is not dict:
        return None
    members = (jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y"), jwk.get("alg"), "d" in jwk)
    if not _STRINGS.issuperset(map(type, members[:5])):
        return None
    key = _HOLDER_KEYS.get(members)
    if key is None:
        try:
            key = jws.key_from_jwk(jwk)
        except jws.JWSError:
            return None
        if len(_HOLDER_KEYS) >= _HOLDER_KEYS_MAX:
            _HOLDER_KEYS.clear()
        _HOLDER_KEYS[members] = key
    return key


def _kb_claims(
    report: _Report, parts: sdjwt.Parts, claims: dict[str, Any], policy: VerificationPolicy
) -> dict[str, Any] | None:
    """The KB-JWT's claims when the holder key, ``typ`` and signature pass (each reported), else None."""
    holder = _holder_key(claims.get("cnf"))
    if holder is None:
        report.fail(KEY_BINDING, "kb_no_holder_key", "the credential has no usable holder key ('cnf.jwk')")
        report.stop_after(KEY_BINDING)
        return None
    try:
        payload = jws.verify_parts(parts.kb_jwt, holder, sdjwt.KB_TYP, policy.algorithms)[1]
    except jws.JWSError as exc:
        if exc.code == "malformed":
            report.fail(KEY_BINDING, "kb_malformed", "the key-binding JWT is not a well-formed JWS")
            report.stop_after(KEY_BINDING)
        elif exc.code == "wrong_typ":
            report.fail(KB_TYP, "kb_wrong_typ", "the key-binding JWT is not of type kb+jwt")
            report.stop_after(KB_TYP)
        else:
            code = "kb_unsupported_alg" if exc.code == "unsupported_alg" else "kb_bad_signature"
            report.fail(KB_SIGNATURE, code, "the key-binding JWT is not signed with the holder's key")
            report.stop_after(KB_SIGNATURE)
        return None
    kb = _decode_json_bytes(payload)
    if kb is None:
        report.fail(KB_SIGNATURE, "kb_malformed", "the key-binding JWT's payload is not a JSON object")
        report.stop_after(KB_SIGNATURE)
    return kb


def _decode_json_bytes(data: bytes) -> dict[str, Any] | None:
    try:
        value = _decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    return value if type(value) is dict else None


def _key_binding(
    report: _Report,
    parts: sdjwt.Parts,
    claims: dict[str, Any],
    audience: str | None,
    nonce: str | None,
    now: int,
    policy: VerificationPolicy,
    nonce_unused: NonceHook | None,
) -> None:
    if not parts.kb_jwt:
        if policy.require_key_binding:
            report.fail(KEY_BINDING, "kb_missing", "the presentation has no key-binding JWT")
            report.stop_after(KEY_BINDING)
        else:
            report.skip(KEY_BINDING, "key binding is not required", "not_required")
            for name in KB_CHECKS:
                report.skip(name, "key binding is not required", "not_required")
        return
    kb = _kb_claims(report, parts, claims, policy)
    if kb is None:
        return
    matches = True
    if kb.get("aud") != audience:
        report.fail(KB_AUDIENCE, "kb_wrong_audience", "the presentation was made for another verifier")
        matches = False
    if kb.get("nonce") != nonce:
        report.fail(KB_NONCE, "kb_wrong_nonce", "the presentation answers another request (wrong nonce)")
        matches = False
    iat = kb.get("iat")
    if type(iat) is not int or not now - policy.kb_max_age - policy.leeway <= iat <= now + policy.leeway:
        _kb_iat(report, iat, now, policy)  # the usual case (an int in the window) passes in line
    if kb.get("sd_hash") != sdjwt.b64_digest(parts.presented):
        report.fail(KB_SD_HASH, "kb_wrong_sd_hash", "the key-binding JWT covers other disclosures (sd_hash)")
    if matches and type(nonce) is str:
        _nonce_use(report, nonce, nonce_unused)
    else:
        report.skip(KB_NONCE_UNUSED, "not checked: an earlier key-binding check failed")


def _kb_iat(report: _Report, iat: object, now: int, policy: VerificationPolicy) -> None:
    if (type(iat) is not int and type(iat) is not float) or iat != iat:  # NaN
        report.fail(KB_IAT, "kb_malformed_time", "the key-binding JWT has no numeric 'iat'")
    elif iat < now - policy.kb_max_age - policy.leeway:
        report.fail(KB_IAT, "kb_stale", f"the presentation is older than {policy.kb_max_age} seconds")
    elif iat > now + policy.leeway:
        report.fail(KB_IAT, "kb_future", "the presentation claims to be made in the future")


def _nonce_use(report: _Report, nonce: str, nonce_unused: NonceHook | None) -> None:
    report.nonce = nonce
    if nonce_unused is None:
        report.pending(KB_NONCE_UNUSED, "kb_nonce_unchecked", "waiting for storage to record the nonce")
    elif not nonce_unused(nonce):
        report.fail(KB_NONCE_UNUSED, "kb_nonce_replayed", "the nonce was already used: a replay")


def verify_presentation(
    presentation: str | bytes,
    *,
    issuer_keys: jws.KeySource,
    status: StatusLookup | None,
    audience: str | None,
    nonce: str | None,
    now: int,
    policy: VerificationPolicy = DEFAULT_POLICY,
    nonce_unused: NonceHook | None = None,
) -> VerificationReport:
    """Verify a presentation and report every check (see the module docstring).

    ``issuer_keys`` is a key or a function choosing one from the (unverified) JWS header, e.g. by
    ``kid``; ``status`` maps the credential's status reference to its status; ``now`` is the time in
    seconds since the epoch. With key binding required, ``audience`` and ``nonce`` are required too.
    """
    if policy.require_key_binding and (audience is None or nonce is None):
        raise ValueError("key binding is required: give the expected audience and nonce")
    report = _Report()
    if len(presentation) > policy.max_bytes:
        report.fail(SIZE, OVERSIZE, f"the presentation is larger than {policy.max_bytes} bytes")
        report.stop_after(SIZE)
        return report.finish("not checked: the presentation is too large")
    if isinstance(presentation, str):
        text = presentation
    else:
        try:
            text = bytes(presentation).decode("ascii")
        except UnicodeDecodeError:
            text = ""
    signed = _issuer_signed(report, text, issuer_keys, policy)
    if isinstance(signed, str):
        return report.finish(signed)
    parts, disclosures, claims = signed
    issuer = claims.get("iss")
    report.issuer = issuer if isinstance(issuer, str) else None
    _times(report, claims, now, policy)
    try:
        unblinded, found = sdjwt.unblind_fast(claims, disclosures, policy.protected, in_place=True)
    except sdjwt.SdJwtError as exc:
        report.fail(DISCLOSURES, exc.code, str(exc))
        report.stop_after(DISCLOSURES)
        return report.finish("not checked: the disclosures do not match the credential")
    report.claims = unblinded
    report.disclosed = tuple(map(_PATH, found))
    _vct(report, unblinded, policy)
    _status(report, unblinded, status, policy)
    _key_binding(report, parts, unblinded, audience, nonce, now, policy, nonce_unused)
    return report.finish("not checked: an earlier key-binding check failed")


_PATH: Final = operator.itemgetter(1)
"""The path of a :class:`sdjwt.Found`."""


def _issuer_signed(
    report: _Report, text: str, issuer_keys: jws.KeySource, policy: VerificationPolicy
) -> tuple[sdjwt.Parts, list[sdjwt.Disclosure], dict[str, Any]] | str:
    """The parts, the parsed disclosures and the signed payload once format, ``typ`` and the issuer
    signature pass; otherwise the failure is reported and the reason the later checks were not
    reached is returned."""
    try:
        parts = sdjwt.split(text)
        disclosures = sdjwt.parse_disclosures(parts.disclosures)
        header, signed, _ = jws.verify_parts(parts.jwt, issuer_keys, policy.typ, policy.algorithms)
    except sdjwt.SdJwtError as exc:
        report.fail(FORMAT, "malformed", str(exc))
        report.stop_after(FORMAT)
        return "not checked: the presentation is malformed"
    except jws.JWSError as error:  # not `exc`: mypyc types a name once a function
        if error.code == "malformed":
            report.fail(FORMAT, "malformed", f"the issuer-signed JWT is malformed: {error}")
            report.stop_after(FORMAT)
            return "not checked: the presentation is malformed"
        if error.code == "wrong_typ":
            report.fail(TYP, "wrong_typ", f"the credential is not of type {policy.typ}")
            report.stop_after(TYP)
            return "not checked: the credential has the wrong type"
        report.fail(SIGNATURE, error.code, _SIG_REASONS.get(error.code, str(error)))
        report.stop_after(SIGNATURE)
        return "not checked: the issuer signature did not verify"
    report.header = header
    payload = _decode_json_bytes(signed)
    if payload is None:
        report.fail(SIGNATURE, "malformed", "the credential's payload is not a JSON object")
        report.stop_after(SIGNATURE)
        return "not checked: the credential's payload is unreadable"
    return parts, disclosures, payload


def verify_credential(
    credential: str,
    *,
    issuer_keys: jws.KeySource,
    now: int,
    status: StatusLookup | None = None,
    policy: VerificationPolicy | None = None,
) -> VerificationReport:
    """Verify an SD-JWT VC as issued (no key binding): the wallet's offline check against a saved JWKS."""
    chosen = policy or replace(DEFAULT_POLICY, require_key_binding=False, require_status=status is not None)
    return verify_presentation(
        credential, issuer_keys=issuer_keys, status=status, audience=None, nonce=None, now=now, policy=chosen
    )


KeyLookup = Callable[[Mapping[str, Any]], jws.VerificationKey | None]


def keys_by_kid(keys: Collection[jws.VerificationKey]) -> KeyLookup:
    """An issuer key lookup by the header's ``kid`` over ``keys`` (each with its ``kid`` set).

    Build it once (the key objects are prepared then), not per verification.
    """
    table = {key.kid: key for key in keys if key.kid}

    def lookup(header: Mapping[str, Any]) -> jws.VerificationKey | None:
        kid = header.get("kid")
        return table.get(kid) if type(kid) is str else None

    return lookup
