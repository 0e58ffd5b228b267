"""CSV imports of records over HTTP: all or nothing, with a report of every problem of every row."""

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from tests.passport.factories import (
    API,
    World,
    core_skill,
    count_records,
    create_world,
    errors,
    issuer,
    submit,
)

CHECKED = "CSTF attainment,verified,source_system"
HEADER = (
    "gmc_number,subject,level,date_awarded,learning_provider,learning_method,"
    "assurance_policy,assurance_outcome,verification_method"
)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await create_world(session)


async def post_csv(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, kind: str = "core_skills"
) -> httpx.Response:
    return await client.post(
        f"{API}/records/import",
        params={"kind": kind},
        content=text.encode(),
        headers={**headers, "content-type": "text/csv"},
    )


async def test_a_good_file_is_imported_whole(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World
) -> None:
    headers = await issuer(session, app, world.tree.trust)
    text = (
        f"{HEADER}\n"
        f"{world.doctor.gmc_number},fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED}\n"
        f"{world.other.gmc_number},resuscitation,2,2026-04-01,Resus Council,face_to_face,{CHECKED}\n"
    )
    response = await post_csv(client, headers, text)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 2
    assert response.json()["kind"] == "core_skills"
    assert await count_records(session) == 2
    multipart = await client.post(
        f"{API}/records/import",
        params={"kind": "core_skills"},
        files={"file": ("skills.csv", text.encode(), "text/csv")},
        headers=headers,
    )
    assert multipart.status_code == 201, multipart.text
    assert await count_records(session) == 4


async def test_a_file_with_bad_rows_gets_the_full_report_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World
) -> None:
    headers = await issuer(session, app, world.tree.trust)
    text = (
        f"{HEADER}\n"
        f"{world.doctor.gmc_number},fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED}\n"
        f"7999999,fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED}\n"
        f"{world.other.gmc_number},fire_safety,2,2026-03-01,ELfH,e_learning,{CHECKED}\n"
        f"{world.other.gmc_number},resuscitation,1,2026-03-01,,e_learning,{CHECKED}\n"
    )
    response = await post_csv(client, headers, text)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_rejected"
    assert (
        body["detail"]
        == "The core_skills file was not imported: 3 problem(s) in 3 row(s). Nothing was written."
    )
    assert body["rows"] == [
        {"row": 3, "column": "gmc_number", "reason": "no registered person has the GMC number 7999999"},
        {"row": 4, "column": "level", "reason": "must be 1 for Fire safety"},
        {"row": 5, "column": "learning_provider", "reason": "is required"},
    ]
    assert await count_records(session) == 0


async def test_rows_for_another_organisation_are_forbidden(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World
) -> None:
    headers = await issuer(session, app, world.tree.trust)
    text = (
        f"{HEADER},origin_organisation_code\n"
        f"{world.doctor.gmc_number},fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED},RRK\n"
        f"{world.doctor.gmc_number},fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED},RJ1\n"
    )
    response = await post_csv(client, headers, text)
    assert response.status_code == 403
    assert response.json()["rows"] == [
        {
            "row": 3,
            "column": "origin_organisation_code",
            "reason": "you may submit records only for your organisation (RRK)",
        }
    ]
    assert await count_records(session) == 0


async def test_occupational_health_rows_never_echo_a_value_and_the_kind_is_required(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World
) -> None:
    headers = await issuer(session, app, world.tree.trust)
    text = (
        "gmc_number,item,outcome,assessed_on,assurance_policy,assurance_outcome,verification_method\n"
        f"{world.doctor.gmc_number},hepatitis_b,HBsAg positive,2026-10-01,OH,verified,clinical_assessment\n"
    )
    refused = await post_csv(client, headers, text, "occupational_health")
    assert refused.status_code == 422
    assert "HBsAg" not in refused.text
    no_kind = await client.post(
        f"{API}/records/import", content=b"x", headers={**headers, "content-type": "text/csv"}
    )
    assert no_kind.status_code == 422
    assert errors(no_kind) == {"query.kind": "missing required query parameter"}, no_kind.text
    wrong_type = await client.post(
        f"{API}/records/import", params={"kind": "core_skills"}, json={"a": 1}, headers=headers
    )
    assert wrong_type.status_code == 415


async def test_a_bad_gmc_number_has_one_reason_in_a_file_and_in_json(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World
) -> None:
    headers = await issuer(session, app, world.tree.trust)
    in_json = await submit(client, headers, core_skill(world.doctor, gmc_number="71234"))
    assert in_json.status_code == 422
    reason = errors(in_json)["body.gmc_number"]
    assert reason == "must be a GMC number of 7 digits"
    in_file = await post_csv(
        client, headers, f"{HEADER}\n71234,fire_safety,1,2026-03-01,ELfH,e_learning,{CHECKED}\n"
    )
    assert in_file.status_code == 422
    assert in_file.json()["rows"] == [{"row": 2, "column": "gmc_number", "reason": reason}]
    assert await count_records(session) == 0
