"""Doctor pages: my passport (every current record about me, each in date / expiring / expired).

The signed-in person is a holder web user linked to their person record (``User.person_id``); they see
every current record about themselves, whoever submitted it, occupational health outcomes included (they
are the subject of those outcomes). Nobody else may open these pages: another role gets 403.
"""

import datetime as dt
import uuid
from typing import Any, Final

from litestar import Request, get
from litestar.response import Response

from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires
from service.errors import NotFound
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import OH_ITEM_NAMES, RECORD_KINDS
from service.web.pages import render
from service.web.records import KIND_LABELS, group_records
from service.workforce import service as workforce

HOLDERS: Final = (Role.HOLDER,)


@get("/passport", name="web_my_passport", guards=[requires(*HOLDERS)])
async def my_passport(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    if principal.person_id is None:  # holders are provisioned with their person record; never otherwise
        raise NotFound("Your account is not linked to a person record: ask your registry administrator.")
    person_id = uuid.UUID(principal.person_id)
    keys: DataKeyRing = request.app.state.data_keys
    found = await passport.holder_records(db_session, [person_id], RECORD_KINDS, keys)
    person = (await workforce.people_by_ids(db_session, [person_id])).get(person_id)
    today: dt.date = request.app.state.clock().date()
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
    )


def _counts(grouped: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    counts = {"in_date": 0, "expiring": 0, "expired": 0, "no_end": 0}
    for rows in grouped.values():
        for row in rows:
            counts[row["status"]] += 1
    return counts


DOCTOR_PAGES: Final = [my_passport]
