"""From the reports of a submission's presentations to its verdict (pure).

A submission is one or more presentations (one per credential type) made for one nonce. Each is
verified by :func:`service.passport.presentation.verify_presentation`; this module adds the checks of
the submission as a whole, evaluates the compliance policy on the claims of the genuine presentations
and names the verdict:

- ``invalid``: a check of a presentation, or of the submission, failed (or is still pending);
- ``not_compliant``: every presentation is genuine, but the policy is not met;
- ``valid``: genuine, and the policy is met.

It also says what the transparency log and the audit record keep: the holder the submission names
(``holder_id`` claim, holder key thumbprint) and which claims were disclosed, by name only.
"""

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from service import jws
from service.passport import claims as claim_model
from service.passport import policy as policies
from service.passport import presentation, sdjwt
from service.passport.presentation import Check, VerificationReport
from service.passport.schemas import Rule
from service.verification.schemas import (
    CheckRead,
    DisclosedNames,
    PresentationResult,
    Verdict,
)

ONE_PER_TYPE: Final = "one_per_type"
SAME_HOLDER: Final = "same_holder"


class Conclusion(NamedTuple):
    verdict: Verdict
    summary: str
    presentations: list[PresentationResult]
    checks: list[CheckRead]
    claims: dict[str, dict[str, Any]]
    outcome: policies.PolicyOutcome | None
    holder_id: str | None
    holder_jkt: str | None
    disclosed: list[DisclosedNames]
    disclosed_text: str = ""
    """The claim names of :attr:`disclosed` as the audit subject writes them (:func:`audit_subject`)."""


_ALL_PASSED: Final = presentation._ALL_PASSED


def nonce_recorded(report: VerificationReport, first_use: bool) -> VerificationReport:
    """``report`` once storage has recorded its nonce (:meth:`VerificationReport.with_nonce_use`: the
    shared all-passed checks on the success path) when its nonce check is pending; otherwise ``report``
    itself."""
    return report.with_nonce_use(first_use) if report.nonce_pending else report


@functools.lru_cache(maxsize=4096)
def check_read(check: Check) -> CheckRead:
    """The wire form of a check (remembered: most checks are the same few passed ones; a wire struct
    is never changed once made, so one can serve many results)."""
    return CheckRead(name=check.name, outcome=check.outcome, code=check.code, reason=check.reason)


@functools.lru_cache(maxsize=64)
def _kind_of(base_url: str, vct: str) -> str | None:
    return claim_model.kind_of_vct(base_url, vct)


def _kind(report: VerificationReport, base_url: str) -> str | None:
    return _kind_of(base_url, report.vct) if report.vct else None


_THUMBPRINTS: dict[tuple[Any, ...], str | None] = {}


def holder_key_thumbprint(report: VerificationReport) -> str | None:
    """The RFC 7638 thumbprint of the credential's ``cnf.jwk``, once the issuer signature passed
    (remembered per distinct key, at most 10,000)."""
    cnf = report.claims.get("cnf") if report.claims else None
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        return None
    members = tuple(sorted((k, v) for k, v in jwk.items() if isinstance(v, str)))
    if members in _THUMBPRINTS:
        return _THUMBPRINTS[members]
    try:
        found: str | None = jws.jwk_thumbprint(jwk)
    except (jws.JWSError, KeyError, TypeError, ValueError):
        found = None
    if len(_THUMBPRINTS) >= 10_000:
        _THUMBPRINTS.clear()
    _THUMBPRINTS[members] = found
    return found


def claim_names(paths: Sequence[sdjwt.ConcretePath]) -> list[str]:
    """Disclosed paths as names: array positions become ``*`` (no value, not even a position)."""
    return list(_claim_names(tuple(paths)))


@functools.lru_cache(maxsize=4096)
def _claim_names(paths: tuple[sdjwt.ConcretePath, ...]) -> tuple[str, ...]:
    """:func:`claim_names` of a tuple of paths, remembered (the same credential type disclosed the same
    way gives the same names: names of claims, never values)."""
    names: dict[str, None] = {}
    for path in paths:
        names[sdjwt.format_path([sdjwt.ANY if isinstance(p, int) else p for p in path])] = None
    return tuple(names)


@functools.lru_cache(maxsize=4096)
def _paths_text(paths: tuple[sdjwt.ConcretePath, ...]) -> tuple[str, ...]:
    """``sdjwt.format_path`` of each path, remembered per tuple of paths (claim names and array
    positions, never values: the same credential type disclosed the same way gives the same texts)."""
    return tuple(sdjwt.format_path(path) for path in paths)


@functools.lru_cache(maxsize=1024)
def _checks_read(checks: tuple[Check, ...]) -> tuple[tuple[CheckRead, ...], tuple[str, ...]]:
    """The wire form of a report's checks, and the reasons of those failed or pending, remembered per
    tuple of checks (most reports have the same few: every check passed; checks hold names, codes and
    reasons, never claim values)."""
    read = tuple(check_read(c) for c in checks)
    return read, tuple(c.reason for c in read if c.outcome in ("failed", "pending"))


_ALL_PASSED_READ: Final = _checks_read(_ALL_PASSED)
"""The wire form of the shared all-passed checks (the success path: no look-up)."""

_ONE_PER_TYPE_PASSED: Final = CheckRead(
    name=ONE_PER_TYPE, outcome="passed", code="ok", reason="one credential of each type"
)
_ONE_HOLDER_KEY: Final = CheckRead(
    name=SAME_HOLDER, outcome="passed", code="ok", reason="every credential is bound to one holder key"
)
_ONE_HOLDER_ID: Final = CheckRead(
    name=SAME_HOLDER, outcome="passed", code="ok", reason="every credential names the same holder"
)


def _submission_checks(
    signed: Sequence[tuple[VerificationReport, str | None]], thumbprints: Sequence[str | None]
) -> list[CheckRead]:
    """The checks of the submission as a whole, over its issuer-signed presentations (``signed``, with
    their kinds) and the thumbprints of their holder keys, in the same order."""
    seen = [k for _, k in signed if k is not None]
    if len(set(seen)) != len(seen):
        once = CheckRead(
            name=ONE_PER_TYPE,
            outcome="failed",
            code="duplicate_credential_type",
            reason="two presentations are of the same credential type",
        )
    else:
        once = _ONE_PER_TYPE_PASSED
    keys = set(thumbprints)
    ids = [r.claims.get("holder_id") for r, _ in signed if r.claims is not None]
    shown = {i for i in ids if i is not None}
    if len(signed) <= 1 or (len(keys) == 1 and None not in keys and len(shown) <= 1):
        same = _ONE_HOLDER_KEY
    elif len(shown) == 1 and None not in ids:
        same = _ONE_HOLDER_ID
    else:
        same = CheckRead(
            name=SAME_HOLDER,
            outcome="failed",
            code="different_holders",
            reason="the credentials are not shown to belong to one holder (different holder keys or "
            "holder identifiers)",
        )
    return [once, same]


def _summary(verdict: Verdict, failures: Sequence[str], outcome: policies.PolicyOutcome | None) -> str:
    if verdict == "invalid":
        return "Invalid: " + "; ".join(failures[:5])
    shown = outcome.summary if outcome is not None else ""
    return ("Valid: " if verdict == "valid" else "Not compliant: ") + shown


def conclude(
    reports: Sequence[VerificationReport],
    *,
    base_url: str,
    rules: Sequence[Rule],
    organisation_code: str,
    on: dt.date,
    today: dt.date,
    requirements: Sequence[policies.RuleRequirement] | None = None,
) -> Conclusion:
    """The verdict of a submission whose presentations gave ``reports`` (nonce use already recorded).

    ``requirements``: the rules' :func:`~service.passport.policy.requirements`, when the caller keeps
    them (they depend on the policy alone)."""
    results = []
    failures: list[str] = []
    signed: list[tuple[VerificationReport, str | None]] = []
    genuine: dict[str, dict[str, Any]] = {}
    for index, report in enumerate(reports):
        vct = report.vct
        kind = _kind_of(base_url, vct) if vct else None
        checks, failing = _ALL_PASSED_READ if report.checks is _ALL_PASSED else _checks_read(report.checks)
        if failing:
            failures += [f"presentation {index}: {reason}" for reason in failing]
        valid = report.valid
        disclosed = report.disclosed
        results.append(
            PresentationResult(
                index=index,
                valid=valid,
                credential_type=kind,
                vct=vct,
                checks=list(checks),
                disclosed=list(_paths_text(disclosed if type(disclosed) is tuple else tuple(disclosed))),
            )
        )
        claims = report.claims
        if claims is not None:
            signed.append((report, kind))
            if valid and kind is not None:
                genuine[kind] = claims
    thumbprints = [holder_key_thumbprint(r) for r, _ in signed]
    submission = _submission_checks(signed, thumbprints)
    failures += [c.reason for c in submission if c.outcome == "failed"]
    outcome = (
        policies.evaluate(
            rules, genuine, on, organisation_code=organisation_code, today=today, requirements=requirements
        )
        if genuine and not failures
        else None
    )
    verdict: Verdict = (
        "invalid" if failures or outcome is None else ("valid" if outcome.passed else "not_compliant")
    )
    holder_ids = [r.claims.get("holder_id") for r, _ in signed if r.claims is not None]
    holder_id = next((h for h in holder_ids if isinstance(h, str)), None)
    holder_jkt = next((t for t in thumbprints if t is not None), None)
    named = [(kind or "unknown", _claim_names(tuple(report.disclosed))) for report, kind in signed]
    return Conclusion(
        verdict=verdict,
        summary=_summary(verdict, failures, outcome),
        presentations=results,
        checks=submission,
        claims=genuine if outcome is not None else {},
        outcome=outcome,
        holder_id=holder_id[:80] if holder_id else None,
        holder_jkt=holder_jkt,
        disclosed=[DisclosedNames(credential_type=kind, claims=list(names)) for kind, names in named],
        disclosed_text=" ".join(_names_text(kind, names) for kind, names in named),
    )


@functools.lru_cache(maxsize=4096)
def _names_text(credential_type: str, names: tuple[str, ...]) -> str:
    """One credential's claim names as the audit subject writes them (``core_skills{subject,level}``),
    remembered per credential type and names (names of claims, never values)."""
    return f"{credential_type}{{{','.join(_leaf(c) for c in names)}}}"


def audit_subject(
    verification_id: str,
    request_id: str | None,
    verdict: str,
    disclosed: Sequence[DisclosedNames],
    disclosed_text: str | None = None,
) -> str:
    """The audit record's subject: which verification, request, verdict and claim names (never values).

    ``disclosed_text``: the names of ``disclosed`` as written here, when already made
    (:attr:`Conclusion.disclosed_text`)."""
    names = (
        disclosed_text
        if disclosed_text is not None
        else " ".join(_names_text(d.credential_type, tuple(d.claims)) for d in disclosed)
    )
    text = f"verification:{verification_id} request:{request_id or '-'} verdict:{verdict} disclosed:{names}"
    return text[:400]


def _leaf(name: str) -> str:
    parts = [p for p in name.split("/") if p != "*"]
    return parts[-1] if parts else name


def accepted_vct(base_url: str) -> frozenset[str]:
    return frozenset(claim_model.vct(base_url, kind) for kind in claim_model.SPECS)


def kinds_needed(needs: Sequence[policies.ClaimNeed]) -> list[str]:
    seen: dict[str, None] = {}
    for need in needs:
        seen[need.credential_type] = None
    return list(seen)


def all_needs(requirements: Sequence[policies.RuleRequirement]) -> list[policies.ClaimNeed]:
    return [need for requirement in requirements for need in requirement.needs]
