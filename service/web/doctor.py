"""Doctor pages: my passport (every current record about me, each in date / expiring / expired), my
credentials, adding my credentials to a wallet (an OpenID4VCI offer) and who checked my passport.

The signed-in person is a holder web user linked to their person record (``User.person_id``); they see
every current record about themselves, whoever submitted it, occupational health outcomes included (they
are the subject of those outcomes). Nobody else may open these pages: another role gets 403, and so does
a holder account that is not linked to a person.

Each page calls the domain services, as the API routes it stands for do: ``credentials.holder_summaries``
(``/api/v1/holder/credentials`` lists the current ones with their documents), ``oid4vc.create_offer``
(``POST /api/v1/credential-offers``, a holder offering to themselves) and
``verification.holder_verifications`` (``GET /api/v1/holder/verifications``).
"""

import datetime as dt
import functools
import uuid
from typing import Any, Final

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Principal, Role, requires
from service.credentials import service as credentials
from service.credentials.controllers import issuer_of
from service.credentials.schemas import KINDS, HolderCredentialSummary
from service.errors import FieldError, Forbidden, ServiceError
from service.oid4vc import service as oid4vc
from service.oid4vc.schemas import OfferCreate, OfferCreated, WalletIssuance
from service.passport import service as passport
from service.passport.claims import ASSURANCE_FIELDS, HOLDER_ID, SPECS
from service.passport.schemas import OH_ITEM_NAMES, RECORD_KINDS
from service.verification import service as verification
from service.verification.schemas import DisclosedNames
from service.web.pages import FormRejected, csrf_guard, data_keys_of, now_of, render
from service.web.records import KIND_LABELS, group_records
from service.web.views import FormErrors, field_name, problems_to_form, read_offset
from service.workforce import service as workforce

HOLDERS: Final = (Role.HOLDER,)
ADD_LABELS: Final = {"types": "Credentials to add"}
CHECKS_PAGE: Final = 50
"""Verifications per page of "Who checked my passport"."""

SUBPAGES: Final = (
    ("/passport", "My records"),
    ("/passport/credentials", "My credentials"),
    ("/passport/add", "Add to my wallet"),
    ("/passport/checks", "Who checked my passport"),
)
"""The sub-navigation of the passport pages (the main navigation's "My passport" covers them all)."""

CREDENTIAL_STATES: Final = {
    "valid": ("credential-valid", "Valid"),
    "suspended": ("credential-suspended", "Suspended"),
    "revoked": ("credential-revoked", "Revoked"),
    "superseded": ("no_end", "Superseded"),
    "expired": ("expired", "Expired"),
}
"""A credential's state as the credentials domain has it (valid, suspended, revoked), and the two cases a
doctor needs told apart: revoked because a newer one replaced it (superseded), and past its expiry."""

VERDICTS: Final = {
    "valid": ("pass", "Valid", "Your credentials were genuine and met the provider's policy."),
    "not_compliant": (
        "warn",
        "Not compliant",
        "Your credentials were genuine, but did not meet every rule of the provider's policy.",
    ),
    "invalid": (
        "fail",
        "Invalid",
        "A check failed (for example a revoked or expired credential, or an answer meant for another "
        "request), so the provider could not rely on what was shared.",
    ),
}
SUBMITTERS: Final = {"holder": "You, from your wallet", "verifier": "The provider, with what you gave them"}


def _linked_person(principal: Principal) -> uuid.UUID:
    """The person a holder is linked to; 403 for an account that is not linked to one."""
    try:
        return credentials.holder_person(principal)
    except Forbidden:
        raise Forbidden(
            "Your account is not linked to a person record: ask your registry administrator.",
            code="not_a_linked_holder",
        ) from None


@get("/passport", name="web_my_passport", guards=[requires(*HOLDERS)])
async def my_passport(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    person_id = _linked_person(principal)
    found = await passport.holder_records(db_session, [person_id], RECORD_KINDS, data_keys_of(request))
    person = (await workforce.people_by_ids(db_session, [person_id])).get(person_id)
    today: dt.date = now_of(request).date()
    grouped = group_records(found.get(person_id, []), today)
    return await render(
        request,
        "doctor/passport.html",
        person=person,
        grouped=grouped,
        kind_labels=KIND_LABELS,
        oh_item_names=OH_ITEM_NAMES,
        today=today,
        counts=_counts(grouped),
        subpages=SUBPAGES,
    )


def _counts(grouped: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    counts = {"in_date": 0, "expiring": 0, "expired": 0, "no_end": 0}
    for rows in grouped.values():
        for row in rows:
            counts[row["status"]] += 1
    return counts


# ---------------------------------------------------------------- my credentials


def credential_state(credential: HolderCredentialSummary, now: dt.datetime) -> str:
    """``valid``, ``suspended``, ``revoked``, ``superseded`` (revoked, replaced by a newer one) or
    ``expired`` (past its expiry, whatever its status entry says)."""
    if credential.state == "revoked":
        return "superseded" if credential.superseded_by is not None else "revoked"
    if _utc(credential.expires_at) <= now:
        return "expired"
    return credential.state


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _delivery(issuance: WalletIssuance | None, registered: bool) -> str:
    if issuance is not None:
        told = {
            "credential_accepted": "; your wallet accepted it",
            "credential_failure": "; your wallet reported a failure",
            "credential_deleted": "; your wallet deleted it",
        }.get(issuance.event or "", "")
        if issuance.copies == 1:
            return f"OpenID4VCI, to a wallet{told}"
        return f"OpenID4VCI batch: copy {issuance.copy} of {issuance.copies}, each bound to its own key{told}"
    if registered:
        return "To your registered wallet key"
    return "To a wallet key you have since replaced"


@get("/passport/credentials", name="web_my_credentials", guards=[requires(*HOLDERS)])
async def my_credentials(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    person_id = _linked_person(principal)
    now = now_of(request)
    found = await credentials.holder_summaries(db_session, issuer_of(request), person_id)
    issuances = await oid4vc.wallet_issuances(db_session, person_id)
    rows = []
    for credential in found:
        state = credential_state(credential, now)
        tag, label = CREDENTIAL_STATES[state]
        rows.append(
            {
                "credential": credential,
                "state": state,
                "tag": tag,
                "label": label,
                "delivery": _delivery(issuances.get(credential.id), credential.holder_key_registered),
                "key": credential.holder_key_thumbprint[:12],
            }
        )
    current = sum(1 for row in rows if row["state"] in ("valid", "suspended"))
    return await render(
        request,
        "doctor/credentials.html",
        rows=rows,
        current=current,
        kind_labels=KIND_LABELS,
        subpages=SUBPAGES,
    )


# ---------------------------------------------------------------- add to my wallet


async def _addable(request: Request[Any, Any, Any], session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    """The credential types the registry has something to state in for me today (what a wallet can get)."""
    issuer = issuer_of(request)
    found = await passport.credentials_claims(
        session,
        [person_id],
        KINDS,
        on=now_of(request).date(),
        base_url=issuer.base_url,
        keys=issuer.data_keys,
        names=issuer.names,
    )
    return [kind for kind in KINDS if found[person_id].get(kind) is not None]


def _add_context(addable: list[str], chosen: list[str], errors: FormErrors | None) -> dict[str, Any]:
    return {
        "addable": addable,
        "chosen": chosen,
        "errors": errors,
        "labels": ADD_LABELS,
        "kind_labels": KIND_LABELS,
        "descriptions": {kind: SPECS[kind].description for kind in KINDS},
        "subpages": SUBPAGES,
        "offer": None,
    }


@get("/passport/add", name="web_add_to_wallet", guards=[requires(*HOLDERS)])
async def add_to_wallet(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    addable = await _addable(request, db_session, _linked_person(principal))
    return await render(request, "doctor/add.html", **_add_context(addable, list(addable), None))


@post(
    "/passport/add",
    name="web_make_wallet_offer",
    guards=[requires(*HOLDERS), csrf_guard],
    status_code=200,
)
async def make_wallet_offer(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    """Make an OpenID4VCI offer of the chosen types to my own wallet and show it at once: the transaction
    code is on this page only (never in a redirect, a cookie or a log), and the page is ``no-store``."""
    person_id = _linked_person(principal)
    audit.set_subject(request, f"person:{person_id}")
    form = await request.form()
    chosen = [value for value in form.getall("types", []) if isinstance(value, str)]
    addable = await _addable(request, db_session, person_id)
    errors = FormErrors()
    status = 422
    if not chosen:
        errors.add("types", "Choose at least one credential to add to your wallet")
    elif any(kind not in addable for kind in chosen):
        errors.add("types", "Choose only from the credentials listed: the registry holds nothing for others")
    if not errors:
        try:
            offer = await oid4vc.create_offer(
                db_session,
                issuer_of(request),
                principal,
                OfferCreate(person_id=person_id, credential_configuration_ids=list(dict.fromkeys(chosen))),
                now=now_of(request),
            )
        except ServiceError as exc:
            errors = problems_to_form(exc.detail, _on_types(exc.errors), ADD_LABELS)
            status = exc.status
        else:
            audit.set_subject(request, f"person:{person_id} offer:{offer.id}")
            context = _offer_context(addable, chosen, offer, now_of(request))
            return await render(request, "doctor/add.html", **context)
    await db_session.rollback()  # nothing half-done: no offer row
    raise FormRejected(
        "doctor/add.html",
        status=status,
        context=_add_context(addable, [c for c in chosen if c in addable], errors),
    )


def _on_types(errors: list[FieldError] | None) -> list[FieldError]:
    """The offer's field errors about the credential types go next to the checkboxes."""
    return [
        FieldError("body.types", e.reason) if field_name(e.field) == "credential_configuration_ids" else e
        for e in errors or []
    ]


def _offer_context(
    addable: list[str], chosen: list[str], offer: OfferCreated, now: dt.datetime
) -> dict[str, Any]:
    return {
        **_add_context(addable, chosen, None),
        "offer": offer,
        "offered": [KIND_LABELS[kind] for kind in offer.credential_configuration_ids],
        "minutes": max(1, round((_utc(offer.expires_at) - now).total_seconds() / 60)),
    }


# ---------------------------------------------------------------- who checked my passport


_FIELD_LABELS: Final = {kind: {f.name: f.label for f in spec.fields} for kind, spec in SPECS.items()}
_ASSURANCE_LABELS: Final = {f.name: f.label for f in ASSURANCE_FIELDS}
_LABEL_ORDER: Final = {
    kind: {label: i for i, label in enumerate([HOLDER_ID.label, *(f.label for f in spec.fields)])}
    for kind, spec in SPECS.items()
}
_KIND_OF_CONTAINER: Final = {spec.container: kind for kind, spec in SPECS.items()}


def _kind_of(credential_type: str, paths: list[str]) -> str | None:
    """The credential type of a disclosure list; for a presentation the verifier could not type (an
    invalid one is ``unknown``), the type whose claims container its paths start with."""
    if credential_type in SPECS:
        return credential_type
    containers = {path.split("/", 1)[0] for path in paths} - {HOLDER_ID.name}
    kinds = {_KIND_OF_CONTAINER.get(c) for c in containers}
    return kinds.pop() if len(kinds) == 1 else None


@functools.lru_cache(maxsize=1024)
def claim_label(credential_type: str, path: str) -> str | None:
    """A disclosed claim path in words (``core_skills/*/date_to`` -> "Date to"); None for a path that
    only opens a record (``core_skills/*``), whose fields are listed on their own."""
    parts = [p for p in path.split("/") if p != "*" and not p.isdigit()]
    spec = SPECS.get(credential_type)
    if spec is not None and parts and parts[0] == spec.container:
        parts = parts[1:]
    if not parts:
        return None
    if parts == [HOLDER_ID.name]:
        return HOLDER_ID.label
    fields = _FIELD_LABELS.get(credential_type, {})
    words = [fields.get(parts[0], parts[0].replace("_", " "))]
    if parts[0] == "assurance":
        words += [_ASSURANCE_LABELS.get(p, p.replace("_", " ")) for p in parts[1:]]
    else:
        words += parts[1:]
    return " / ".join(words)


def disclosed_in_words(disclosed: list[DisclosedNames]) -> list[tuple[str, str]]:
    """Per credential type, the names of the claims disclosed, each once, in the type's field order, as
    one text (joined here: Jinja's ``join`` filter escapes item by item, 50 us a call)."""
    found = []
    for item in disclosed:
        kind = _kind_of(item.credential_type, item.claims)
        order = _LABEL_ORDER.get(kind or "", {})
        labels = (claim_label(kind or item.credential_type, path) for path in item.claims)
        names = {n for n in labels if n is not None}
        ranked = sorted(names, key=lambda n: (order.get(n, len(order)), n))
        text = ", ".join(ranked) if ranked else "the credential only"
        found.append((KIND_LABELS[kind] if kind is not None else "A credential not recognised", text))
    return found


@get("/passport/checks", name="web_my_checks", guards=[requires(*HOLDERS)])
async def my_checks(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    offset: FromQuery[str] = "0",
) -> Response[str]:
    _linked_person(principal)
    start = read_offset(offset)
    runtime: verification.Runtime = request.app.state.verification
    page = await verification.holder_verifications(
        db_session, runtime, principal, limit=CHECKS_PAGE, offset=start
    )
    rows = [
        {
            "check": item,
            "verdict": VERDICTS[item.verdict],
            "submitted_by": SUBMITTERS.get(item.submitted_by, item.submitted_by),
            "disclosed": disclosed_in_words(item.disclosed),
        }
        for item in page.items
    ]
    return await render(
        request,
        "doctor/checks.html",
        rows=rows,
        offset=start,
        next_offset=page.next_offset,
        previous_offset=max(0, start - CHECKS_PAGE) if start > 0 else None,
        page_size=CHECKS_PAGE,
        subpages=SUBPAGES,
    )


DOCTOR_PAGES: Final = [my_passport, my_credentials, add_to_wallet, make_wallet_offer, my_checks]
