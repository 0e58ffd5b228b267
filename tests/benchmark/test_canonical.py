"""Financial years, staff groups and the input hash."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.benchmark.canonical import (
    ROUTES,
    SUBMITTED_STAFF_GROUPS,
    category_of,
    fy_end,
    fy_label,
    fy_of,
    fy_start,
    parse_financial_year,
)
from service.benchmark.schemas import Route, SubmittedStaffGroup
from tests.benchmark.factories import inputs, many


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
