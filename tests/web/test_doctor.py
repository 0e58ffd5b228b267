"""Doctor pages: my passport lists every current record about me with its status; nobody else's."""

import datetime as dt
import re
import uuid

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import SESSION_COOKIE, Principal, Role, TokenService
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import RecordCreate
from service.web import service as web
from tests.passport.factories import World, core_skill, create_world, health
from tests.web.helpers import create_user
from tests.web.pages import sign_in

TODAY = dt.datetime.now(dt.UTC).date()


async def _submit(
    session: AsyncSession, keys: DataKeyRing, organisation: str, *bodies: dict[str, object]
) -> None:
    issuer = Principal(subject="test", kind="client", role=Role.ISSUER, organisation=organisation)
    await passport.submit(
        session,
        issuer,
        msgspec.convert(list(bodies), list[RecordCreate]),
        now=dt.datetime.now(dt.UTC),
        keys=keys,
    )
    await session.commit()


async def _sign_in_as(
    client: httpx.AsyncClient, app: Litestar, session: AsyncSession, person_id: uuid.UUID, email: str
) -> None:
    user = await create_user(session, email, role=Role.HOLDER, name="Dr Okafor", person_id=person_id)
    tokens: TokenService = app.state.tokens
    client.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))


def _statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td>([^<]+)</td>.*?<strong class=\"tag tag-([a-z_]+)\">", html))


async def test_a_doctor_sees_every_current_record_about_them_with_its_status(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world: World = await create_world(session)
    await session.commit()
    await _submit(
        session,
        data_keys,
        world.tree.trust,
        core_skill(world.doctor, date_awarded=(TODAY - dt.timedelta(days=30)).isoformat()),
        core_skill(world.doctor, subject="resuscitation", level=2, date_awarded="2020-01-10"),
        core_skill(
            world.doctor,
            subject="information_governance",
            date_awarded=(TODAY - dt.timedelta(days=300)).isoformat(),
            date_to=(TODAY + dt.timedelta(days=10)).isoformat(),
        ),
        health(world.doctor),
        core_skill(world.other, subject="conflict_resolution"),
    )
    await _sign_in_as(client, app, session, world.doctor.id, "okafor@pages.example")
    page = await client.get("/passport")
    assert page.status_code == 200, page.text
    assert "<h1>My passport</h1>" in page.text
    statuses = _statuses(page.text)
    assert statuses["Fire safety"] == "in_date"
    assert statuses["Information governance and data security"] == "expiring"
    assert statuses["Resuscitation"] == "expired"
    assert "Conflict resolution" not in page.text, "another doctor's record is not shown"
    assert "<td>immune</td>" in page.text, "the doctor sees their own occupational health outcomes"
    assert "1 of your records has expired and 1 is expiring within 30 days" in " ".join(page.text.split())
    home = await client.get("/")
    assert '<a href="/passport">My passport</a>' in home.text


async def test_a_doctor_with_no_records_is_told_so(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client, app, session, Role.HOLDER)
    page = await client.get("/passport")
    assert page.status_code == 200
    assert "The registry holds no current records about you yet." in page.text
    assert "has expired" not in page.text


async def test_an_unknown_address_is_a_page_for_a_browser_and_problem_details_for_a_program(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert 'href="/"' in page.text
    for path, accept in (("/no/such/page", "application/json"), ("/api/v1/nothing", "text/html")):
        problem = await client.get(path, headers={"Accept": accept})
        assert problem.status_code == 404
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert problem.json()["status"] == 404
