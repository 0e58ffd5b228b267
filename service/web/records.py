"""Issuer pages: import a CSV file of source records, find a person, see the records about them.

Thin routes over :mod:`service.passport.service` and :mod:`service.workforce.service`: the domain services
decide who sees what, exactly as for the API (``POST /api/v1/records/import``, ``GET /api/v1/records``).

- Upload: all or nothing; a refused file is shown again with the row-by-row report; nothing is written.
- Search: by GMC number or name, among the people the issuer may see in the workforce domain (people
  employed at its organisation); a GMC number also finds anyone the organisation has submitted records
  about. The person page lists the records of the caller's organisation (an admin: every organisation's,
  occupational health outcomes redacted).
"""

import datetime as dt
import re
import uuid
from typing import Any, Final

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Principal, Role, requires
from service.credentials import service as credentials
from service.credentials.controllers import issuer_of
from service.credentials.schemas import REASON_PATTERN, CredentialRead
from service.errors import NotFound, ServiceError
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import (
    OH_ITEM_NAMES,
    RECORD_KINDS,
    CoreSkillRead,
    IdentityLinkRead,
    OccupationalHealthRead,
    RecordKind,
    RecordRead,
    TrainingPlacementRead,
)
from service.web.pages import FormRejected, csrf_guard, data_keys_of, now_of, redirect, render
from service.web.views import STATUS_LABELS, FormErrors, record_status
from service.workforce import service as workforce
from service.workforce.schemas import PersonRead

READERS: Final = (Role.ISSUER, Role.ADMIN)
"""Who may search people and read records on these pages (as ``GET /api/v1/records``)."""
IMPORTERS: Final = (Role.ISSUER,)
"""Who may import (as ``POST /api/v1/records/import``)."""

KIND_LABELS: Final[dict[str, str]] = {
    "core_skills": "Core skills (CSTF)",
    "occupational_health": "Occupational health",
    "training_placement": "Training programme and placement",
    "identity_link": "Identity link",
}
KIND_OF: Final[dict[type, str]] = {
    CoreSkillRead: "core_skills",
    OccupationalHealthRead: "occupational_health",
    TrainingPlacementRead: "training_placement",
    IdentityLinkRead: "identity_link",
}
UPLOAD_LABELS: Final = {"kind": "Kind of record", "file": "CSV file"}
SEARCH_LABELS: Final = {"q": "GMC number or name"}
SEARCH_LIMIT: Final = 50
RECORDS_LIMIT: Final = passport.MAX_LIMIT
_GMC = re.compile(r"^\d{7}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _kind_options() -> list[tuple[str, str]]:
    return [(kind, KIND_LABELS[kind]) for kind in RECORD_KINDS]


def _upload_context(principal: Principal, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "may_import": principal.role in IMPORTERS,
        "kinds": _kind_options(),
        "labels": UPLOAD_LABELS,
        "errors": None,
        "rows": [],
        "chosen_kind": "core_skills",
        "query": "",
        "search_errors": None,
        "search_labels": SEARCH_LABELS,
    }
    context.update(extra)
    return context


@get("/records", name="web_records", guards=[requires(*READERS)])
async def records_home(request: Request[Any, Any, Any], principal: CurrentPrincipal) -> Response[str]:
    return await render(request, "records/index.html", **_upload_context(principal))


@post(
    "/records/import", name="web_records_import", guards=[requires(*IMPORTERS), csrf_guard], status_code=303
)
async def import_records(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[Any]:
    """All or nothing, as the API: a refused file is shown again with every problem of every row."""
    form = await request.form()
    errors = FormErrors()
    kind = form.get("kind")
    if not isinstance(kind, str) or kind not in RECORD_KINDS:
        errors.add("kind", "Choose the kind of records the file holds")
        kind = "core_skills"
    upload = form.get("file")
    payload = await upload.read() if isinstance(upload, UploadFile) else b""
    if not payload:
        errors.add("file", "Choose a CSV file to upload (the file chosen is empty)")
    context = _upload_context(principal, chosen_kind=kind, file_name=_file_name(upload))
    if errors:
        raise FormRejected("records/index.html", status=422, context={**context, "errors": errors})
    chosen: RecordKind = kind  # type: ignore[assignment]  # checked against RECORD_KINDS above
    try:
        result = await passport.import_records(
            db_session, principal, chosen, payload, now=now_of(request), keys=data_keys_of(request)
        )
    except passport.ImportRejected as exc:
        await db_session.rollback()  # nothing half-done
        errors.add(None, exc.detail)
        raise FormRejected(
            "records/index.html", status=exc.status, context={**context, "errors": errors, "rows": exc.rows}
        ) from None
    except ServiceError as exc:
        await db_session.rollback()
        errors.add(None, exc.detail)
        raise FormRejected(
            "records/index.html", status=exc.status, context={**context, "errors": errors}
        ) from None
    audit.set_subject(request, f"records:import:{chosen}:{result.created}")
    noun = "record" if result.created == 1 else "records"
    return redirect(
        "/records",
        notice=f"Imported {result.created} {KIND_LABELS[chosen].lower()} {noun}. Nothing else was changed.",
        request=request,
    )


def _file_name(upload: object) -> str | None:
    return upload.filename if isinstance(upload, UploadFile) and upload.filename else None


# ---------------------------------------------------------------- finding a person


async def _people_with_records(
    session: AsyncSession, principal: Principal, keys: DataKeyRing, gmc_number: str
) -> list[PersonRead]:
    """Whoever holds this GMC number, if the caller's organisation has records about them."""
    page = await passport.list_records(
        session,
        principal,
        keys,
        person_id=None,
        gmc_number=gmc_number,
        kind=None,
        state=None,
        organisation=None,
        limit=1,
        offset=0,
    )
    if not page.items:
        return []
    found = await workforce.people_by_ids(session, [page.items[0].person_id])
    return list(found.values())


@get("/records/people", name="web_records_people", guards=[requires(*READERS)])
async def search_people(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    q: FromQuery[str] = "",
) -> Response[str]:
    query = _CONTROL.sub("", q).strip()[:100]  # no control characters reach the database
    errors = FormErrors()
    people: list[PersonRead] = []
    more = False
    if len(query) < 2:
        errors.add("q", "Enter a GMC number (7 digits) or at least 2 letters of a name")
    else:
        gmc = query if _GMC.match(query) else None
        page = await workforce.list_people(
            db_session,
            principal,
            gmc_number=gmc,
            organisation=None,
            grade=None,
            specialty=None,
            limit=SEARCH_LIMIT,
            offset=0,
            name=None if gmc else query,
        )
        people, more = list(page.items), page.next_offset is not None
        if gmc is not None and not people:
            people = await _people_with_records(db_session, principal, data_keys_of(request), gmc)
    context = _upload_context(principal, query=query, search_errors=errors or None)
    return await render(
        request,
        "records/search.html",
        status=200 if not errors else 422,
        people=people,
        more=more,
        search_limit=SEARCH_LIMIT,
        **context,
    )


# ---------------------------------------------------------------- a person's records


def group_records(records: list[RecordRead], today: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Records by kind, each with its status on ``today`` (a replaced or withdrawn one: no end date)."""
    grouped: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RECORD_KINDS}
    for record in records:
        status = record_status(record.lapses_on, today) if record.state == "current" else "no_end"
        grouped[KIND_OF[type(record)]].append(
            {"record": record, "status": status, "status_label": STATUS_LABELS[status]}
        )
    return grouped


@get("/records/people/{person_id:uuid}", name="web_records_person", guards=[requires(*READERS)])
async def person_records(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    person_id: FromPath[uuid.UUID],
    show: FromQuery[str] = "current",
) -> Response[str]:
    context = await _person_context(request, db_session, principal, person_id, every=show == "all")
    return await render(request, "records/person.html", **context)


async def _person_context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    person_id: uuid.UUID,
    *,
    every: bool = False,
) -> dict[str, Any]:
    """What the person page shows: the person, the records the caller may see, their credentials."""
    keys = data_keys_of(request)
    page = await passport.list_records(
        session,
        principal,
        keys,
        person_id=person_id,
        gmc_number=None,
        kind=None,
        state=None if every else "current",
        organisation=None,
        limit=RECORDS_LIMIT,
        offset=0,
    )
    try:
        person = await workforce.get_person(session, principal, person_id)
    except NotFound:
        # Not employed at the caller's organisation: shown only if the organisation holds records about them.
        if not await _any_record(session, principal, keys, person_id):
            raise
        person = (await workforce.people_by_ids(session, [person_id]))[person_id]
    today = now_of(request).date()
    return {
        "person": person,
        "grouped": group_records(list(page.items), today),
        "kind_labels": KIND_LABELS,
        "oh_item_names": OH_ITEM_NAMES,
        "show_all": every,
        "truncated": page.next_offset is not None,
        "records_limit": RECORDS_LIMIT,
        "today": today,
        "credentials": await _credentials(request, session, principal, person_id),
        "action_labels": ACTION_LABELS,
        "errors": None,
        "failed_credential": None,
        "reason_typed": "",
    }


async def _any_record(
    session: AsyncSession, principal: Principal, keys: DataKeyRing, person_id: uuid.UUID
) -> bool:
    page = await passport.list_records(
        session,
        principal,
        keys,
        person_id=person_id,
        gmc_number=None,
        kind=None,
        state=None,
        organisation=None,
        limit=1,
        offset=0,
    )
    return bool(page.items)


# ---------------------------------------------------------------- a person's credentials

ACTIONS: Final = ("revoke", "suspend", "reinstate")
REASON_HINT: Final = "Give the reason, in 3 to 500 characters: it is recorded and audited"
ACTION_LABELS: Final = {"revoke": "Revoke", "suspend": "Suspend", "reinstate": "Reinstate"}
ACTION_DONE: Final = {"revoke": "revoked", "suspend": "suspended", "reinstate": "reinstated"}


async def _credentials(
    request: Request[Any, Any, Any], session: AsyncSession, principal: Principal, person_id: uuid.UUID
) -> list[CredentialRead]:
    """The person's credentials the caller may act on (an issuer: those stating its records), newest first."""
    base_url: str = request.app.state.settings.public_base_url
    return await credentials.list_credentials(session, principal, person_id, base_url)


@post(
    "/records/people/{person_id:uuid}/credentials/{credential_id:uuid}",
    name="web_records_credential_action",
    guards=[requires(*READERS), csrf_guard],
    status_code=303,
)
async def credential_action(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    person_id: FromPath[uuid.UUID],
    credential_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Revoke, suspend or reinstate one credential with a reason, as ``POST /api/v1/credentials/{id}/...``."""
    audit.set_subject(request, f"credential:{credential_id}")  # a refusal is audited under it too
    form = await request.form()
    action = form.get("action")
    reason = form.get(f"reason-{credential_id}")
    reason = reason.strip() if isinstance(reason, str) else ""
    errors = FormErrors()
    if not isinstance(action, str) or action not in ACTIONS:
        errors.add(None, "Choose revoke, suspend or reinstate.")
        action = None
    if len(reason) < 3 or len(reason) > 500:
        errors.add(f"reason-{credential_id}", REASON_HINT)
    elif re.match(REASON_PATTERN, reason) is None:
        errors.add(f"reason-{credential_id}", "Type the reason without control characters")
    status = 422
    if not errors and action is not None:
        shown = {c.id for c in await _credentials(request, db_session, principal, person_id)}
        try:
            if credential_id not in shown:  # not this person's, or not one the caller may act on
                raise NotFound("No such credential among this person's that you may act on.")
            await credentials.change_state(
                db_session, issuer_of(request), principal, credential_id, action, reason, now=now_of(request)
            )
        except ServiceError as exc:
            errors.add(None, exc.detail)
            status = exc.status
        else:
            return redirect(
                f"/records/people/{person_id}#credentials",
                notice=f"Credential {ACTION_DONE[action]}. Its status list is republished: verifiers see it "
                "within the list's time to live.",
                request=request,
            )
    await db_session.rollback()  # nothing half-done
    context = await _person_context(request, db_session, principal, person_id)
    raise FormRejected(
        "records/person.html",
        status=status,
        context={**context, "errors": errors, "failed_credential": credential_id, "reason_typed": reason},
    )


RECORDS_HANDLERS: Final = [records_home, import_records, search_people, person_records, credential_action]
