"""The first day a policy may be judged on: the day the request is made, in England (decision 0040)."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from service.passport.policy import day_in_england, judging_day_refusal

LONDON = ZoneInfo("Europe/London")


def test_the_day_is_the_day_in_england_in_summer_and_winter() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in British Summer Time; in winter London is on UTC
    summer = dt.datetime(2027, 6, 30, 23, 30, tzinfo=dt.UTC)
    assert day_in_england(summer) == dt.date(2027, 7, 1)
    assert judging_day_refusal(dt.date(2027, 6, 30), summer) == (
        "must not be before 2027-07-01, the day the request is made"
    )
    assert judging_day_refusal(dt.date(2027, 7, 1), summer) is None
    winter = dt.datetime(2027, 12, 31, 23, 30, tzinfo=dt.UTC)
    assert day_in_england(winter) == dt.date(2027, 12, 31)
    assert judging_day_refusal(dt.date(2027, 12, 31), winter) is None


@given(
    now=st.datetimes(
        min_value=dt.datetime(2000, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(dt.UTC),
    ),
    offset=st.integers(min_value=-800_000, max_value=3_000),
)
def test_a_day_is_refused_exactly_when_it_is_before_the_day_of_the_request(
    now: dt.datetime, offset: int
) -> None:
    first = now.astimezone(LONDON).date()
    try:
        on = first + dt.timedelta(days=offset)
    except OverflowError:
        on = dt.date.min
    refusal = judging_day_refusal(on, now)
    assert (refusal is not None) == (on < first)
    if refusal is not None:
        assert first.isoformat() in refusal
