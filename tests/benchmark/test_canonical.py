"""Financial years, staff groups and the input hash."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.benchmark.canonical import (
    GROUP_COUNTS,
    GROUP_VOLUMES,
    PEOPLE,
    PLACEMENTS,
    ROUTES,
    SUBMITTED_STAFF_GROUPS,
    category_of,
    fy_end,
    fy_label,
    fy_of,
    fy_start,
    logbook_table,
    parse_financial_year,
)
from service.benchmark.schemas import Route, SubmittedStaffGroup
from tests.benchmark.factories import inputs, many

D = dt.date


@given(st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2097, 12, 31)))
def test_every_day_falls_in_the_financial_year_that_contains_it(day: dt.date) -> None:
    year = fy_of(day)
    assert fy_start(year) <= day <= fy_end(year)


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("2025", 2025),
        ("2025-26", 2025),
        ("2025/26", 2025),
        ("1999-00", None),
        ("2025-27", None),
        ("25-26", None),
        ("2099-00", None),
        ("", None),
    ],
)
def test_financial_years_are_read_strictly(text: str, year: int | None) -> None:
    assert parse_financial_year(text) == year


def test_labels() -> None:
    assert fy_label(2025) == "2025-26"
    assert fy_label(2099 - 1) == "2098-99"


@pytest.mark.parametrize(
    ("group", "grade", "column"),
    [
        ("medical", "FY1", "foundation"),
        ("medical", "CT3", "core"),
        ("medical", "ST1", "core"),
        ("medical", "ST2", "core"),
        ("medical", "ST3", "specialty"),
        ("medical", "ST8", "specialty"),
        ("medical", "other", "other"),
        ("medical", None, "other"),
        ("nursing", None, "nurse"),
        ("allied_health", "other", "allied_health"),
        ("other", None, "other"),
    ],
)
def test_staff_group_columns(group: str, grade: str | None, column: str) -> None:
    assert category_of(group, grade) == column


def test_the_wire_literals_spell_the_vocabularies() -> None:
    assert Route.__args__ == ROUTES  # type: ignore[attr-defined]
    assert SubmittedStaffGroup.__args__ == SUBMITTED_STAFF_GROUPS  # type: ignore[attr-defined]


def test_the_hash_depends_on_the_data_not_on_row_order() -> None:
    rows = many(6, "NT301", "2025-05-01", "2025-06-01")
    first = inputs(placements=rows)
    shuffled = inputs(placements=list(reversed(rows)))
    changed = inputs(placements=rows[:-1])
    assert first.sha256() == shuffled.sha256()
    assert first.sha256() != changed.sha256()
    assert first.sha256() != inputs(placements=rows, year=2024).sha256()


def test_rows_outside_the_scope_are_dropped_before_hashing() -> None:
    rows = many(6, "NT301", "2025-05-01", "2025-06-01")
    nhs = many(6, "RAP", "2025-05-01", "2025-06-01", first=7_500_000)
    assert inputs(placements=rows).sha256() == inputs(placements=rows + nhs).sha256()
    assert inputs(placements=rows + nhs).placements.height == 6


def test_logbook_counts_from_a_finer_source_are_summed_per_key() -> None:
    row = (2025, "7000001", "ST4", "NT301", "ent", "P", 2)
    merged = inputs(logbook=[row, row])
    assert merged.logbook["entries"].to_list() == [4]
    assert merged.sha256() == inputs(logbook=[(*row[:6], 4)]).sha256()
    assert isinstance(merged.logbook, pl.DataFrame)


# ---------------------------------------------------------------- a logbook entry's specialty and grade

T_AND_O, PLASTICS, OPHTHALMOLOGY = "trauma_and_orthopaedics", "plastic_surgery", "ophthalmology"


def _counts(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """One P entry in 2025 per (trainee, site, procedure group)."""
    return pl.DataFrame(
        [(2025, trainee, site, group, "P", 1) for trainee, site, group in rows],
        schema=GROUP_COUNTS,
        orient="row",
    )


def _volumes(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """(site, specialty, procedure group) with a volume in 2025."""
    return pl.DataFrame(
        [(2025, site, specialty, group, 100) for site, specialty, group in rows],
        schema=GROUP_VOLUMES,
        orient="row",
    )


def _people(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=PEOPLE, orient="row")


NO_PLACEMENTS = pl.DataFrame(schema=PLACEMENTS)


def _specialties(table: pl.DataFrame) -> dict[tuple[str, str], str | None]:
    return {(t, s): sp for t, s, sp in table.select("trainee_id", "site_code", "specialty").iter_rows()}


def test_an_entry_counts_in_the_specialty_its_site_reports_the_group_under() -> None:
    # Hand surgery is in two curricula; first-by-name would put every case under plastic surgery.
    volumes = _volumes(("NT301", T_AND_O, "hand_surgery"), ("NT302", PLASTICS, "hand_surgery"))
    people = _people(("7000001", "ST4", T_AND_O), ("7000002", "ST5", PLASTICS))
    counts = _counts(
        ("7000001", "NT301", "hand_surgery"),
        ("7000002", "NT301", "hand_surgery"),  # a plastics trainee at a site that reports it under T&O
        ("7000002", "NT302", "hand_surgery"),
    )
    table = logbook_table(counts, volumes, NO_PLACEMENTS, people, [2024, 2025])
    assert _specialties(table) == {
        ("7000001", "NT301"): T_AND_O,
        ("7000002", "NT301"): T_AND_O,  # the site's procedures and its volume count the same cases
        ("7000002", "NT302"): PLASTICS,
    }


def test_a_site_reporting_a_group_under_several_specialties_takes_the_trainees() -> None:
    volumes = _volumes(("NT301", T_AND_O, "hand_surgery"), ("NT301", PLASTICS, "hand_surgery"))
    people = _people(
        ("7000001", "ST4", T_AND_O), ("7000002", "ST5", PLASTICS), ("7000003", "ST5", OPHTHALMOLOGY)
    )
    counts = _counts(
        ("7000001", "NT301", "hand_surgery"),
        ("7000002", "NT301", "hand_surgery"),
        ("7000003", "NT301", "hand_surgery"),  # neither of the site's: the first by name
    )
    table = logbook_table(counts, volumes, NO_PLACEMENTS, people, [2024, 2025])
    assert _specialties(table) == {
        ("7000001", "NT301"): T_AND_O,
        ("7000002", "NT301"): PLASTICS,
        ("7000003", "NT301"): PLASTICS,
    }


def test_without_the_sites_volume_the_trainees_specialty_then_the_others_agreement() -> None:
    volumes = _volumes(("NT302", OPHTHALMOLOGY, "cataract"))
    people = _people(("7000001", "ST4", T_AND_O), ("7000002", "ST5", None))
    counts = _counts(
        ("7000001", "NT301", "hand_surgery"),  # no volume of it anywhere: the trainee's specialty
        ("7000002", "NT301", "cataract"),  # no specialty registered: what the other sites all say
        ("7000002", "NT303", "hand_surgery"),  # nothing to go on
    )
    table = logbook_table(counts, volumes, NO_PLACEMENTS, people, [2024, 2025])
    assert _specialties(table) == {
        ("7000001", "NT301"): T_AND_O,
        ("7000002", "NT301"): OPHTHALMOLOGY,
        ("7000002", "NT303"): None,
    }


def test_the_grade_and_specialty_of_the_latest_placement_in_the_year_come_before_the_registered() -> None:
    placements = pl.DataFrame(
        [
            (
                "7000001",
                "NT301",
                T_AND_O,
                "medical",
                "ST3",
                "doctors_in_training",
                D(2025, 4, 2),
                D(2025, 8, 5),
            ),
            (
                "7000001",
                "NT301",
                T_AND_O,
                "medical",
                "ST4",
                "doctors_in_training",
                D(2025, 8, 6),
                D(2026, 2, 3),
            ),
        ],
        schema=PLACEMENTS,
        orient="row",
    )
    people = _people(("7000001", "ST6", PLASTICS), ("7000002", "CT2", T_AND_O))
    counts = pl.concat(
        [
            _counts(("7000001", "NT309", "hand_surgery"), ("7000002", "NT309", "hand_surgery")),
            pl.DataFrame(
                [(2024, "7000001", "NT309", "hand_surgery", "P", 1)], schema=GROUP_COUNTS, orient="row"
            ),
        ]
    )
    table = logbook_table(counts, _volumes(), placements, people, [2024, 2025])
    found = {
        (y, t): (g, sp)
        for y, t, g, sp in table.select("financial_year", "trainee_id", "grade", "specialty").iter_rows()
    }
    assert found == {
        (2025, "7000001"): ("ST4", T_AND_O),  # the placement starting in August, not the registered ST6
        (2025, "7000002"): ("CT2", T_AND_O),  # no placement: registered
        (2024, "7000001"): ("ST6", PLASTICS),  # no placement in 2024-25: registered
    }


def test_the_logbook_table_sums_the_groups_of_one_specialty() -> None:
    volumes = _volumes(
        ("NT301", T_AND_O, "total_hip_replacement"), ("NT301", T_AND_O, "total_knee_replacement")
    )
    counts = _counts(
        ("7000001", "NT301", "total_hip_replacement"), ("7000001", "NT301", "total_knee_replacement")
    )
    table = logbook_table(counts, volumes, NO_PLACEMENTS, None, [2024, 2025])
    assert table.rows() == [(2025, "7000001", None, "NT301", T_AND_O, "P", 2)]
