"""``passport demo seed`` (service/demo.py and service/workforce/demo.py), on SQLite and PostgreSQL."""

import datetime as dt
import math
import stat
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service import auth, demo
from service.audit import AuditEvent
from service.auth import ApiClient, Role, User
from service.config import Settings
from service.errors import Conflict, InvalidInput
from service.web import service as web
from service.workforce.models import Employment, Organisation, Person
from service.workforce.schemas import (
    EmploymentCreate,
    OrganisationCreate,
    PersonCreate,
    check_organisation,
    check_organisation_references,
    check_person,
)
from tests.factories import create_organisation

SCALE = 0.02  # 100 doctors and 10 other staff; every organisation
SEED = 7
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
TABLES = (Organisation, Person, Employment, ApiClient, User, AuditEvent)
CLIENT_ORGANISATION_KINDS = {
    "issuer": "nhs_trust",
    "verifier": "independent_site",
    "coordinator": "region",
    "analyst": "independent_provider",
    "admin": None,
}


async def _seed(session: AsyncSession, settings: Settings, *, scale: float = SCALE, seed: int = SEED) -> str:
    return await demo.seed(session, settings=settings, scale=scale, seed=seed, now=NOW)


@pytest.fixture
async def summary(session: AsyncSession, settings: Settings) -> str:
    return await _seed(session, settings)


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _counts(session: AsyncSession) -> dict[str, int]:
    return {model.__tablename__: await _count(session, model) for model in TABLES}


def _clients_file(settings: Settings) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.json.decode(demo.clients_file(settings).read_bytes())
    return document


# ---------------------------------------------------------------- what is seeded


async def test_seed_builds_a_synthetic_england(session: AsyncSession, summary: str) -> None:
    rows = await session.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind))
    kinds = {kind: count for kind, count in rows}
    assert kinds == {
        "region": 7,
        "icb": 42,
        "nhs_trust": 200,
        "independent_provider": 20,
        "independent_site": 150,
    }
    assert await _count(session, Person, Person.gmc_number.is_not(None)) == round(5000 * SCALE)
    assert await _count(session, Person, Person.gmc_number.is_(None)) == round(500 * SCALE)
    unemployed = ~select(Employment.id).where(Employment.person_id == Person.id).exists()
    assert await _count(session, Person, unemployed) == 0
    assert "7 regions, 42 ICBs, 200 NHS trusts, 20 independent providers, 150 independent sites" in summary
    assert "100 doctors in training, 10 other staff" in summary


async def test_organisations_hang_together(session: AsyncSession, summary: str) -> None:
    parent, icb = aliased(Organisation), aliased(Organisation)
    stmt = (
        select(Organisation.kind, parent.kind, icb.kind, func.count())
        .outerjoin(parent, Organisation.parent_code == parent.code)
        .outerjoin(icb, Organisation.icb_code == icb.code)
        .group_by(Organisation.kind, parent.kind, icb.kind)
    )
    shapes = {(kind, p, i): n for kind, p, i, n in await session.execute(stmt)}
    assert shapes == {
        ("region", None, None): 7,
        ("icb", "region", None): 42,  # every ICB under a region
        ("nhs_trust", "icb", "icb"): 200,
        ("independent_provider", None, None): 20,
        ("independent_site", "independent_provider", "icb"): 150,  # run by a provider, in an ICB's area
    }
    trusts = (await session.scalars(select(Organisation).where(Organisation.kind == "nhs_trust"))).all()
    assert all(t.icb_code == t.parent_code for t in trusts)


async def test_seeded_rows_are_what_the_api_accepts(session: AsyncSession, summary: str) -> None:
    """Demo data passes the same format and reference rules as data sent to the API."""
    organisations = (await session.scalars(select(Organisation))).all()
    kind_of = {o.code: o.kind for o in organisations}.get
    for org in organisations:
        data = msgspec.convert(org, OrganisationCreate, from_attributes=True)
        normalised, issues = check_organisation(data)
        assert not issues, (org.code, issues)
        assert not check_organisation_references(normalised, kind_of), org.code
        assert normalised.postcode == org.postcode
        if org.kind != "region":
            assert org.postcode is not None, org.code
            assert org.latitude is not None, org.code
            assert org.longitude is not None, org.code
            assert 49.9 < org.latitude < 55.9, org.code
            assert -6.5 < org.longitude < 1.8, org.code
    for person in (await session.scalars(select(Person))).all():
        assert not check_person(msgspec.convert(person, PersonCreate, from_attributes=True))[1]
    for employment in (await session.scalars(select(Employment))).all():
        msgspec.convert(employment, EmploymentCreate, from_attributes=True)


async def test_clients_file_holds_working_secrets(
    session: AsyncSession, settings: Settings, summary: str
) -> None:
    path = demo.clients_file(settings)
    assert str(path) in summary
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    clients = _clients_file(settings)["clients"]
    assert set(clients) == set(CLIENT_ORGANISATION_KINDS), "one client per role a system plays; no holder"
    for role, entry in clients.items():
        client = await auth.authenticate_client(session, entry["client_id"], entry["client_secret"])
        assert client is not None, role
        assert client.role == role
        assert client.organisation_code == entry["organisation_code"]
        organisation = await session.get(Organisation, entry["organisation_code"] or "")
        assert (organisation.kind if organisation else None) == CLIENT_ORGANISATION_KINDS[role]
        assert entry["token_url"] == "http://testserver.local/oauth/token"
        assert f"-u '{entry['client_id']}:{entry['client_secret']}'" in entry["curl"]
        assert entry["curl"].endswith(entry["token_url"])
        assert await auth.authenticate_client(session, entry["client_id"], "wrong") is None


async def test_demo_users_one_per_role_holder_is_a_demo_doctor(session: AsyncSession, summary: str) -> None:
    groups = await web.demo_users(session)
    assert list(groups) == list(Role)
    assert all(len(users) == 1 for users in groups.values())
    assert groups[Role.ADMIN][0].organisation_code is None
    holder = groups[Role.HOLDER][0]
    person = await session.get(Person, holder.person_id)
    assert person is not None
    assert person.gmc_number is not None
    assert holder.display_name == f"Dr {person.given_name} {person.family_name}"
    # One story: the doctor works at the issuer's trust and has been placed at the verifier's site.
    posts = (
        await session.scalars(
            select(Employment).where(Employment.person_id == person.id).order_by(Employment.start_date)
        )
    ).all()
    worked_at = {p.organisation_code for p in posts}
    assert posts[-1].organisation_code == holder.organisation_code == groups[Role.ISSUER][0].organisation_code
    assert groups[Role.VERIFIER][0].organisation_code in worked_at
    assert holder.display_name in summary


# ---------------------------------------------------------------- running it again


async def test_second_run_changes_nothing(session: AsyncSession, settings: Settings, summary: str) -> None:
    before = await _counts(session)
    file_before = demo.clients_file(settings).read_bytes()
    again = await _seed(session, settings)
    assert await _counts(session) == before
    assert demo.clients_file(settings).read_bytes() == file_before
    assert (
        "Nothing to do: demo data already present (scale 0.02, seed 7, seeded 2026-11-23 09:30 UTC)" in again
    )
    assert str(demo.clients_file(settings)) in again
    assert "http://testserver.local/signin" in again
    assert "missing" not in again


async def test_other_parameters_are_not_mixed_in(
    session: AsyncSession, settings: Settings, summary: str
) -> None:
    before = await _counts(session)
    again = await _seed(session, settings, scale=0.03, seed=SEED + 1)
    assert await _counts(session) == before
    assert "demo data already present with other parameters (scale 0.02, seed 7" in again
    assert "asked for scale 0.03, seed 8" in again


async def test_missing_clients_file_is_reported_with_the_way_out(
    session: AsyncSession, settings: Settings, summary: str
) -> None:
    clients = _clients_file(settings)["clients"]
    demo.clients_file(settings).unlink()
    again = await _seed(session, settings)
    assert "is missing" in again
    issuer = clients["issuer"]
    assert "passport clients create --name" in again
    assert f"--role issuer --organisation {issuer['organisation_code']}" in again
    assert not demo.clients_file(settings).exists(), "no new secrets on a rerun"


async def test_a_step_added_later_reaches_an_existing_demo(
    session: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_steps = demo.STEPS
    monkeypatch.setattr(demo, "STEPS", all_steps[:1])  # a demo seeded before clients and users existed
    first = await _seed(session, settings)
    assert "steps: workforce)" in first
    assert await _count(session, ApiClient) == 0
    monkeypatch.setattr(demo, "STEPS", all_steps)
    people = await _count(session, Person)
    later = await _seed(session, settings)
    assert f"steps: {', '.join(name for name, _ in all_steps[1:])})" in later
    assert await _count(session, Person) == people
    assert await _count(session, ApiClient) == len(CLIENT_ORGANISATION_KINDS)
    assert await _count(session, User) == len(Role)


# ---------------------------------------------------------------- determinism


async def _snapshot(session: AsyncSession) -> list[Any]:
    """Everything but timestamps, secrets and the (random) ids of web users."""
    queries = [
        select(*[c for c in Organisation.__table__.c if c.name != "created_at"]).order_by(Organisation.code),
        select(*[c for c in Person.__table__.c if c.name != "created_at"]).order_by(Person.id),
        select(*[c for c in Employment.__table__.c if c.name != "created_at"]).order_by(Employment.id),
        select(ApiClient.client_id, ApiClient.name, ApiClient.role, ApiClient.organisation_code).order_by(
            ApiClient.client_id
        ),
        select(User.email, User.display_name, User.role, User.organisation_code, User.person_id).order_by(
            User.email
        ),
    ]
    return [[tuple(row) for row in await session.execute(q)] for q in queries]


async def test_same_scale_and_seed_give_the_same_rows(session: AsyncSession, settings: Settings) -> None:
    snapshots = []
    for seed, hour in ((SEED, 9), (SEED, 17), (SEED + 1, 9)):
        savepoint = await session.begin_nested()
        await demo.seed(session, settings=settings, scale=SCALE, seed=seed, now=NOW.replace(hour=hour))
        snapshots.append(await _snapshot(session))
        await savepoint.rollback()
    assert snapshots[0] == snapshots[1]
    assert snapshots[0][2] != snapshots[2][2], "another seed gives other people"


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf, 101.0])
async def test_a_scale_out_of_range_is_refused(
    session: AsyncSession, settings: Settings, scale: float
) -> None:
    with pytest.raises(InvalidInput, match="--scale"):
        await _seed(session, settings, scale=scale)


async def test_a_database_holding_the_demo_codes_is_refused(
    session: AsyncSession, settings: Settings
) -> None:
    await create_organisation(session, "Y56", kind="region", name="London")
    with pytest.raises(Conflict, match="organisation Y56"):
        await _seed(session, settings)
    assert await _count(session, Organisation) == 1


# ---------------------------------------------------------------- over HTTP


async def test_demo_admin_secret_gets_a_token(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient, summary: str
) -> None:
    await session.commit()
    admin = _clients_file(settings)["clients"]["admin"]
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(admin["client_id"], admin["client_secret"]),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    icbs = await client.get(
        "/api/v1/organisations",
        params={"kind": "icb", "limit": 100},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert icbs.status_code == 200, icbs.text
    assert len(icbs.json()["items"]) == 42
