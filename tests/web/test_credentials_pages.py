"""Issuer pages: a person's credentials on their page, revoked, suspended and reinstated with a reason."""

import datetime as dt
import re

import httpx
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.auth import Role
from service.credentials import service
from service.credentials.models import Credential
from service.passport.encryption import DataKeyRing
from tests.conftest import BASE_URL
from tests.credentials import factories as cf
from tests.passport import factories as pf
from tests.web.pages import field_error, notice, sign_in
from tests.workforce.factories import create_employment

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ORIGIN = {"Origin": BASE_URL}
DONE = {"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}


async def _doctor_with_credential(session: AsyncSession, app: Litestar, data_keys: DataKeyRing) -> pf.World:
    world = await pf.create_world(session)
    await create_employment(session, world.doctor, world.tree.trust)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW)
    await cf.add_holder_key(session, world.doctor.id, cf.new_key(), NOW)
    await service.issue(session, cf.issuer_of(app), [(world.doctor.id, "core_skills")], now=NOW)
    await session.commit()
    return world


async def _state(session: AsyncSession, world: pf.World) -> tuple[str, str | None]:
    row = (await session.scalars(select(Credential).where(Credential.person_id == world.doctor.id))).one()
    await session.refresh(row)
    return row.state, row.state_reason


async def test_an_issuer_suspends_reinstates_then_revokes_a_credential_with_a_reason(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await _doctor_with_credential(session, app, data_keys)
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    page = await client.get(f"/records/people/{world.doctor.id}")
    assert page.status_code == 200
    [credential_id] = re.findall(
        rf"/records/people/{world.doctor.id}/credentials/([0-9a-f-]{{36}})", page.text
    )
    assert "Core skills (CSTF)" in page.text
    url = f"/records/people/{world.doctor.id}/credentials/{credential_id}"
    field = f"reason-{credential_id}"

    refused = await client.post(
        url, data={"csrf_token": csrf, "action": "suspend", field: ""}, headers=ORIGIN
    )
    assert refused.status_code == 422
    assert (
        field_error(refused.text, field)
        == "Give the reason, in 3 to 500 characters: it is recorded and audited"
    )
    summary = refused.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert f'<a href="#field-{field}">Reason: Give the reason' in summary, (
        "labelled, not the form field's name"
    )
    assert await _state(session, world) == ("valid", None), "nothing changed"
    escaped = await client.post(
        url, data={"csrf_token": csrf, "action": "suspend", field: "red \x1b[31m alert"}, headers=ORIGIN
    )
    assert escaped.status_code == 422
    assert field_error(escaped.text, field) == "Type the reason without control characters"
    assert await _state(session, world) == ("valid", None), "nothing changed"
    elsewhere = f"/records/people/{world.other.id}/credentials/{credential_id}"
    wrong = await client.post(
        elsewhere, data={"csrf_token": csrf, "action": "revoke", field: "x" * 5}, headers=ORIGIN
    )
    assert wrong.status_code == 404, "a credential is acted on only from its holder's page"
    assert await _state(session, world) == ("valid", None)

    steps = [("suspend", "under review", "suspended"), ("reinstate", "review closed", "valid")]
    steps.append(("revoke", "left the trust", "revoked"))
    for action, reason, state in steps:
        done = await client.post(
            url, data={"csrf_token": csrf, "action": action, field: reason}, headers=ORIGIN
        )
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"].split("#")[0])
        assert (notice(shown.text) or "").startswith(f"Credential {DONE[action]}.")
        assert await _state(session, world) == (state, reason)
    assert "No action: revoked" in shown.text

    again = await client.post(
        url, data={"csrf_token": csrf, "action": "reinstate", field: "oops"}, headers=ORIGIN
    )
    assert again.status_code == 409
    assert "A revoked credential cannot be reinstated." in again.text
    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == f"credential:{credential_id}")
            .order_by(AuditEvent.id)
        )
    ).all()
    assert [e.outcome for e in events] == [
        "rejected 422",
        "rejected 422",  # the reason with a control character
        "rejected 404",
        "success",
        "success",
        "success",
        "rejected 409",
    ]


async def test_another_organisation_sees_no_credential_and_cannot_act_on_it(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await _doctor_with_credential(session, app, data_keys)
    credential = (
        await session.scalars(select(Credential).where(Credential.person_id == world.doctor.id))
    ).one()
    await create_employment(session, world.doctor, world.tree.other_trust)
    await session.commit()
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.other_trust)
    page = await client.get(f"/records/people/{world.doctor.id}")
    assert page.status_code == 200
    assert "There are no credentials stating your organisation" in page.text
    url = f"/records/people/{world.doctor.id}/credentials/{credential.id}"
    refused = await client.post(
        url,
        data={"csrf_token": csrf, "action": "revoke", f"reason-{credential.id}": "not ours"},
        headers=ORIGIN,
    )
    assert refused.status_code == 404
    assert await _state(session, world) == ("valid", None)
