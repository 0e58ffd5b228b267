"""Issuer pages: CSV import with the row-by-row report, finding a person, their records and statuses."""

import datetime as dt
import re

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.models import Record
from service.passport.schemas import RecordCreate
from tests.conftest import BASE_URL
from tests.passport.factories import World, core_skill, create_world, health
from tests.web.pages import count, field_error, notice, sign_in
from tests.workforce.factories import create_employment

TODAY = dt.datetime.now(dt.UTC).date()
HEADER = (
    "gmc_number,subject,level,date_awarded,learning_provider,learning_method,"
    "assurance_policy,assurance_outcome,verification_method\n"
)
ORIGIN = {"Origin": BASE_URL}


def _row(gmc: str | None, method: str = "e_learning", awarded: str = "2026-03-01") -> str:
    return f"{gmc},fire_safety,1,{awarded},e-Learning for Healthcare,{method},CSTF,verified,source_system\n"


async def _world(session: AsyncSession) -> World:
    world = await create_world(session)
    await create_employment(session, world.doctor, world.tree.trust)
    await create_employment(session, world.other, world.tree.other_trust)
    await session.commit()
    return world


async def _upload(
    client: httpx.AsyncClient, csrf: str, content: bytes, kind: str = "core_skills", name: str = "skills.csv"
) -> httpx.Response:
    return await client.post(
        "/records/import",
        data={"csrf_token": csrf, "kind": kind},
        files={"file": (name, content, "text/csv")},
        headers=ORIGIN,
    )


async def test_an_issuer_imports_a_file_and_is_told_what_was_imported(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    content = (HEADER + _row(world.doctor.gmc_number) + _row(world.other.gmc_number)).encode()
    response = await _upload(client, csrf, content)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/records"
    page = await client.get("/records")
    assert notice(page.text) == "Imported 2 core skills (cstf) records. Nothing else was changed."
    assert await count(session, Record) == 2


async def test_a_file_with_problems_is_shown_again_with_every_problem_and_nothing_is_written(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    content = (
        HEADER + _row(world.doctor.gmc_number) + _row("7999999") + _row(world.doctor.gmc_number, "by_pigeon")
    ).encode()
    response = await _upload(client, csrf, content, name="march.csv")
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert "Nothing was written" in response.text
    assert "Problems in march.csv, row by row" in response.text
    cells = re.findall(
        r"<tr><td class=\"number\">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", response.text
    )
    assert [(row, column) for row, column, _ in cells] == [("3", "gmc_number"), ("4", "learning_method")]
    assert "7999999" in cells[0][2]
    assert await count(session, Record) == 0
    assert "selected>Core skills (CSTF)" in response.text, "the form keeps what was chosen"


async def test_a_missing_file_or_kind_is_named_next_to_the_field(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    response = await _upload(client, csrf, b"", kind="everything")
    assert response.status_code == 422
    assert field_error(response.text, "kind") == "Choose the kind of records the file holds"
    assert field_error(response.text, "file") == "Choose a CSV file to upload (the file chosen is empty)"
    assert '<a href="#field-file">' in response.text, "the error summary links to the field"


async def test_records_of_another_origin_are_refused_as_a_whole(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    csrf = await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    content = ("origin_organisation_code," + HEADER).encode() + (
        f"{world.tree.other_trust}," + _row(world.doctor.gmc_number)
    ).encode()
    response = await _upload(client, csrf, content)
    assert response.status_code == 403
    assert "origin_organisation_code" in response.text
    assert await count(session, Record) == 0


async def _submit(
    session: AsyncSession, keys: DataKeyRing, organisation: str, *bodies: dict[str, object]
) -> None:
    issuer = Principal(subject="test", kind="client", role=Role.ISSUER, organisation=organisation)
    records = msgspec.convert(list(bodies), list[RecordCreate])
    await passport.submit(session, issuer, records, now=dt.datetime.now(dt.UTC), keys=keys)
    await session.commit()


async def test_a_person_is_found_by_name_or_gmc_number_among_those_the_issuer_may_see(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    by_name = await client.get("/records/people", params={"q": "okaf"})
    assert by_name.status_code == 200
    assert f'href="/records/people/{world.doctor.id}"' in by_name.text
    by_gmc = await client.get("/records/people", params={"q": world.doctor.gmc_number})
    assert f'href="/records/people/{world.doctor.id}"' in by_gmc.text
    elsewhere = await client.get("/records/people", params={"q": "bell"})
    assert f"/records/people/{world.other.id}" not in elsewhere.text, "employed at another trust"
    assert "No one you may see matches" in elsewhere.text
    control = await client.get("/records/people", params={"q": "\x00ok\x7faf%_"})
    assert control.status_code == 200, "control characters are dropped; % and _ are letters, not wildcards"
    assert f"/records/people/{world.doctor.id}" not in control.text
    assert (
        f"/records/people/{world.doctor.id}"
        in (await client.get("/records/people", params={"q": "\x00okaf"})).text
    )
    short = await client.get("/records/people", params={"q": "o"})
    assert short.status_code == 422
    assert field_error(short.text, "q") == "Enter a GMC number (7 digits) or at least 2 letters of a name"


async def test_a_gmc_number_finds_someone_employed_elsewhere_once_the_issuer_has_records_about_them(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await _world(session)
    await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    assert (await client.get(f"/records/people/{world.other.id}")).status_code == 404
    await _submit(session, data_keys, world.tree.trust, core_skill(world.other))
    found = await client.get("/records/people", params={"q": world.other.gmc_number})
    assert f'href="/records/people/{world.other.id}"' in found.text
    page = await client.get(f"/records/people/{world.other.id}")
    assert page.status_code == 200
    assert "Fire safety" in page.text


async def test_the_person_page_shows_each_record_in_date_expiring_or_expired(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await _world(session)
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
    )
    await sign_in(client, app, session, Role.ISSUER, world.tree.trust)
    page = await client.get(f"/records/people/{world.doctor.id}")
    assert page.status_code == 200
    rows = dict(re.findall(r"<tr><td>([^<]+)</td>.*?<strong class=\"tag tag-([a-z_]+)\">", page.text))
    assert rows["Fire safety"] == "in_date"
    assert rows["Information governance and data security"] == "expiring"
    assert rows["Resuscitation"] == "expired"
    assert "Hepatitis B immunity" in page.text, "the origin sees its outcomes"
    assert "<td>immune</td>" in page.text
    assert "There are no credentials stating your organisation" in page.text, "no holder key: no credential"

    client.cookies.clear()
    await sign_in(client, app, session, Role.ADMIN)
    redacted = await client.get(f"/records/people/{world.doctor.id}")
    assert redacted.status_code == 200
    assert "Hepatitis B immunity" not in redacted.text
    assert f"Withheld: shown only to {world.tree.trust}" in redacted.text


async def test_other_roles_cannot_import_and_an_admin_cannot_either(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await _world(session)
    csrf = await sign_in(client, app, session, Role.ADMIN)
    page = await client.get("/records")
    assert page.status_code == 200
    assert "Import records from a CSV file" not in page.text
    response = await _upload(client, csrf, (HEADER + _row(world.doctor.gmc_number)).encode())
    assert response.status_code == 403
    assert await count(session, Record) == 0
