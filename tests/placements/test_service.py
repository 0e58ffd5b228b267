"""What other domains read from placements: records, hosted counts, logbook entries, volumes."""

import datetime as dt

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.placements import service
from tests.placements.factories import coordinator, create_world, load_example

AUGUST = dt.date(2027, 8, 4)
END = dt.date(2028, 2, 3)


async def _published(session: AsyncSession, app: Litestar, client: httpx.AsyncClient) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    run = (
        await client.post(
            f"/api/v1/placements/datasets/{dataset}/runs",
            json={"start_date": AUGUST.isoformat()},
            headers=headers,
        )
    ).json()
    published = await client.post(f"/api/v1/placements/runs/{run['id']}/publish", json={}, headers=headers)
    assert published.status_code == 201


async def test_records_overlapping_a_range(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await _published(session, app, client)
    inside = await service.placement_records(session, start=dt.date(2027, 10, 1), end=dt.date(2027, 10, 31))
    assert {(r.gmc_number, r.site_code) for r in inside} == {
        ("7100001", "NT402"),
        ("7100002", "NT301"),
        ("7100003", "NT402"),
        ("7100004", "NVC11"),
        ("7100005", "NT301"),
    }
    assert all((r.start_date, r.end_date) == (AUGUST, dt.date(2028, 2, 3)) for r in inside)
    assert (
        await service.placement_records(session, start=dt.date(2028, 2, 4), end=dt.date(2028, 12, 31)) == []
    )
    at_site = await service.placement_records(session, start=AUGUST, end=AUGUST, site_codes=["NVC11"])
    assert [(r.gmc_number, r.specialty, r.grade) for r in at_site] == [("7100004", "ophthalmology", "ST5")]


async def test_placements_hosted(session: AsyncSession, app: Litestar, client: httpx.AsyncClient) -> None:
    await _published(session, app, client)
    assert (
        await service.placements_hosted(session, "nt402", start=dt.date(2027, 4, 1), end=dt.date(2028, 3, 31))
        == 2
    )
    assert (
        await service.placements_hosted(session, "NT402", start=dt.date(2026, 4, 1), end=dt.date(2027, 3, 31))
        == 0
    )


async def test_volumes_and_logbook_for_the_benchmark(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await _published(session, app, client)
    volumes = await service.procedure_volumes(session, "2025-26")
    assert len(volumes) == 6
    assert (volumes[0].site_code, volumes[0].procedure_group, volumes[0].nhs_funded_count) == (
        "NT301",
        "carpal_tunnel_decompression",
        240,
    )
    assert len(await service.procedure_volumes(session, "2024-25")) == 1
    march = await service.logbook_entries(session, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
    assert [(e.gmc_number, e.supervision) for e in march] == [
        ("7100001", "S-TS"),
        ("7100001", "P"),
        ("7100001", "A"),
    ]


async def test_the_benchmark_reads_placements_through_its_source_protocol(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    from service.benchmark.sources import PlacementsSource

    source: PlacementsSource = service.BenchmarkSource()  # mypy checks the shape against the protocol
    await _published(session, app, client)
    placements = await source.placements(
        session, site_codes=["NT301"], start=dt.date(2027, 4, 1), end=dt.date(2028, 3, 31)
    )
    assert sorted(placements) == [  # a doctor is named by GMC number, as in the logbook
        ("7100002", "NT301", "trauma_and_orthopaedics", "medical", "ST6", "doctors_in_training", AUGUST, END),
        ("7100005", "NT301", "trauma_and_orthopaedics", "medical", "ST3", "doctors_in_training", AUGUST, END),
    ]
    counts = await service.BenchmarkSource().logbook_counts(
        session, site_codes=["NVC11", "RRK"], years=[2025]
    )
    assert sorted(counts.rows()) == [
        (2025, "7100001", "RRK", "total_knee_replacement", "A", 1),
        (2025, "7100001", "RRK", "total_knee_replacement", "P", 1),
        (2025, "7100001", "RRK", "total_knee_replacement", "S-TS", 1),
        (2025, "7100004", "NVC11", "cataract", "P", 1),
        (2025, "7100004", "NVC11", "cataract", "S-TS", 1),
    ]
    assert counts.columns == [
        "financial_year",
        "trainee_id",
        "site_code",
        "procedure_group",
        "supervision",
        "entries",
    ]
    none = await service.BenchmarkSource().logbook_counts(session, site_codes=["NVC11"], years=[2026])
    assert none.height == 0
    april = await service.BenchmarkSource().logbook_counts(session, site_codes=["RRK"], years=[2026])
    assert april.rows() == [
        (2026, "7100001", "RRK", "total_hip_replacement", "S-TU", 1)
    ]  # 1 April opens 2026-27
    volumes = await source.volumes(session, site_codes=["NT301", "NVC11"], years=[2024, 2025])
    assert sorted(volumes) == [
        (2024, "NT301", "trauma_and_orthopaedics", "total_knee_replacement", 450),
        (2025, "NT301", "trauma_and_orthopaedics", "carpal_tunnel_decompression", 240),
        (2025, "NT301", "trauma_and_orthopaedics", "total_hip_replacement", 360),
        (2025, "NT301", "trauma_and_orthopaedics", "total_knee_replacement", 480),
        (2025, "NVC11", "ophthalmology", "cataract", 4800),
    ]
