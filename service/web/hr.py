"""Provider HR (verifier) pages: check a passport, follow the answer live, the organisation's history.

Thin routes over :mod:`service.verification.service` and :mod:`service.oid4vc.service`, with the same
guards as the API routes they stand for (``/api/v1/presentation-requests...``: verifier only).

- ``/verify``: "Check a passport": the form of a presentation request (policy, purpose, optionally the
  doctor's GMC number and the day to judge on); ``POST /verify/requests`` makes it.
- ``/verify/requests/{id}``: while pending, the OpenID4VP QR code and link for the doctor's wallet app
  and the link (and QR) for the registry's browser wallet; ``hr-live.js`` polls ``.../status`` and swaps
  the answer in. Once answered: verdict, every check and rule with its reason, the disclosed claims, what
  is missing. An expired request offers a new one for the same policy.
- ``/verify/history`` (and ``.csv``): the organisation's requests by date range and verdict; claim names,
  never values (``docs/decisions/0034-hr-verification-pages.md``).
"""

import csv
import datetime as dt
import functools
import io
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, get_args
from urllib.parse import urlencode, urlsplit

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, get, post
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Principal, Role, requires
from service.errors import ServiceError, field_errors_from_msgspec
from service.oid4vc import offers
from service.oid4vc import service as oid4vc
from service.passport.claims import SPECS
from service.passport.cstf import subject_name
from service.passport.policy import day_in_england
from service.passport.schemas import OH_ITEM_NAMES, PolicyRead
from service.verification import service as verification
from service.verification.schemas import (
    PresentationRequestCreate,
    PresentationRequestRead,
    PresentationRequestSummary,
    Verdict,
    VerificationRead,
)
from service.web.pages import SECURITY_HEADERS, TEMPLATES, FormRejected, csrf_guard, now_of, redirect, render
from service.web.views import FormErrors, parse_date, problems_to_form, read_offset

VERIFIERS: Final = (Role.VERIFIER,)
"""As ``/api/v1/presentation-requests`` (create, list, read) and ``.../openid4vp``: verifier only."""
LABELS: Final = {
    "policy": "Compliance policy",
    "purpose": "Purpose",
    "subject_hint": "Doctor's GMC number (optional)",
    "evaluate_on": "Date to judge on (optional)",
}
HISTORY_LABELS: Final = {"created_from": "Made from", "created_to": "Made up to", "verdict": "Verdict"}
VERDICTS: Final = get_args(Verdict)
VERDICT_LABELS: Final = {"valid": "Valid", "not_compliant": "Not compliant", "invalid": "Invalid"}
VERDICT_TAGS: Final = {"valid": "pass", "not_compliant": "warn", "invalid": "fail"}
VERDICT_MEANINGS: Final = {
    "valid": "Every check passed and the policy is met.",
    "not_compliant": "The credentials are genuine, but the policy is not met: see what is missing.",
    "invalid": "A check failed: what was presented cannot be trusted. Ask the doctor to try again.",
}
STATE_LABELS: Final = {"pending": "Waiting for the doctor", "answered": "Answered", "expired": "Expired"}
STATE_TAGS: Final = {"pending": "warn", "answered": "pass", "expired": "none"}
CHECK_LABELS: Final = {"passed": "Passed", "failed": "Failed", "skipped": "Skipped", "pending": "Pending"}
CHECK_TAGS: Final = {"passed": "pass", "failed": "fail", "skipped": "none", "pending": "none"}
KIND_LABELS: Final = {
    "core_skills": "Core skills",
    "occupational_health": "Occupational health",
    "training_placement": "Training programme and placement",
    "identity_link": "Identity link",
}
TECHNICAL_CLAIMS: Final = frozenset(
    {"iss", "iat", "nbf", "exp", "vct", "cnf", "status", "_sd", "_sd_alg", "holder_id", "sub"}
)
"""Claims of the credential's envelope, not of the doctor: shown as "issued by / valid until" at most."""
HISTORY_PAGE: Final = 25
EXPORT_PAGE: Final = 500
WALLET_SHARE_PATH: Final = "/wallet/share"
_GMC = re.compile(r"^\d{7}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""What the API's purpose pattern refuses inside the text (the page strips the ends)."""
_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")

_fragments = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
"""The live part of the request page, rendered alone for the status route (same settings as pages)."""


def _runtime(request: Request[Any, Any, Any]) -> verification.Runtime:
    runtime: verification.Runtime = request.app.state.verification
    return runtime


# ---------------------------------------------------------------- check a passport


def policy_value(policy: PolicyRead) -> str:
    return f"{policy.name}:{policy.version}"


def policy_text(policy: PolicyRead) -> str:
    return f"{policy.title} ({policy.name}, version {policy.version})"


async def _form_context(
    session: AsyncSession, runtime: verification.Runtime, principal: Principal
) -> dict[str, Any]:
    policies = await verification.usable_policies(session, runtime, principal)
    return {
        "policies": [("", "Choose a policy")] + [(policy_value(p), policy_text(p)) for p in policies],
        "labels": LABELS,
        "errors": None,
        "chosen": {"policy": "", "purpose": "", "subject_hint": "", "evaluate_on": ""},
    }


@get("/verify", name="web_verify", guards=[requires(*VERIFIERS)])
async def verify_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    policy: FromQuery[str | None] = None,
) -> Response[str]:
    """The request form; ``?policy=name:version`` chooses a policy (a new request for the same one)."""
    context = await _form_context(db_session, _runtime(request), principal)
    if policy is not None:
        name = policy.rpartition(":")[0] or policy
        values = [value for value, _ in context["policies"] if value]
        exact = [v for v in values if v == policy]
        same_name = [v for v in values if v.rpartition(":")[0] == name]  # a newer version since
        context["chosen"]["policy"] = (exact or same_name or [""])[0]
    return await render(request, "hr/verify.html", **context)


def read_request_form(
    form: Mapping[str, Any], policies: Sequence[tuple[str, str]], now: dt.datetime | None = None
) -> tuple[dict[str, Any], FormErrors, dict[str, str]]:
    """The request body from the form, what is wrong with it, and the values typed (shown again).
    ``now``: a date to judge on before that day (in England) is refused (decision 0040)."""
    chosen = {name: str(form.get(name) or "").strip() for name in LABELS}
    chosen["subject_hint"] = chosen["subject_hint"].replace(" ", "")
    errors = FormErrors()
    body: dict[str, Any] = {}
    if not chosen["policy"] or chosen["policy"] not in {value for value, _ in policies if value}:
        errors.add("policy", "Choose the compliance policy to check the passport against")
    else:
        name, _, version = chosen["policy"].rpartition(":")
        body["policy"], body["policy_version"] = name, int(version)
    if not chosen["purpose"]:
        errors.add("purpose", "Enter why you are checking, in plain words: the doctor sees it")
    elif len(chosen["purpose"]) > 500:
        errors.add("purpose", "Keep the purpose to 500 characters or fewer")
    elif _CONTROL.search(chosen["purpose"]):
        errors.add(
            "purpose",
            "Type the purpose as one line of plain text: it has a tab, a line break or another control "
            "character",
        )
    else:
        body["purpose"] = chosen["purpose"]
    if chosen["subject_hint"]:
        if _GMC.match(chosen["subject_hint"]):
            body["subject_hint"] = chosen["subject_hint"]
        else:
            errors.add("subject_hint", "Enter a GMC number of 7 digits, like 7123456, or leave it blank")
    day = parse_date(chosen["evaluate_on"])
    if isinstance(day, str):
        errors.add("evaluate_on", day)
    elif day is not None and now is not None and day < (today := day_in_england(now)):
        errors.add(
            "evaluate_on",
            f"Enter today ({today.isoformat()}) or a later date: a day already past is not judged",
        )
    elif day is not None:
        body["evaluate_on"] = day
    return body, errors, chosen


@post(
    "/verify/requests",
    name="web_verify_create",
    guards=[requires(*VERIFIERS), csrf_guard],
    status_code=303,
)
async def create_request(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[Any]:
    runtime = _runtime(request)
    context = await _form_context(db_session, runtime, principal)
    body, errors, chosen = read_request_form(await request.form(), context["policies"], now_of(request))
    created, status = None, 422
    if not errors:
        try:
            data = msgspec.convert(body, PresentationRequestCreate)
            created = await verification.create_request(db_session, runtime, principal, data, now_of(request))
        except msgspec.ValidationError as exc:
            await db_session.rollback()
            errors = problems_to_form(
                "The request has invalid fields.", field_errors_from_msgspec(str(exc)), LABELS
            )
        except ServiceError as exc:
            await db_session.rollback()  # nothing half-done; the page below reads afresh
            errors, status = problems_to_form(exc.detail, exc.errors, LABELS), exc.status
    if created is None:
        context = await _form_context(db_session, runtime, principal)
        context.update(errors=errors, chosen=chosen)
        raise FormRejected("hr/verify.html", status=status, context=context)
    audit.set_subject(
        request, f"presentation-request:{created.id} policy:{created.policy.name}/v{created.policy.version}"
    )
    return redirect(
        f"/verify/requests/{created.id}",
        notice="Request made. Show the doctor the QR code, or send them the link.",
        request=request,
    )


# ---------------------------------------------------------------- the request and its answer


@dataclass(frozen=True)
class ClaimTable:
    """Disclosed records of one kind (e.g. every core skill) as a table: headers and text cells."""

    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class DisclosedCredential:
    credential_type: str
    title: str
    pairs: list[tuple[str, str]]
    tables: list[ClaimTable]
    valid_until: str | None


FIELD_LABELS: Final = {f.name: f.label for spec in SPECS.values() for f in spec.fields}
"""The words of each record field, as the credential types name them ("GMC number", "Date of birth")."""
FIELD_ORDER: Final = {kind: {f.name: i for i, f in enumerate(spec.fields)} for kind, spec in SPECS.items()}
"""The columns of a disclosed record table in the credential type's order (subject before its dates)."""


def label(name: str) -> str:
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def as_text(value: Any) -> str:
    """A claim value in words: nested values flattened (``Origin: RRK; Method: e learning``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{label(str(k))}: {as_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(as_text(v) for v in value)
    return str(value)


def cell_text(name: str, value: Any) -> str:
    """A record's field in words: a core skills subject or an occupational health item by its name
    ("Fire safety", "Hepatitis B immunity"), as the doctor's pages show them, not by its code."""
    if name == "subject" and isinstance(value, str):
        return subject_name(value)
    if name == "item" and isinstance(value, str):
        return OH_ITEM_NAMES.get(value, value)
    return as_text(value)


def _epoch_text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return None


def disclosed_credentials(claims: Mapping[str, Mapping[str, Any]]) -> list[DisclosedCredential]:
    """The disclosed claims of each credential, as the page shows them: records as tables, single
    values as pairs; the envelope (issuer, key, status) left out."""
    found = []
    for kind, payload in claims.items():
        pairs: list[tuple[str, str]] = []
        tables: list[ClaimTable] = []
        for name, value in payload.items():
            if name in TECHNICAL_CLAIMS:
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                order = FIELD_ORDER.get(kind, {})
                found_keys = dict.fromkeys(k for v in value for k in v)
                headers = sorted(found_keys, key=lambda h: order.get(h, len(order)))
                rows = [[cell_text(h, v.get(h)) for h in headers] for v in value]
                tables.append(ClaimTable(label(name), [label(h) for h in headers], rows))
            elif isinstance(value, dict):
                pairs += [(f"{label(name)}: {label(str(k))}", as_text(v)) for k, v in value.items()]
            else:
                pairs.append((label(name), as_text(value)))
        found.append(
            DisclosedCredential(
                credential_type=kind,
                title=KIND_LABELS.get(kind, label(kind)),
                pairs=pairs,
                tables=tables,
                valid_until=_epoch_text(payload.get("exp")),
            )
        )
    return found


def browser_wallet_link(public_base_url: str, deep_link: str) -> str:
    """The registry's browser wallet for the same request: ``/wallet/share?`` + the OpenID4VP query."""
    return f"{public_base_url.rstrip('/')}{WALLET_SHARE_PATH}?{urlsplit(deep_link).query}"


@functools.lru_cache(maxsize=256)
def browser_wallet_qr(link: str) -> str:
    """The QR code of the browser wallet link: remembered per link (about 16 ms to draw on 2 cores), so a
    page reloaded with "Check again" draws it once."""
    return offers.qr_svg(link, title="Scan to share your passport with the browser wallet")


def announcement(read: PresentationRequestRead) -> str:
    """What the live region says when the state changes."""
    if read.result is not None:
        verdict = VERDICT_LABELS.get(read.result.verdict, read.result.verdict)
        return f"The doctor has answered: {verdict}. {read.result.summary}"
    if read.state == "expired":
        return "The request has expired without an answer."
    return "Waiting for the doctor's answer."


def _result_context(result: VerificationRead | None) -> dict[str, Any]:
    if result is None:
        return {"result": None, "credentials": [], "missing": []}
    missing = [] if result.outcome is None else [r for r in result.outcome.rules if not r.passed]
    return {"result": result, "credentials": disclosed_credentials(result.claims), "missing": missing}


async def _request_context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    with_links: bool = True,
) -> dict[str, Any]:
    runtime, now = _runtime(request), now_of(request)
    read = await verification.get_request(session, runtime, principal, request_id, now)
    links = None
    if read.state == "pending" and with_links:
        links = await oid4vc.wallet_links(session, runtime, principal, request_id, now=now)
    browser_link = browser_qr = None
    if links is not None:
        browser_link = browser_wallet_link(runtime.settings.public_base_url, links.deep_link)
        browser_qr = browser_wallet_qr(browser_link)
    return {
        "req": read,
        "links": links,
        "browser_link": browser_link,
        "browser_qr": browser_qr,
        "status_url": f"/verify/requests/{read.id}/status",
        "new_request_url": "/verify?" + urlencode({"policy": f"{read.policy.name}:{read.policy.version}"}),
        "announcement": announcement(read),
        "kind_labels": KIND_LABELS,
        "verdict_labels": VERDICT_LABELS,
        "verdict_tags": VERDICT_TAGS,
        "verdict_meanings": VERDICT_MEANINGS,
        "state_labels": STATE_LABELS,
        "state_tags": STATE_TAGS,
        "check_labels": CHECK_LABELS,
        "check_tags": CHECK_TAGS,
        **_result_context(read.result),
    }


@get("/verify/requests/{request_id:uuid}", name="web_verify_request", guards=[requires(*VERIFIERS)])
async def request_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    request_id: FromPath[uuid.UUID],
) -> Response[str]:
    context = await _request_context(request, db_session, principal, request_id)
    scripts = ["hr-live.js"] if context["req"].state == "pending" else []
    return await render(request, "hr/request.html", scripts=scripts, **context)


@get(
    "/verify/requests/{request_id:uuid}/status",
    name="web_verify_request_status",
    guards=[requires(*VERIFIERS)],
)
async def request_status(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    request_id: FromPath[uuid.UUID],
) -> Response[dict[str, Any]]:
    """The state of the request for ``hr-live.js``: ``state``, ``verdict``, the words to announce, and,
    once it is no longer pending, the live part of the page (``html``) to swap in (while it is pending the
    poll stays cheap: no links, no QR codes, no HTML)."""
    context = await _request_context(request, db_session, principal, request_id, with_links=False)
    read: PresentationRequestRead = context["req"]
    html = "" if read.state == "pending" else _fragments.get_template("hr/_status.html").render(**context)
    body = {
        "state": read.state,
        "verdict": read.result.verdict if read.result is not None else None,
        "announcement": context["announcement"],
        "html": html,
    }
    return Response(body, media_type=MediaType.JSON, headers=SECURITY_HEADERS)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryFilter:
    created_from: dt.date | None
    created_to: dt.date | None
    verdict: Verdict | None


def read_history_filter(created_from: str, created_to: str, verdict: str) -> tuple[HistoryFilter, FormErrors]:
    errors = FormErrors()
    days: dict[str, dt.date | None] = {}
    for name, text in (("created_from", created_from), ("created_to", created_to)):
        value = parse_date(text)
        if isinstance(value, str):
            errors.add(name, value)
            days[name] = None
        else:
            days[name] = value
    start, end = days["created_from"], days["created_to"]
    if start is not None and end is not None and end < start:
        errors.add("created_to", "The end of the range must be on or after its start")
    chosen: Verdict | None = None
    if verdict in VERDICTS:
        chosen = verdict  # type: ignore[assignment]
    elif verdict:
        errors.add("verdict", "Choose a verdict from the list")
    return HistoryFilter(start, end, chosen), errors


async def _history_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    found: HistoryFilter,
    *,
    limit: int,
    offset: int,
) -> tuple[list[PresentationRequestSummary], int | None]:
    page = await verification.list_requests(
        session,
        _runtime(request),
        principal,
        created_from=found.created_from,
        created_to=found.created_to,
        verdict=found.verdict,
        limit=limit,
        offset=offset,
        now=now_of(request),
    )
    return page.items, page.next_offset


def _query(given: Mapping[str, str], **extra: Any) -> str:
    kept = {k: v for k, v in given.items() if v}
    kept.update({k: str(v) for k, v in extra.items() if v})
    return urlencode(kept)


@get("/verify/history", name="web_verify_history", guards=[requires(*VERIFIERS)])
async def history_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    created_from: FromQuery[str] = "",
    created_to: FromQuery[str] = "",
    verdict: FromQuery[str] = "",
    offset: FromQuery[str] = "0",
) -> Response[str]:
    given = {"created_from": created_from.strip(), "created_to": created_to.strip(), "verdict": verdict}
    found, errors = read_history_filter(created_from, created_to, verdict)
    start = read_offset(offset)
    items: list[PresentationRequestSummary] = []
    next_offset = None
    if not errors:
        items, next_offset = await _history_page(
            request, db_session, principal, found, limit=HISTORY_PAGE, offset=start
        )
    return await render(
        request,
        "hr/history.html",
        status=400 if errors else 200,
        items=items,
        errors=errors or None,
        labels=HISTORY_LABELS,
        given=given,
        verdicts=[("", "Any verdict")] + [(v, VERDICT_LABELS[v]) for v in VERDICTS],
        me=principal.subject,
        offset=start,
        newer=_query(given, offset=max(0, start - HISTORY_PAGE)) if start > 0 else None,
        older=_query(given, offset=next_offset) if next_offset is not None else None,
        export=_query(given),
        verdict_labels=VERDICT_LABELS,
        verdict_tags=VERDICT_TAGS,
        state_labels=STATE_LABELS,
        state_tags=STATE_TAGS,
    )


EXPORT_COLUMNS: Final = (
    "request_id",
    "created_at",
    "state",
    "policy",
    "policy_version",
    "purpose",
    "gmc_number",
    "evaluate_on",
    "expires_at",
    "answered_at",
    "verdict",
    "evaluated_on",
    "disclosed_claims",
)


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (the purpose is typed by people)."""
    return "'" + value if value.startswith(_FORMULA) else value


def _stamp(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value is not None else ""


def export_row(item: PresentationRequestSummary) -> list[str]:
    """One request as a row of the export: what was asked, when, the verdict, claim names only."""
    names = " ".join(f"{d.credential_type}:{claim}" for d in item.disclosed for claim in d.claims)
    return [
        str(item.id),
        _stamp(item.created_at),
        item.state,
        item.policy.name,
        str(item.policy.version),
        _cell(item.purpose),
        item.subject_hint or "",
        item.evaluate_on.isoformat() if item.evaluate_on else "",
        _stamp(item.expires_at),
        _stamp(item.answered_at),
        item.verdict or "",
        item.evaluated_on.isoformat() if item.evaluated_on else "",
        names,
    ]


@get("/verify/history.csv", name="web_verify_history_csv", guards=[requires(*VERIFIERS)])
async def history_csv(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    created_from: FromQuery[str] = "",
    created_to: FromQuery[str] = "",
    verdict: FromQuery[str] = "",
) -> Response[bytes]:
    found, errors = read_history_filter(created_from, created_to, verdict)
    if errors:
        raise ServiceError(
            "The filter is not valid: "
            + "; ".join(f"{HISTORY_LABELS[k]}: {v}" for k, v in errors.fields.items()),
            status=400,
            code="invalid_input",
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    offset: int | None = 0
    while offset is not None:
        items, offset = await _history_page(
            request, db_session, principal, found, limit=EXPORT_PAGE, offset=offset
        )
        writer.writerows(export_row(item) for item in items)
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": 'attachment; filename="verification-history.csv"',
        },
    )


HR_PAGES: Final = [verify_page, create_request, request_page, request_status, history_page, history_csv]
