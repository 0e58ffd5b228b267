"""The additionality rules (service/additionality/rules.py) on constructed cases."""

import datetime as dt

import msgspec
import pytest

from service.additionality import rules
from service.additionality.rules import (
    ActivityMonth,
    ActivityParameters,
    CoolingOffParameters,
    EmployerWorkforce,
    LocalDrawParameters,
    Parameters,
    ShortageRole,
    TrainingReciprocityParameters,
)
from tests.additionality.factories import OTHER_ICB, START, D, entry, inputs, nhs, person, result


def with_parameters(**groups: object) -> Parameters:
    return msgspec.structs.replace(rules.DEFAULT_PARAMETERS, **groups)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2026, 4, 1), -6, D(2025, 10, 1)),
        (D(2026, 3, 31), -1, D(2026, 2, 28)),
        (D(2026, 12, 15), 1, D(2027, 1, 15)),
        (D(2026, 1, 15), -13, D(2024, 12, 15)),
        (D(2026, 5, 5), 0, D(2026, 5, 5)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_last_of_a_shorter_month(
    day: dt.date, months: int, expected: dt.date
) -> None:
    assert rules.add_months(day, months) == expected


def test_comparison_period_is_the_whole_months_before_the_offer_starts() -> None:
    months = rules.comparison_months(D(2026, 7, 15), ActivityParameters(comparison_months=3))
    assert months == [D(2026, 4, 1), D(2026, 5, 1), D(2026, 6, 1)]
    assert rules.baseline_months(ActivityParameters(baseline_financial_year=2019))[0] == D(2019, 4, 1)
    assert rules.baseline_months(ActivityParameters(baseline_financial_year=2019))[-1] == D(2020, 3, 1)


# ---------------------------------------------------------------- cooling-off


def _left(end: dt.date, **kwargs: object) -> rules.OfferInputs:
    return inputs(
        roster=[entry("p1")],
        people=[person("p1", nhs(end=end, **kwargs))],  # type: ignore[arg-type]
    )


def test_cooling_off_fails_for_a_shortage_hire_who_left_the_nhs_three_months_before() -> None:
    found = result("cooling_off", _left(D(2026, 1, 2)))
    assert found.verdict == "fail"
    assert [(e.kind, e.person_id, e.organisation_code, e.date) for e in found.evidence] == [
        ("left_nhs", "p1", "RRK", D(2026, 1, 2))
    ]
    assert found.evidence[0].count == (START - D(2026, 1, 2)).days


@pytest.mark.parametrize(
    ("end", "caught"),
    [
        (D(2025, 10, 1), True),  # exactly six months before the start: less than six months is not yet over
        (D(2025, 9, 30), False),  # one day more than six months before
        (D(2026, 3, 31), True),  # the day before
    ],
)
def test_cooling_off_window_boundaries(end: dt.date, caught: bool) -> None:
    assert result("cooling_off", _left(end)).verdict == ("fail" if caught else "pass")


def test_cooling_off_ignores_someone_still_in_another_nhs_post() -> None:
    offer = inputs(
        roster=[entry("p1")],
        people=[person("p1", nhs(end=D(2026, 2, 1)), nhs("RJ1", start=D(2026, 2, 2)))],
    )
    found = result("cooling_off", offer)
    assert (found.verdict, found.evidence) == ("pass", [])


def test_cooling_off_only_counts_shortage_roles() -> None:
    offer = inputs(
        roster=[entry("p1")],
        people=[person("p1", nhs(end=D(2026, 2, 1), group="other"), group="other")],
    )
    assert result("cooling_off", offer).verdict == "pass"


def test_cooling_off_matches_a_specialty_role_case_insensitively() -> None:
    roles = [ShortageRole(staff_group="medical", specialty="anaesthetics")]
    caught = inputs(
        roster=[entry("p1")],
        people=[
            person("p1", nhs(end=D(2026, 2, 1), group="medical", specialty="Anaesthetics"), group="medical")
        ],
        shortage_roles=roles,
    )
    other = inputs(
        roster=[entry("p1")],
        people=[person("p1", nhs(end=D(2026, 2, 1), group="medical", specialty="urology"), group="medical")],
        shortage_roles=roles,
    )
    assert result("cooling_off", caught).verdict == "fail"
    assert result("cooling_off", other).verdict == "pass"


def test_cooling_off_counts_from_when_the_person_starts_on_the_offer() -> None:
    """Someone joining in October who left the NHS in September is caught, though the offer began in April."""
    offer = inputs(
        roster=[entry("p1", start=D(2026, 10, 1))],
        people=[person("p1", nhs(end=D(2026, 9, 1)))],
    )
    assert result("cooling_off", offer).verdict == "fail"


def test_cooling_off_without_a_shortage_list_is_a_warning_saying_so() -> None:
    found = result("cooling_off", msgspec.structs.replace(_left(D(2026, 1, 2)), shortage_list_version=None))
    assert found.verdict == "warn"
    assert [e.kind for e in found.evidence] == ["no_shortage_list"]
    assert "No shortage list" in found.summary


def test_cooling_off_below_the_failure_count_warns() -> None:
    parameters = with_parameters(cooling_off=CoolingOffParameters(fail_at_people=2))
    assert result("cooling_off", _left(D(2026, 1, 2)), parameters).verdict == "warn"
    zero = with_parameters(cooling_off=CoolingOffParameters(months=0))
    assert result("cooling_off", _left(D(2026, 3, 31)), zero).verdict == "pass"


# ---------------------------------------------------------------- dual running


def test_dual_running_full_time_nhs_plus_rostered_sessions_fails() -> None:
    offer = inputs(roster=[entry("p1", sessions=2)], people=[person("p1", nhs(sessions=10))])
    found = result("dual_running", offer)
    assert found.verdict == "fail"
    assert found.measures["share"] == 1.0
    (row,) = found.evidence
    assert (row.person_id, row.organisation_code, row.count) == ("p1", "RRK", 365)
    assert row.value == pytest.approx(2 * 365 / 7)


def test_dual_running_sessions_that_fit_beside_a_part_time_contract_pass() -> None:
    offer = inputs(roster=[entry("p1", sessions=4)], people=[person("p1", nhs(sessions=6))])
    found = result("dual_running", offer)
    assert (found.verdict, found.evidence) == ("pass", [])


def test_dual_running_counts_only_the_days_of_overlap_and_concurrent_contracts_add_up() -> None:
    # NHS 6 + 4 sessions until 30 September, then 6 only; 1.5 rostered sessions: over by 1.5 for 183 days.
    offer = inputs(
        roster=[entry("p1", sessions=1.5), entry("p2", sessions=10)],
        people=[
            person("p1", nhs(sessions=6), nhs("RJ1", sessions=4, end=D(2026, 9, 30))),
            person("p2"),
        ],
    )
    found = result("dual_running", offer)
    (row,) = found.evidence
    assert row.count == 183
    assert row.organisation_code == "RJ1,RRK"
    assert found.measures["overlap_session_weeks"] == pytest.approx(1.5 * 183 / 7)
    assert found.measures["rostered_session_weeks"] == pytest.approx(11.5 * 365 / 7)
    assert found.measures["share"] == pytest.approx(1.5 * 183 / (11.5 * 365))  # 6.5%
    assert found.verdict == "warn"  # above 0%, not above 10%


def test_dual_running_small_overlap_is_a_warning() -> None:
    offer = inputs(
        roster=[entry("p1", sessions=1), entry("p2", sessions=19)],
        people=[person("p1", nhs(sessions=10)), person("p2")],
    )
    found = result("dual_running", offer)
    assert found.measures["share"] == pytest.approx(1 / 20)
    assert found.verdict == "warn"


def test_adjacent_nhs_posts_are_not_counted_twice() -> None:
    offer = inputs(
        roster=[entry("p1", sessions=1)],
        people=[
            person("p1", nhs(sessions=10, end=D(2026, 8, 4)), nhs("RJ1", sessions=10, start=D(2026, 8, 5)))
        ],
    )
    found = result("dual_running", offer)
    assert found.evidence[0].detail.startswith("10 NHS contracted + 1 rostered")
    assert found.measures["share"] == 1.0


# ---------------------------------------------------------------- local draw


def test_local_draw_above_a_fifth_of_the_sessions_fails_with_the_employer_share() -> None:
    offer = inputs(
        roster=[entry("local", sessions=3), entry("far", sessions=7)],
        people=[person("local", nhs("RRK")), person("far", nhs("RAP", icb=OTHER_ICB))],
        employer_workforce=[EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=400)],
    )
    found = result("local_draw", offer)
    assert found.verdict == "fail"
    assert found.measures["share"] == pytest.approx(0.3)
    kinds = {(e.kind, e.person_id, e.organisation_code) for e in found.evidence}
    assert kinds == {("local_person", "local", "RRK"), ("employer_draw", None, "RRK")}
    employer = next(e for e in found.evidence if e.kind == "employer_draw")
    assert (employer.count, employer.total, employer.value) == (1, 400, 1 / 400)


def test_local_draw_recent_means_within_twelve_months() -> None:
    def offer(end: dt.date) -> rules.OfferInputs:
        return inputs(roster=[entry("p1", sessions=5)], people=[person("p1", nhs("RRK", end=end))])

    assert result("local_draw", offer(D(2025, 5, 1))).measures["share"] == 1.0
    assert result("local_draw", offer(D(2025, 3, 31))).measures["share"] == 0.0
    assert result("local_draw", offer(D(2025, 3, 31))).verdict == "pass"


def test_local_draw_between_a_tenth_and_a_fifth_warns() -> None:
    offer = inputs(
        roster=[entry("local", sessions=3), entry("far", sessions=17)],
        people=[person("local", nhs("RRK")), person("far")],
        employer_workforce=[
            EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=1000)
        ],
    )
    found = result("local_draw", offer)
    assert found.measures["share"] == pytest.approx(0.15)
    assert found.verdict == "warn"


def test_employer_draw_warns_at_five_people_or_one_percent() -> None:
    roster = [entry(f"p{i}", sessions=0.5) for i in range(5)] + [
        entry("far", sessions=20),
        entry("far2", sessions=20),
    ]
    people = [person(f"p{i}", nhs("RRK")) for i in range(5)] + [person("far"), person("far2")]
    big = [EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=5000)]
    offer = inputs(roster=roster, people=people, employer_workforce=big)
    either = result("local_draw", offer)
    assert either.measures["share"] < 0.1  # the sessions share alone would pass
    assert either.verdict == "warn"  # 5 people, though only 0.1% of 5,000
    both = with_parameters(local_draw=LocalDrawParameters(employer_warn_when="both"))
    assert result("local_draw", offer, both).verdict == "pass"
    small = inputs(
        roster=[entry("p0", sessions=0.5), entry("far", sessions=20)],
        people=[person("p0", nhs("RRK")), person("far")],
        employer_workforce=[EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=50)],
    )
    assert result("local_draw", small).verdict == "warn"  # 1 of 50 is 2%


def test_employer_workforce_counts_the_people_who_left_it() -> None:
    offer = inputs(
        roster=[entry("left", sessions=1), entry("far", sessions=19)],
        people=[person("left", nhs("RRK", end=D(2026, 1, 31))), person("far")],
        employer_workforce=[EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=199)],
    )
    employer = next(e for e in result("local_draw", offer).evidence if e.kind == "employer_draw")
    assert (employer.count, employer.total) == (1, 200)


# ---------------------------------------------------------------- training reciprocity


def _recruited(n: int, placements: int) -> rules.OfferInputs:
    return inputs(
        roster=[entry(f"p{i}") for i in range(n)] + [entry("never")],
        people=[person(f"p{i}", nhs("RAP", icb=OTHER_ICB)) for i in range(n)] + [person("never")],
        training_placements_hosted=placements,
    )


@pytest.mark.parametrize(
    ("recruited", "placements", "verdict"),
    [(0, 0, "pass"), (10, 1, "warn"), (10, 2, "pass"), (4, 3, "pass")],
)
def test_training_reciprocity_per_person_recruited_from_the_nhs(
    recruited: int, placements: int, verdict: str
) -> None:
    found = result("training_reciprocity", _recruited(recruited, placements))
    assert found.verdict == verdict
    assert [e.person_id for e in found.evidence if e.kind == "recruited_from_nhs"] == sorted(
        f"p{i}" for i in range(recruited)
    )
    assert found.evidence[0].kind == "placements_hosted"
    assert found.evidence[0].count == placements


def test_training_reciprocity_can_be_made_to_fail() -> None:
    parameters = with_parameters(
        training_reciprocity=TrainingReciprocityParameters(warn_below_per_person=1, fail_below_per_person=0.5)
    )
    assert result("training_reciprocity", _recruited(10, 4), parameters).verdict == "fail"
    assert result("training_reciprocity", _recruited(10, 6), parameters).verdict == "warn"


# ---------------------------------------------------------------- activity


def _months(first: dt.date, n: int, nhs_count: int, independent: int) -> list[ActivityMonth]:
    return [
        ActivityMonth(month=rules.add_months(first, i), nhs=nhs_count, independent=independent)
        for i in range(n)
    ]


def _activity(comparison_nhs: int, comparison_independent: int) -> rules.OfferInputs:
    return inputs(
        activity=[
            *_months(D(2019, 4, 1), 12, 100, 10),
            *_months(D(2025, 4, 1), 12, comparison_nhs, comparison_independent),
        ]
    )


def test_activity_growth_without_nhs_decline_passes() -> None:
    found = result("activity", _activity(100, 30))
    assert found.verdict == "pass"
    assert found.measures["target_monthly"] == pytest.approx(110 * 1.05)
    assert found.measures["independent_growth"] == 20
    assert found.measures["displacement_share"] == 0


def test_activity_independent_growth_matched_by_nhs_decline_warns() -> None:
    found = result("activity", _activity(85, 30))  # independent +20, NHS -15: 75% displaced
    assert found.verdict == "warn"
    assert found.measures["displacement_share"] == pytest.approx(0.75)
    fail = with_parameters(activity=ActivityParameters(displacement_fail_above_share=0.7))
    assert result("activity", _activity(85, 30), fail).verdict == "fail"


def test_activity_below_the_growth_target_warns() -> None:
    found = result("activity", _activity(100, 12))  # 112 a month against 115.5
    assert found.measures["displacement_share"] == 0
    assert found.verdict == "warn"
    assert "below baseline" in found.summary


def test_activity_without_data_or_with_missing_months_warns() -> None:
    empty = result("activity", inputs())
    assert empty.verdict == "warn"
    assert empty.measures == {}
    assert {e.kind for e in empty.evidence} == {"activity", "missing_months"}
    gaps = inputs(activity=[*_months(D(2019, 4, 1), 12, 100, 10), *_months(D(2025, 4, 1), 6, 100, 30)])
    found = result("activity", gaps)
    assert found.verdict == "warn"
    missing = next(e for e in found.evidence if e.kind == "missing_months")
    assert (missing.period, missing.count) == ("comparison", 6)


# ---------------------------------------------------------------- all rules, parameters, canonical form


def test_evaluate_gives_every_rule_in_order_and_the_offer_takes_the_worst() -> None:
    offer = inputs(roster=[entry("p1", sessions=2)], people=[person("p1", nhs(sessions=10))])
    found = rules.evaluate(offer, rules.DEFAULT_PARAMETERS)
    assert [r.rule for r in found] == list(rules.RULES)
    assert rules.overall(found) == "fail"
    assert rules.worst([]) == "pass"
    assert rules.worst(["warn", "pass"]) == "warn"


def test_parameters_out_of_order_are_named() -> None:
    bad = with_parameters(
        dual_running=rules.DualRunningParameters(warn_above_share=0.3, fail_above_share=0.2),
        training_reciprocity=TrainingReciprocityParameters(
            warn_below_per_person=0.1, fail_below_per_person=0.2
        ),
    )
    assert [field for field, _ in rules.parameter_issues(bad)] == [
        "dual_running.fail_above_share",
        "training_reciprocity.fail_below_per_person",
    ]
    assert rules.parameter_issues(rules.DEFAULT_PARAMETERS) == []


def test_canonical_form_round_trips_byte_for_byte() -> None:
    offer = inputs(roster=[entry("p1", sessions=2.5)], people=[person("p1", nhs(end=D(2026, 5, 1)))])
    encoded = rules.canonical(offer)
    again = msgspec.json.decode(encoded, type=rules.OfferInputs)
    assert rules.canonical(again) == encoded
    assert rules.canonical(rules.evaluate(again, rules.DEFAULT_PARAMETERS)) == rules.canonical(
        rules.evaluate(offer, rules.DEFAULT_PARAMETERS)
    )
    defaults = rules.canonical(rules.DEFAULT_PARAMETERS)
    assert rules.canonical(msgspec.json.decode(defaults, type=Parameters)) == defaults


def test_an_empty_roster_passes_the_workforce_rules() -> None:
    found = {r.rule: r.verdict for r in rules.evaluate(inputs(), rules.DEFAULT_PARAMETERS)}
    assert found == {
        "cooling_off": "pass",
        "dual_running": "pass",
        "local_draw": "pass",
        "training_reciprocity": "pass",
        "activity": "warn",
    }
