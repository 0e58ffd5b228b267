"""The logbook counts kept on write (``logbook_year_counts``) always equal the GROUP BY of the entries,
after any sequence of logbook loads and replacements, on SQLite and PostgreSQL."""

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from service.placements import repository, service
from service.workforce.models import Person
from tests.factories import create_organisation, now
from tests.placements.builders import csv_bytes

DOCTORS = ("7200001", "7200002", "7200003")
SITES = ("NT301", "RRK")
GROUPS = ("total_knee_replacement", "cataract")
SUPERVISION = ("O", "P", "S-TS")
HEADER = ("trainee_id", "procedure_group", "date", "supervision", "site_code")
FIRST_DAY = dt.date(2025, 3, 25)  # a week before 1 April: entries fall either side of a financial year

entry = st.tuples(
    st.sampled_from(GROUPS),
    st.integers(0, 14).map(lambda d: FIRST_DAY + dt.timedelta(days=d)),
    st.sampled_from(SUPERVISION),
    st.sampled_from(SITES),
)
load = st.dictionaries(st.sampled_from(DOCTORS), st.lists(entry, min_size=1, max_size=6), min_size=1)
"""One logbook file: the trainees it names and their entries (it replaces those trainees' logbooks)."""


async def _world(session: AsyncSession) -> dict[str, uuid.UUID]:
    await create_organisation(session, "NT3", kind="independent_provider")
    await create_organisation(session, "NT301", kind="independent_site", parent_code="NT3")
    await create_organisation(session, "RRK")
    ids = {}
    for number in DOCTORS:
        person = Person(
            id=uuid.uuid4(),
            given_name="Dr",
            family_name=f"Trainee {number}",
            gmc_number=number,
            staff_group="medical",
            grade="ST4",
            specialty="trauma_and_orthopaedics",
            created_at=now(),
        )
        session.add(person)
        ids[number] = person.id
    await session.flush()
    return ids


def _file(logbooks: dict[str, list[tuple[str, dt.date, str, str]]]) -> bytes:
    rows = [
        (number, group, day.isoformat(), supervision, site)
        for number, entries in logbooks.items()
        for group, day, supervision, site in entries
    ]
    return csv_bytes(HEADER, rows)


def _expected(
    held: dict[str, list[tuple[str, dt.date, str, str]]], ids: dict[str, uuid.UUID]
) -> list[tuple[int, str, str, str, str, str, int]]:
    """The counts worked out in Python from the logbooks the trainees should now hold."""
    counts: dict[tuple[int, str, str, str, str, str], int] = {}
    for number, entries in held.items():
        for group, day, supervision, site in entries:
            year = day.year if day.month >= 4 else day.year - 1
            key = (year, site, group, supervision, str(ids[number]), number)
            counts[key] = counts.get(key, 0) + 1
    return sorted((*key, n) for key, n in counts.items())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(loads=st.lists(load, min_size=1, max_size=4))
async def test_counts_equal_the_entries_after_any_loads_and_replacements(
    session: AsyncSession, loads: list[dict[str, list[tuple[str, dt.date, str, str]]]]
) -> None:
    savepoint = await session.begin_nested()
    try:
        ids = await _world(session)
        held: dict[str, list[tuple[str, dt.date, str, str]]] = {}
        for logbooks in loads:
            await service.load_logbook(session, _file(logbooks), now())
            held.update(logbooks)  # a trainee the file does not name keeps their logbook
            kept = await repository.kept_logbook_counts(session)
            assert kept == await repository.raw_logbook_counts(session)
            assert kept == _expected(held, ids)
    finally:
        await savepoint.rollback()


async def test_the_benchmark_reads_the_counts_of_the_latest_load(session: AsyncSession) -> None:
    await _world(session)
    first = [("total_knee_replacement", dt.date(2025, 5, 1), "P", "NT301")] * 3
    await service.load_logbook(session, _file({"7200001": first, "7200002": first[:1]}), now())
    second = [("cataract", dt.date(2026, 3, 31), "O", "NT301")]
    await service.load_logbook(session, _file({"7200001": second}), now())  # replaces 7200001's only
    counts = await service.BenchmarkSource().logbook_counts(session, site_codes=["NT301"], years=[2025])
    assert sorted(counts.rows()) == [
        (2025, "7200001", "NT301", "cataract", "O", 1),
        (2025, "7200002", "NT301", "total_knee_replacement", "P", 1),
    ]


async def test_rebuilding_gives_the_counts_the_writes_kept(session: AsyncSession) -> None:
    await _world(session)
    entries = [
        ("total_knee_replacement", dt.date(2025, 3, 31), "P", "NT301"),
        ("total_knee_replacement", dt.date(2025, 4, 1), "P", "NT301"),
        ("cataract", dt.date(2025, 4, 1), "S-TS", "RRK"),
    ]
    await service.load_logbook(session, _file({"7200001": entries, "7200003": entries[1:]}), now())
    kept = await repository.kept_logbook_counts(session)
    assert len(kept) == 5
    assert await repository.rebuild_logbook_counts(session) == 5
    assert await repository.kept_logbook_counts(session) == kept
