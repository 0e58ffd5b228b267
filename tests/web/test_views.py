"""The pure functions behind the pages: record status, per-site counts, form values, plain words."""

import datetime as dt
import re

from hypothesis import given
from hypothesis import strategies as st

from service.errors import FieldError
from service.web.views import (
    EXPIRING_DAYS,
    example_date,
    field_name,
    financial_year,
    parse_date,
    parse_year,
    plain,
    problems_to_form,
    record_status,
    site_counts,
    year_label,
)

DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@given(DAYS, st.integers(min_value=-2000, max_value=2000))
def test_a_record_is_expired_from_its_lapse_day_and_expiring_in_the_30_days_before(
    today: dt.date, offset: int
) -> None:
    lapses = today + dt.timedelta(days=offset)
    status = record_status(lapses, today)
    expected = "expired" if offset <= 0 else "expiring" if offset <= EXPIRING_DAYS else "in_date"
    assert status == expected


@given(DAYS, st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=400))
def test_status_only_gets_worse_as_days_pass(today: dt.date, offset: int, later: int) -> None:
    order = {"in_date": 0, "expiring": 1, "expired": 2}
    lapses = today + dt.timedelta(days=offset)
    assert (
        order[record_status(lapses, today)] <= order[record_status(lapses, today + dt.timedelta(days=later))]
    )


def test_a_record_without_an_end_has_no_end() -> None:
    assert record_status(None, dt.date(2026, 1, 1)) == "no_end"


@given(
    st.lists(st.tuples(st.sampled_from(["NT301", "NT402", "NVC11", "NH6Y9"]), st.floats(0, 500)), max_size=50)
)
def test_per_site_counts_add_up_to_the_placements(placements: list[tuple[str, float]]) -> None:
    counts = site_counts(placements)
    assert sum(c.placed for c in counts) == len(placements)
    assert {c.site_code for c in counts} == {code for code, _ in placements}
    assert abs(sum(c.value for c in counts) - sum(v for _, v in placements)) < 0.01 * (len(placements) + 1)
    assert [c.placed for c in counts] == sorted((c.placed for c in counts), reverse=True)


@given(DAYS)
def test_a_day_falls_in_the_financial_year_from_1_april(day: dt.date) -> None:
    year = financial_year(day)
    assert dt.date(year, 4, 1) <= day <= dt.date(year + 1, 3, 31)


@given(st.integers(min_value=2000, max_value=2098))
def test_a_financial_year_is_read_as_written_either_way(year: int) -> None:
    assert parse_year(str(year), first=2000, last=2098) == year
    assert parse_year(year_label(year), first=2000, last=2098) == year
    assert parse_year(f" {year}/{(year + 1) % 100:02d} ", first=2000, last=2098) == year


def test_a_year_out_of_range_or_mislabelled_says_why() -> None:
    assert parse_year("1999", first=2000, last=2026) == "Enter a financial year from 2000 to 2026"
    assert (
        parse_year("2025-27", first=2000, last=2026)
        == "2025-27 is not a financial year: did you mean 2025-26?"
    )
    assert str(parse_year("soon", first=2000, last=2026)).startswith("Enter a financial year as 4 digits")


def test_dates_are_read_from_what_a_date_field_sends() -> None:
    assert parse_date(" 2027-08-04 ") == dt.date(2027, 8, 4)
    assert parse_date("") is None
    assert parse_date("2027-02-30", today=dt.date(2026, 12, 1)) == "Enter a real date, like 2027-08-01"
    assert parse_date("04/08/2027", today=dt.date(2026, 12, 1)) == "Enter a real date, like 2027-08-01"


def test_the_example_date_is_about_eight_months_ahead_of_today_so_never_in_the_past() -> None:
    today = dt.datetime.now(dt.UTC).date()
    found = re.fullmatch(r"Enter a real date, like (\d{4}-\d{2}-\d{2})", str(parse_date("4 August")))
    assert found, "the message gives a date in the form the field takes"
    example = dt.date.fromisoformat(found.group(1))
    assert today + dt.timedelta(days=200) <= example <= today + dt.timedelta(days=250)
    assert example_date(dt.date(2026, 12, 31)) == dt.date(2027, 8, 28), "every month has a 28th"
    assert example_date(dt.date(2027, 5, 4)) == dt.date(2028, 1, 4), "across the new year"


def test_problems_are_put_next_to_their_fields_in_plain_words() -> None:
    labels = {"start_date": "Start date", "end_date": "End date"}
    errors = [
        FieldError("body.end_date", "must be on or after start_date"),
        FieldError("body.end_date", "must be before 2100-01-01"),
        FieldError("body.mode", "Expected `str`, got `int`"),
    ]
    found = problems_to_form("The placements would end before they start.", errors, labels)
    assert found.fields == {"end_date": "Must be on or after start date; Must be before 2100-01-01"}
    assert found.general == ["The placements would end before they start.", "Mode: Expected str, got int"]


@given(
    st.sampled_from(["body", "query", "path", "body[3]", "form"]),
    st.from_regex(r"[a-z]{1,8}(_[a-z]{1,8}){0,2}", fullmatch=True),
)
def test_a_field_path_names_its_field(prefix: str, name: str) -> None:
    assert field_name(f"{prefix}.{name}") == name


def test_plain_words_keep_unknown_names() -> None:
    assert plain("unknown_thing is wrong", {}) == "Unknown_thing is wrong"
