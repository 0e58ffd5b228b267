"""The placements API over HTTP, on SQLite and PostgreSQL: load, run, read, publish, list per site."""

import uuid

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.placements import engine, service
from service.placements.model import Parameters
from service.placements.models import DatasetFile, PlacementRecord, Run, Volume
from service.placements.schemas import MatchResult
from tests.factories import client_headers
from tests.placements.factories import EXAMPLE, coordinator, create_world, csv_headers, example, load_example


def _example_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in EXAMPLE.glob("*.csv")}


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_run_through_the_api_matches_the_cli_on_the_same_files(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    response = await client.post(
        f"/api/v1/placements/datasets/{dataset}/runs", json={"mode": "optimal"}, headers=headers
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["summary"]["matched"] == 5
    assert run["summary"]["unmatched"] == 1
    assert len(run["input_sha256"]) == 64
    result = await client.get(f"/api/v1/placements/runs/{run['id']}", headers=headers)
    assert result.status_code == 200
    assert result.headers["cache-control"] == "no-store"
    api = msgspec.json.decode(result.content, type=MatchResult)
    cli = engine.run(_example_files(), "optimal", Parameters())
    assert [(p.trainee_id, p.site_code, p.value) for p in api.placements] == [
        (p.trainee_id, p.site_code, p.value) for p in cli.placements
    ]
    assert api.summary.total_value == cli.summary.total_value
    assert set(msgspec.json.decode(result.content)) == {"summary", "placements", "unmatched"}
    csv_result = await client.get(f"/api/v1/placements/runs/{run['id']}?format=csv", headers=headers)
    assert csv_result.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_result.text.splitlines()[0] == ",".join(engine.CSV_COLUMNS)


async def test_the_stored_hash_is_the_hash_of_the_exported_inputs(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    """Export the inputs, run them with the CLI's engine: same SHA-256, same placements."""
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    response = await client.post(
        f"/api/v1/placements/datasets/{dataset}/runs", json={"mode": "stable", "seed": 7}, headers=headers
    )
    run = response.json()
    stored = await session.get(Run, uuid.UUID(run["id"]))
    assert stored is not None
    assert (stored.mode, stored.seed, stored.training_share, stored.rotation_months) == ("stable", 7, 0.5, 6)
    from service.auth import Principal

    admin = Principal(subject="test", kind="client", role=Role.ADMIN, organisation=None)
    files = await service.export_inputs(session, admin, uuid.UUID(dataset))
    again = engine.run(files, "stable", Parameters(seed=7))
    assert again.summary.input_sha256 == run["input_sha256"] == stored.input_sha256
    listed = await client.get(f"/api/v1/placements/datasets/{dataset}/runs", headers=headers)
    assert [r["id"] for r in listed.json()["items"]] == [run["id"]]


async def test_gates_in_the_run_request_are_applied_and_reported(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    body = {
        "excluded_sites": [{"site_code": "NVC11", "reason": "failed the additionality check"}],
        "excluded_trainee_sites": [
            {
                "trainee_id": "7100001",
                "site_code": "NT402",
                "reason": "passport does not meet the site's policy",
            }
        ],
    }
    response = await client.post(f"/api/v1/placements/datasets/{dataset}/runs", json=body, headers=headers)
    assert response.status_code == 201, response.text
    exclusions = response.json()["summary"]["exclusions"]
    assert exclusions["sites"] == [
        {"site_code": "NVC11", "reason": "failed the additionality check", "trainees_affected": 1}
    ]
    assert exclusions["trainee_sites"][0]["trainee_id"] == "7100001"
    result = msgspec.json.decode(
        (await client.get(f"/api/v1/placements/runs/{response.json()['id']}", headers=headers)).content,
        type=MatchResult,
    )
    assert "7100004" in {u.trainee_id for u in result.unmatched}
    assert all(p.site_code != "NVC11" for p in result.placements)


async def test_publishing_creates_placement_records_listed_per_site(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    ids = await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    run = (
        await client.post(
            f"/api/v1/placements/datasets/{dataset}/runs", json={"start_date": "2027-08-04"}, headers=headers
        )
    ).json()
    assert (run["start_date"], run["end_date"]) == ("2027-08-04", "2028-02-03")
    published = await client.post(f"/api/v1/placements/runs/{run['id']}/publish", json={}, headers=headers)
    assert published.status_code == 201, published.text
    assert published.json() == {
        "run_id": run["id"],
        "records": 5,
        "start_date": "2027-08-04",
        "end_date": "2028-02-03",
        "passport_records": 5,
    }
    records = (await session.scalars(select(PlacementRecord).order_by(PlacementRecord.gmc_number))).all()
    assert (records[0].gmc_number, records[0].site_code, records[0].grade) == ("7100001", "NT402", "ST4")
    assert records[0].person_id == ids["7100001"]
    again = await client.post(
        f"/api/v1/placements/runs/{run['id']}/publish", json={"start_date": "2027-08-04"}, headers=headers
    )
    assert again.status_code == 409
    host = await client_headers(session, app, Role.VERIFIER, "NT301")
    listed = await client.get("/api/v1/placements/sites/NT301/placements", headers=host)
    assert listed.status_code == 200
    assert {r["gmc_number"] for r in listed.json()["items"]} == {"7100002", "7100005"}
    provider = await client_headers(session, app, Role.ISSUER, "NT3")
    assert (
        await client.get("/api/v1/placements/sites/nt301/placements", headers=provider)
    ).status_code == 200
    other = await client_headers(session, app, Role.VERIFIER, "NT402")
    refused = await client.get("/api/v1/placements/sites/NT301/placements", headers=other)
    assert refused.status_code == 403
    elsewhere = await coordinator(session, app, "Y59")
    assert (await client.get("/api/v1/placements/sites/NT301/placements", headers=elsewhere)).json()[
        "items"
    ] == []
    # what other domains read
    assert (
        await service.placements_hosted(
            session, "NT301", start=records[0].start_date, end=records[0].end_date
        )
        == 2
    )
    found = await service.placement_records(session, start=records[0].start_date, end=records[0].end_date)
    assert len(found) == 5


async def test_overlapping_publication_is_refused(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    runs = f"/api/v1/placements/datasets/{dataset}/runs"
    first = (await client.post(runs, json={"start_date": "2027-08-04"}, headers=headers)).json()
    second = (
        await client.post(runs, json={"mode": "fair", "start_date": "2027-10-01"}, headers=headers)
    ).json()
    ok = await client.post(f"/api/v1/placements/runs/{first['id']}/publish", json={}, headers=headers)
    assert ok.status_code == 201
    clash = await client.post(
        f"/api/v1/placements/runs/{second['id']}/publish", json={"start_date": "2027-10-01"}, headers=headers
    )
    assert clash.status_code == 409
    assert "already have a placement" in clash.json()["detail"]


async def test_bad_files_are_refused_row_by_row_and_nothing_is_stored(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    response = await client.post("/api/v1/placements/datasets", json={"name": "Plan"}, headers=headers)
    dataset = response.json()["id"]
    base = f"/api/v1/placements/datasets/{dataset}/files"
    early = await client.post(
        f"{base}/capacity", content=example("capacity.csv"), headers=csv_headers(headers)
    )
    assert early.status_code == 422
    assert early.json()["rows"][0]["reason"] == "load the dataset's sites.csv first: this file refers to it"
    wrong_site = (
        example("sites.csv")
        .replace(b"Example Hospital London", b"Another Name")
        .replace(b"NVC11,Clearview", b"RRK,Clearview")
    ) + b"NZ999,Nowhere Clinic,QMJ,51.5,-0.1\n"
    refused = await client.post(f"{base}/sites", content=wrong_site, headers=csv_headers(headers))
    assert refused.status_code == 422
    assert refused.json()["code"] == "import_rejected"
    assert refused.json()["rows"] == [
        {"row": 2, "column": "name", "reason": "the registry names NT301 'Example Hospital London'"},
        {
            "row": 4,
            "column": "site_code",
            "reason": "RRK is an organisation of kind nhs_trust, not an independent site",
        },
        {"row": 5, "column": "site_code", "reason": "no independent site has the code NZ999 in the registry"},
    ]
    assert await _count(session, DatasetFile) == 0
    unknown = example("trainees.csv") + b"7999999,ST3,trauma_and_orthopaedics,51.5,-0.1,30\n"
    refused = await client.post(f"{base}/trainees", content=unknown, headers=csv_headers(headers))
    assert refused.json()["rows"] == [
        {"row": 8, "column": "trainee_id", "reason": "no registered person has the GMC number 7999999"}
    ]
    negative = example("volumes.csv").replace(b",480\n", b",-480\n", 1)
    refused = await client.post("/api/v1/placements/volumes", content=negative, headers=csv_headers(headers))
    assert refused.json()["rows"] == [
        {"row": 3, "column": "nhs_funded_count", "reason": "must be a whole number from 0 to 10,000,000"}
    ]
    assert await _count(session, Volume) == 0
    assert (await client.post(f"{base}/sites", json={"a": 1}, headers=headers)).status_code == 415
    assert (
        await client.post(f"{base}/nonsense", content=b"x", headers=csv_headers(headers))
    ).status_code == 404


async def test_a_run_on_an_incomplete_dataset_names_the_missing_files(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = (
        await client.post("/api/v1/placements/datasets", json={"name": "Plan"}, headers=headers)
    ).json()["id"]
    response = await client.post(f"/api/v1/placements/datasets/{dataset}/runs", json={}, headers=headers)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"sites.csv", "capacity.csv", "trainees.csv"} <= fields
    assert await _count(session, Run) == 0
    bad = await client.post(
        f"/api/v1/placements/datasets/{dataset}/runs", json={"mode": "best"}, headers=headers
    )
    assert bad.status_code == 422


async def test_datasets_belong_to_their_training_office(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    london = await coordinator(session, app, "Y56")
    south_east = await coordinator(session, app, "Y59")
    dataset = (
        await client.post("/api/v1/placements/datasets", json={"name": "Plan"}, headers=london)
    ).json()["id"]
    assert (await client.get(f"/api/v1/placements/datasets/{dataset}", headers=south_east)).status_code == 404
    assert (await client.get("/api/v1/placements/datasets", headers=south_east)).json()["items"] == []
    mine = await client.get(f"/api/v1/placements/datasets/{dataset}", headers=london)
    assert mine.json()["organisation_code"] == "Y56"
    empty = await client.get(f"/api/v1/placements/datasets/{dataset}/files/preferences", headers=london)
    assert empty.text == "trainee_id,site_code,rank\n"


async def test_logbook_loads_replace_the_named_trainees_entries(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    import datetime as dt

    await create_world(session)
    headers = await coordinator(session, app)
    for _ in range(2):  # loading the same file twice leaves one copy
        response = await client.post(
            "/api/v1/placements/logbook", content=example("logbook.csv"), headers=csv_headers(headers)
        )
        assert response.status_code == 201
    assert response.json() == {"file": "logbook.csv", "rows": 8, "replaced": 8}
    entries = await service.logbook_entries(session, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    assert len(entries) == 8
    assert entries[0].gmc_number == "7100002"


async def test_odd_addresses_and_dates_are_refused_cleanly(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    assert (await client.get("/api/v1/placements/sites/x'--/placements", headers=headers)).status_code == 404
    assert (await client.get("/api/v1/placements/sites/RRK/placements", headers=headers)).status_code == 404
    dataset = await load_example(client, headers)
    run = (await client.post(f"/api/v1/placements/datasets/{dataset}/runs", json={}, headers=headers)).json()
    far = await client.post(
        f"/api/v1/placements/runs/{run['id']}/publish", json={"start_date": "9999-12-31"}, headers=headers
    )
    assert far.status_code == 422
    assert far.json()["errors"] == [
        {"field": "body.start_date", "reason": "must be between 1900-01-01 and 2099-12-31"}
    ]
    backwards = await client.post(
        f"/api/v1/placements/runs/{run['id']}/publish",
        json={"start_date": "2027-08-04", "end_date": "2027-08-01"},
        headers=headers,
    )
    assert backwards.status_code == 422
    assert await _count(session, PlacementRecord) == 0
