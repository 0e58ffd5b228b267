"""The CSTF reference data and calendar arithmetic (service/passport/cstf.py)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from service.passport import repository
from service.passport.cstf import SUBJECT_CODES, SUBJECTS, add_months, default_periods, describe, levels_text


def test_the_framework_has_its_eleven_subjects_with_their_levels() -> None:
    assert list(SUBJECTS) == list(SUBJECT_CODES)
    assert len(SUBJECTS) == 11
    assert SUBJECTS["infection_prevention_control"].levels == (1, 2)
    assert SUBJECTS["moving_handling"].levels == (1, 2)
    assert SUBJECTS["safeguarding_children"].levels == (1, 2, 3)
    assert SUBJECTS["resuscitation"].levels == (1, 2, 3)
    assert SUBJECTS["fire_safety"].levels == (1,)
    assert levels_text("resuscitation") == "1, 2 or 3"
    assert describe("resuscitation", 2) == "Resuscitation level 2"
    assert describe("fire_safety", 1) == "Fire safety"


async def test_the_migration_seeds_the_reference_table_with_the_defaults(session: AsyncSession) -> None:
    rows = await repository.renewal_periods(session)
    assert sorted((r.subject, r.level, r.renewal_months) for r in rows) == sorted(default_periods())
    assert all(r.updated_at is None for r in rows)


def test_add_months_examples() -> None:
    assert add_months(dt.date(2025, 1, 31), 1) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2023, 3, 1), 36) == dt.date(2026, 3, 1)
    assert add_months(dt.date(2025, 11, 15), 2) == dt.date(2026, 1, 15)


@given(st.dates(max_value=dt.date(2090, 1, 1)), st.integers(min_value=1, max_value=120))
def test_add_months_lands_in_the_right_month_and_never_goes_back(day: dt.date, months: int) -> None:
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later > day
    assert later.day == day.day or later.day < day.day  # clipped to the end of a shorter month only
    assert add_months(day, 0) == day
