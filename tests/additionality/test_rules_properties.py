"""Properties of the additionality rules, on generated offers and parameters (hypothesis).

- Monotonicity: making any threshold more lenient never makes a verdict worse (and stricter never better).
- Justification: each verdict follows from its evidence rows and measures alone, and every row is needed.
- Order: the order of the roster, the people, their employments and the activity changes nothing.
- Reproducibility: a result computed from the decoded canonical inputs is byte-for-byte the same.
"""

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.additionality import rules
from service.additionality.rules import ActivityMonth, EmployerWorkforce, Parameters, RuleResult, ShortageRole
from tests.additionality.factories import END, OTHER_ICB, SITE_ICB, START, inputs

EMPLOYERS = (("RRK", SITE_ICB), ("RJ1", SITE_ICB), ("RAP", OTHER_ICB), ("R0A", None))
GROUPS = ("medical", "nursing", "allied_health", "other")
SPECIALTIES = (None, "anaesthetics", "ophthalmology")

days_around = st.integers(min_value=-900, max_value=500).map(lambda n: START + dt.timedelta(days=n))
sessions = st.integers(min_value=1, max_value=20).map(lambda n: n / 2)


@st.composite
def employment(draw: st.DrawFn, group: str) -> rules.NhsEmployment:
    code, icb = draw(st.sampled_from(EMPLOYERS))
    start = draw(days_around)
    end = draw(
        st.none() | st.integers(min_value=0, max_value=800).map(lambda n: start + dt.timedelta(days=n))
    )
    return rules.NhsEmployment(
        organisation_code=code,
        icb_code=icb,
        staff_group=draw(st.sampled_from([group, group, "other"])),
        specialty=draw(st.sampled_from(SPECIALTIES)),
        start_date=start,
        end_date=end,
        contracted_sessions=draw(sessions),
    )


@st.composite
def offers(draw: st.DrawFn) -> rules.OfferInputs:
    count = draw(st.integers(min_value=0, max_value=6))
    people, roster = [], []
    for index in range(count):
        group = draw(st.sampled_from(GROUPS))
        person_id = f"p{index}"
        people.append(
            rules.PersonHistory(
                person_id=person_id,
                staff_group=group,
                nhs_employments=draw(st.lists(employment(group), max_size=3)),
            )
        )
        first = START + dt.timedelta(days=draw(st.integers(min_value=0, max_value=200)))
        last = first + dt.timedelta(days=draw(st.integers(min_value=0, max_value=(END - first).days)))
        roster.append(
            rules.RosterEntry(person_id=person_id, sessions=draw(sessions), start_date=first, end_date=last)
        )
        if draw(st.booleans()) and last < END:  # a second, later entry of the same person
            roster.append(
                rules.RosterEntry(
                    person_id=person_id,
                    sessions=draw(sessions),
                    start_date=last + dt.timedelta(days=1),
                    end_date=END,
                )
            )
    roles = draw(
        st.lists(
            st.builds(
                ShortageRole, staff_group=st.sampled_from(GROUPS), specialty=st.sampled_from(SPECIALTIES)
            ),
            max_size=3,
        )
    )
    workforce = [
        EmployerWorkforce(organisation_code=code, staff_group=group, headcount=draw(st.integers(0, 600)))
        for code, _ in EMPLOYERS
        for group in GROUPS
        if draw(st.booleans())
    ]
    months = sorted(
        set(draw(st.lists(st.integers(min_value=0, max_value=11), max_size=12)))
        | {12 + m for m in draw(st.lists(st.integers(min_value=0, max_value=11), max_size=12))}
    )
    activity = [
        ActivityMonth(
            month=rules.add_months(dt.date(2019, 4, 1), m)
            if m < 12
            else rules.add_months(dt.date(2025, 4, 1), m - 12),
            nhs=draw(st.integers(0, 500)),
            independent=draw(st.integers(0, 200)),
        )
        for m in months
    ]
    return inputs(
        roster=roster,
        people=people,
        shortage_list_version=draw(st.sampled_from([None, 1, 1, 1])),
        shortage_roles=roles,
        employer_workforce=workforce,
        training_placements_hosted=draw(st.integers(0, 6)),
        activity=activity,
    )


def _ordered(low: float, high: float) -> tuple[float, float]:
    return (low, high) if low <= high else (high, low)


@st.composite
def parameters(draw: st.DrawFn) -> Parameters:
    share = st.integers(0, 20).map(lambda n: n / 20)
    dual = _ordered(draw(share), draw(share))
    local = _ordered(draw(share), draw(share))
    displacement = _ordered(draw(share), draw(share))
    per_person = st.integers(0, 10).map(lambda n: n / 10)
    fail_below, warn_below = _ordered(draw(per_person), draw(per_person))
    return Parameters(
        cooling_off=rules.CoolingOffParameters(
            months=draw(st.integers(0, 24)), fail_at_people=draw(st.integers(1, 4))
        ),
        dual_running=rules.DualRunningParameters(
            standard_week_sessions=draw(st.integers(2, 30)) / 2,
            warn_above_share=dual[0],
            fail_above_share=dual[1],
        ),
        local_draw=rules.LocalDrawParameters(
            recent_months=draw(st.integers(0, 24)),
            sessions_warn_above_share=local[0],
            sessions_fail_above_share=local[1],
            employer_warn_at_share=draw(share),
            employer_warn_at_people=draw(st.integers(1, 6)),
            employer_warn_when=draw(st.sampled_from(["either", "both"])),
        ),
        training_reciprocity=rules.TrainingReciprocityParameters(
            recent_months=draw(st.integers(0, 24)),
            warn_below_per_person=warn_below,
            fail_below_per_person=fail_below,
        ),
        activity=rules.ActivityParameters(
            growth_target=draw(st.integers(-5, 10)) / 20,
            displacement_warn_above_share=displacement[0],
            displacement_fail_above_share=displacement[1],
        ),
    )


# ---------------------------------------------------------------- monotonicity

Loosen = Callable[[Parameters], Parameters]


def _set(group: str, **values: Any) -> Loosen:
    def change(p: Parameters) -> Parameters:
        return msgspec.structs.replace(p, **{group: msgspec.structs.replace(getattr(p, group), **values)})

    return change


def _by(group: str, field: str, step: float, *, up: bool, limit: float) -> Loosen:
    """Move ``group.field`` by ``step`` in the lenient direction (``up`` or down), within ``limit``."""

    def change(p: Parameters) -> Parameters:
        current = getattr(getattr(p, group), field)
        moved = min(limit, current + step) if up else max(limit, current - step)
        return _set(group, **{field: type(current)(moved)})(p)

    return change


LENIENT: dict[str, tuple[rules.RuleName, Loosen]] = {
    "cooling_off.fail_at_people up": (
        "cooling_off",
        _by("cooling_off", "fail_at_people", 1, up=True, limit=10),
    ),
    "cooling_off.months down": ("cooling_off", _by("cooling_off", "months", 3, up=False, limit=0)),
    "dual_running.standard_week_sessions up": (
        "dual_running",
        _by("dual_running", "standard_week_sessions", 1.5, up=True, limit=40),
    ),
    "dual_running.fail_above_share up": (
        "dual_running",
        _by("dual_running", "fail_above_share", 0.1, up=True, limit=1),
    ),
    "local_draw.recent_months down": ("local_draw", _by("local_draw", "recent_months", 4, up=False, limit=0)),
    "local_draw.sessions_fail_above_share up": (
        "local_draw",
        _by("local_draw", "sessions_fail_above_share", 0.1, up=True, limit=1),
    ),
    "local_draw.employer_warn_at_share up": (
        "local_draw",
        _by("local_draw", "employer_warn_at_share", 0.05, up=True, limit=1),
    ),
    "local_draw.employer_warn_at_people up": (
        "local_draw",
        _by("local_draw", "employer_warn_at_people", 2, up=True, limit=100),
    ),
    "local_draw.employer_warn_when both": ("local_draw", _set("local_draw", employer_warn_when="both")),
    "training_reciprocity.recent_months down": (
        "training_reciprocity",
        _by("training_reciprocity", "recent_months", 4, up=False, limit=0),
    ),
    "training_reciprocity.fail_below_per_person down": (
        "training_reciprocity",
        _by("training_reciprocity", "fail_below_per_person", 0.1, up=False, limit=0),
    ),
    "activity.growth_target down": (
        "activity",
        _by("activity", "growth_target", 0.05, up=False, limit=-0.99),
    ),
    "activity.displacement_fail_above_share up": (
        "activity",
        _by("activity", "displacement_fail_above_share", 0.1, up=True, limit=1),
    ),
}


def _severities(offer: rules.OfferInputs, p: Parameters) -> dict[str, int]:
    return {r.rule: rules.SEVERITY[r.verdict] for r in rules.evaluate(offer, p)}


@pytest.mark.parametrize("change", sorted(LENIENT))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offer=offers(), p=parameters())
def test_a_more_lenient_threshold_never_makes_a_verdict_worse(
    change: str, offer: rules.OfferInputs, p: Parameters
) -> None:
    rule, loosen = LENIENT[change]
    before, after = _severities(offer, p), _severities(offer, loosen(p))
    assert after[rule] <= before[rule]
    assert max(after.values()) <= max(before.values())
    for other in rules.RULES:  # a parameter touches its own rule only
        if other != rule:
            assert after[other] == before[other]


@settings(max_examples=80, deadline=None)
@given(offer=offers(), p=parameters(), warn=st.integers(0, 20))
def test_raising_a_warning_threshold_never_turns_a_pass_into_a_fail(
    offer: rules.OfferInputs, p: Parameters, warn: int
) -> None:
    higher = min(p.dual_running.fail_above_share, max(p.dual_running.warn_above_share, warn / 20))
    changed = _set("dual_running", warn_above_share=higher)(p)
    before = next(r for r in rules.evaluate(offer, p) if r.rule == "dual_running").verdict
    after = next(r for r in rules.evaluate(offer, changed) if r.rule == "dual_running").verdict
    assert not (before == "pass" and after != "pass")
    assert rules.SEVERITY[after] <= rules.SEVERITY[before]


# ---------------------------------------------------------------- evidence justifies each verdict


def _above(value: float, warn: float, fail: float) -> str:
    return "fail" if value > fail else ("warn" if value > warn else "pass")


def _below(value: float, warn: float, fail: float) -> str:
    return "fail" if value < fail else ("warn" if value < warn else "pass")


def _caught(offer: rules.OfferInputs, months: int) -> set[str]:
    """Who the cooling-off rule must catch, worked out directly from its definition."""
    caught = set()
    for history in offer.people:
        starts = [x.start_date for x in offer.roster if x.person_id == history.person_id]
        if not starts:
            continue
        start = min(starts)
        window = rules.add_months(start, -months)
        still_nhs = any(
            e.start_date <= start and (e.end_date is None or e.end_date >= start)
            for e in history.nhs_employments
        )
        left = [
            e
            for e in history.nhs_employments
            if e.end_date is not None
            and window <= e.end_date < start
            and any(
                role.staff_group == e.staff_group
                and (role.specialty is None or role.specialty.casefold() == (e.specialty or "").casefold())
                for role in offer.shortage_roles
            )
        ]
        if left and not still_nhs:
            caught.add(history.person_id)
    return caught


def _justify_cooling_off(r: RuleResult, offer: rules.OfferInputs, p: Parameters) -> str:
    if offer.shortage_list_version is None:
        assert [e.kind for e in r.evidence] == ["no_shortage_list"]
        return "warn"
    starts = {
        e.person_id: min(x.start_date for x in offer.roster if x.person_id == e.person_id)
        for e in offer.roster
    }
    for e in r.evidence:
        assert e.kind == "left_nhs"
        assert e.person_id in starts
        assert e.date is not None
        assert rules.add_months(starts[e.person_id], -p.cooling_off.months) <= e.date < starts[e.person_id]
        assert any(
            role.staff_group == e.staff_group
            and (role.specialty is None or role.specialty.casefold() == (e.specialty or "").casefold())
            for role in offer.shortage_roles
        )
    assert {e.person_id for e in r.evidence} == _caught(offer, p.cooling_off.months)
    n = len(r.evidence)
    assert r.measures["people"] == n
    return "fail" if n >= p.cooling_off.fail_at_people else ("warn" if n else "pass")


def _justify_dual_running(r: RuleResult, offer: rules.OfferInputs, p: Parameters) -> str:
    assert all(e.kind == "overlap" and e.value is not None and e.value > 0 for e in r.evidence)
    assert sum(e.value or 0 for e in r.evidence) == pytest.approx(r.measures["overlap_session_weeks"])
    rostered = sum(x.sessions * ((x.end_date - x.start_date).days + 1) / 7 for x in offer.roster)
    assert r.measures["rostered_session_weeks"] == pytest.approx(rostered)
    share = r.measures["overlap_session_weeks"] / rostered if rostered else 0.0
    assert r.measures["share"] == pytest.approx(share)
    return _above(r.measures["share"], p.dual_running.warn_above_share, p.dual_running.fail_above_share)


def _justify_local_draw(r: RuleResult, offer: rules.OfferInputs, p: Parameters) -> str:
    people = [e for e in r.evidence if e.kind == "local_person"]
    employers = [e for e in r.evidence if e.kind == "employer_draw"]
    assert len(people) + len(employers) == len(r.evidence)
    assert len({e.person_id for e in people}) == len(people)
    assert sum(e.value or 0 for e in people) == pytest.approx(r.measures["local_session_weeks"])
    verdicts = [
        _above(
            r.measures["share"],
            p.local_draw.sessions_warn_above_share,
            p.local_draw.sessions_fail_above_share,
        )
    ]
    for e in employers:
        assert e.count is not None
        assert e.total is not None
        assert e.count <= e.total
        assert e.value == pytest.approx(e.count / e.total)
        by_share, by_people = (
            (e.value or 0) >= p.local_draw.employer_warn_at_share,
            e.count >= p.local_draw.employer_warn_at_people,
        )
        hit = (
            (by_share and by_people) if p.local_draw.employer_warn_when == "both" else (by_share or by_people)
        )
        verdicts.append("warn" if hit else "pass")
    return rules.worst(verdicts)  # type: ignore[arg-type]


def _justify_training(r: RuleResult, offer: rules.OfferInputs, p: Parameters) -> str:
    hosted = [e for e in r.evidence if e.kind == "placements_hosted"]
    recruited = [e for e in r.evidence if e.kind == "recruited_from_nhs"]
    assert len(hosted) == 1
    assert len(hosted) + len(recruited) == len(r.evidence)
    assert len({e.person_id for e in recruited}) == len(recruited)
    if not recruited:
        return "pass"
    ratio = (hosted[0].count or 0) / len(recruited)
    t = p.training_reciprocity
    return _below(ratio, t.warn_below_per_person, t.fail_below_per_person)


def _justify_activity(r: RuleResult, offer: rules.OfferInputs, p: Parameters) -> str:
    rows = {(e.period, e.sector): e for e in r.evidence if e.kind == "activity"}
    missing = [e for e in r.evidence if e.kind == "missing_months"]
    if any((rows[(period, "nhs")].count or 0) == 0 for period in ("baseline", "comparison")):
        return "warn"
    average = {key: e.value or 0.0 for key, e in rows.items()}
    baseline = average[("baseline", "nhs")] + average[("baseline", "independent")]
    comparison = average[("comparison", "nhs")] + average[("comparison", "independent")]
    growth = average[("comparison", "independent")] - average[("baseline", "independent")]
    decline = max(0.0, average[("baseline", "nhs")] - average[("comparison", "nhs")])
    share = min(1.0, decline / growth) if growth > 0 else 0.0
    a = p.activity
    verdict = _above(share, a.displacement_warn_above_share, a.displacement_fail_above_share)
    if comparison < baseline * (1 + a.growth_target) or missing:
        verdict = rules.worst([verdict, "warn"])  # type: ignore[list-item]
    return verdict


JUSTIFY = {
    "cooling_off": _justify_cooling_off,
    "dual_running": _justify_dual_running,
    "local_draw": _justify_local_draw,
    "training_reciprocity": _justify_training,
    "activity": _justify_activity,
}


@settings(max_examples=150, deadline=None)
@given(offer=offers(), p=parameters())
def test_each_verdict_follows_from_its_evidence_rows(offer: rules.OfferInputs, p: Parameters) -> None:
    for r in rules.evaluate(offer, p):
        assert JUSTIFY[r.rule](r, offer, p) == r.verdict, r.rule
        roster = {x.person_id for x in offer.roster}
        assert {e.person_id for e in r.evidence if e.person_id is not None} <= roster


# ---------------------------------------------------------------- order and reproducibility


def _shuffled(offer: rules.OfferInputs, seed: int) -> rules.OfferInputs:
    rng = random.Random(seed)

    def mix(items: list[Any]) -> list[Any]:
        copy = list(items)
        rng.shuffle(copy)
        return copy

    people = [msgspec.structs.replace(x, nhs_employments=mix(x.nhs_employments)) for x in offer.people]
    return msgspec.structs.replace(
        offer,
        roster=mix(offer.roster),
        people=mix(people),
        employer_workforce=mix(offer.employer_workforce),
        activity=mix(offer.activity),
    )


@settings(max_examples=100, deadline=None)
@given(offer=offers(), p=parameters(), seed=st.integers(0, 1000))
def test_the_order_of_the_inputs_changes_no_verdict_or_measure(
    offer: rules.OfferInputs, p: Parameters, seed: int
) -> None:
    before, after = rules.evaluate(offer, p), rules.evaluate(_shuffled(offer, seed), p)
    assert [(r.rule, r.verdict, r.measures) for r in before] == [
        (r.rule, r.verdict, r.measures) for r in after
    ]
    for a, b in zip(before, after, strict=True):
        assert sorted(rules.canonical(e) for e in a.evidence) == sorted(
            rules.canonical(e) for e in b.evidence
        )


@settings(max_examples=100, deadline=None)
@given(offer=offers(), p=parameters())
def test_results_from_the_stored_form_of_the_inputs_are_byte_identical(
    offer: rules.OfferInputs, p: Parameters
) -> None:
    stored = msgspec.json.decode(rules.canonical(offer), type=rules.OfferInputs)
    assert rules.canonical(stored) == rules.canonical(
        msgspec.json.decode(rules.canonical(stored), type=rules.OfferInputs)
    )
    assert rules.canonical(rules.evaluate(stored, p)) == rules.canonical(rules.evaluate(stored, p))
    parameters_again = msgspec.json.decode(rules.canonical(p), type=Parameters)
    assert rules.canonical(rules.evaluate(stored, parameters_again)) == rules.canonical(
        rules.evaluate(stored, p)
    )
