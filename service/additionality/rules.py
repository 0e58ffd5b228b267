"""The additionality rules: pure functions from one offer's inputs and a parameter set to verdicts.

No web, no database, no clock: :func:`evaluate` gives the same results for the same
:class:`OfferInputs` and :class:`Parameters`, so a stored check can be recomputed later and compared
(``service.py`` stores the inputs, their SHA-256 and the parameter version with every result).

Five rules, each giving ``pass``, ``warn`` or ``fail`` with the evidence rows that justify it
(``docs/additionality.md`` defines each one, ``docs/decisions/0008-additionality-rules.md`` says why):

- ``cooling_off``: rostered people who left the NHS less than N months before starting on the offer,
  from a shortage role;
- ``dual_running``: rostered sessions that do not fit beside the person's NHS contracted sessions in a
  standard working week;
- ``local_draw``: rostered people whose current or recent NHS employer is in the site's ICB, as a share of
  the offer's rostered sessions and of each employer's workforce in the staff group;
- ``training_reciprocity``: training placements hosted at the site per rostered person recruited from
  the NHS;
- ``activity``: NHS plus independent activity for the offer's commissioner and specialty against the
  baseline year grown by a target, and the share of independent growth matched by NHS decline.

Units. Rostered effort is measured in session-weeks: a roster entry of ``s`` sessions a week for ``d``
days is ``s * d / 7`` session-weeks, so people who join or leave part-way count for the time they work.
Sums are kept exact, in whole half-session-days (sessions come in steps of 0.5), and divided once at the
end: a verdict never depends on the order of the roster or on floating-point rounding.
Dates are inclusive. "N months before day D" is the same day of the month N months earlier (the last day
of a shorter month).
"""

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

RULES_VERSION: Final = "1"
"""Version of the algorithms below; stored with every result. Change it whenever a rule's logic changes."""

Verdict = Literal["pass", "warn", "fail"]
RuleName = Literal["cooling_off", "dual_running", "local_draw", "training_reciprocity", "activity"]
RULES: Final[tuple[RuleName, ...]] = get_args(RuleName)
VERDICTS: Final[tuple[Verdict, ...]] = get_args(Verdict)
SEVERITY: Final[dict[str, int]] = {"pass": 0, "warn": 1, "fail": 2}
NHS_KINDS: Final = frozenset({"nhs_trust", "icb", "region"})
"""Organisation kinds whose employments are NHS employments."""


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The most severe of ``verdicts`` (``pass`` for none)."""
    result: Verdict = "pass"
    for verdict in verdicts:
        if SEVERITY[verdict] > SEVERITY[result]:
            result = verdict
    return result


# ---------------------------------------------------------------- parameters

Share = Annotated[float, Meta(ge=0, le=1, description="a share from 0 to 1 (0.2 is 20%)")]
Months = Annotated[int, Meta(ge=0, le=120, description="a number of months, 0 to 120")]
People = Annotated[int, Meta(ge=1, le=1_000_000, description="a number of people, at least 1")]
PerPerson = Annotated[float, Meta(ge=0, le=100, description="placements per person, 0 to 100")]


class CoolingOffParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    months: Months = 6
    """A person who left the NHS less than this many months before starting on the offer is caught."""
    fail_at_people: People = 1
    """Fail when at least this many rostered people are caught; fewer (but some) is a warning."""


class DualRunningParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    standard_week_sessions: Annotated[
        float, Meta(ge=1, le=40, multiple_of=0.5, description="sessions in a standard working week, 1 to 40")
    ] = 10.0
    """NHS contracted plus rostered sessions above this in a week overlap NHS contracted time."""
    warn_above_share: Share = 0.0
    """Warn when overlapping session-weeks are more than this share of the rostered session-weeks."""
    fail_above_share: Share = 0.1
    """Fail when they are more than this share."""


class LocalDrawParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    recent_months: Months = 12
    """An NHS employment that ended less than this many months before the person starts is recent."""
    sessions_warn_above_share: Share = 0.1
    """Warn when locally drawn people work more than this share of the rostered session-weeks."""
    sessions_fail_above_share: Share = 0.2
    """Fail when they work more than this share."""
    employer_warn_at_share: Share = 0.01
    """Warn when the people drawn from one NHS employer reach this share of its staff group."""
    employer_warn_at_people: People = 5
    """... or (see ``employer_warn_when``) this many people."""
    employer_warn_when: Literal["either", "both"] = "either"
    """``either``: warn when the share or the number of people is reached; ``both``: when both are."""


class TrainingReciprocityParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    recent_months: Months = 12
    """A person with an NHS employment current, or ended less than this many months before they start on
    the offer, was recruited from the NHS."""
    warn_below_per_person: PerPerson = 0.2
    """Warn when placements hosted per person recruited from the NHS are fewer than this."""
    fail_below_per_person: PerPerson = 0.0
    """Fail when they are fewer than this (0: never)."""


class ActivityParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    baseline_financial_year: Annotated[
        int, Meta(ge=2000, le=2098, description="a financial year, 2000 to 2098 (2019 is 2019-20)")
    ] = 2019
    """The baseline period: financial year Y is 1 April Y to 31 March Y+1."""
    growth_target: Annotated[
        float, Meta(ge=-0.99, le=10, description="growth over baseline, -0.99 to 10")
    ] = 0.05
    """Expected growth of NHS plus independent monthly activity over the baseline (0.05 is 5%)."""
    comparison_months: Annotated[int, Meta(ge=1, le=60, description="a number of months, 1 to 60")] = 12
    """The comparison period: this many whole months ending the month before the offer starts."""
    displacement_warn_above_share: Share = 0.5
    """Warn when NHS decline matches more than this share of the independent growth."""
    displacement_fail_above_share: Share = 1.0
    """Fail when it matches more than this share (1.0: never, the share is at most 1)."""


class Parameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every rule's parameters: one version of them is stored with every result."""

    cooling_off: CoolingOffParameters = msgspec.field(default_factory=CoolingOffParameters)
    dual_running: DualRunningParameters = msgspec.field(default_factory=DualRunningParameters)
    local_draw: LocalDrawParameters = msgspec.field(default_factory=LocalDrawParameters)
    training_reciprocity: TrainingReciprocityParameters = msgspec.field(
        default_factory=TrainingReciprocityParameters
    )
    activity: ActivityParameters = msgspec.field(default_factory=ActivityParameters)


DEFAULT_PARAMETERS: Final = Parameters()
"""The defaults; stored as parameter version 1 by the domain's migration."""

_ORDERED_PAIRS: Final = (
    ("dual_running", "warn_above_share", "fail_above_share", "above"),
    ("local_draw", "sessions_warn_above_share", "sessions_fail_above_share", "above"),
    ("training_reciprocity", "warn_below_per_person", "fail_below_per_person", "below"),
    ("activity", "displacement_warn_above_share", "displacement_fail_above_share", "above"),
)


def parameter_issues(parameters: Parameters) -> list[tuple[str, str]]:
    """``(field path, reason)`` for thresholds in the wrong order (a warning must come before a failure)."""
    issues = []
    for rule, warn, fail, direction in _ORDERED_PAIRS:
        group = getattr(parameters, rule)
        warn_value, fail_value = getattr(group, warn), getattr(group, fail)
        if direction == "above" and fail_value < warn_value:
            issues.append((f"{rule}.{fail}", f"must be at least {warn} ({warn_value:g})"))
        if direction == "below" and fail_value > warn_value:
            issues.append((f"{rule}.{fail}", f"must be at most {warn} ({warn_value:g})"))
    return issues


# ---------------------------------------------------------------- inputs


class NhsEmployment(msgspec.Struct, frozen=True, kw_only=True):
    """One NHS employment of a rostered person (an employment at an NHS trust, ICB or region)."""

    organisation_code: str
    icb_code: str | None
    """The employer's ICB (an ICB's own code; none for a region)."""
    staff_group: str
    specialty: str | None
    start_date: dt.date
    end_date: dt.date | None
    contracted_sessions: float


class PersonHistory(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    staff_group: str
    nhs_employments: list[NhsEmployment]


class RosterEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A person rostered on the offer for ``sessions`` a week from ``start_date`` to ``end_date``."""

    person_id: str
    sessions: float
    start_date: dt.date
    end_date: dt.date


class ShortageRole(msgspec.Struct, frozen=True, kw_only=True):
    """A role on the shortage list: a staff group, in one specialty or (none) in all of them."""

    staff_group: str
    specialty: str | None = None


class EmployerWorkforce(msgspec.Struct, frozen=True, kw_only=True):
    """People employed at an NHS employer in a staff group on the day the offer starts."""

    organisation_code: str
    staff_group: str
    headcount: int


class ActivityMonth(msgspec.Struct, frozen=True, kw_only=True):
    """Activity for the offer's commissioner and specialty in one month (first day of the month)."""

    month: dt.date
    nhs: int
    independent: int


class OfferInputs(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the rules read about one offer; its canonical JSON is what the input hash covers."""

    offer_id: str
    site_code: str
    site_icb_code: str | None
    commissioner_code: str
    specialty: str
    sessions_per_week: float
    start_date: dt.date
    end_date: dt.date
    roster: list[RosterEntry]
    people: list[PersonHistory]
    shortage_list_version: int | None
    shortage_roles: list[ShortageRole]
    employer_workforce: list[EmployerWorkforce]
    training_placements_hosted: int
    training_placements_source: str
    activity: list[ActivityMonth]


# ---------------------------------------------------------------- results


class Evidence(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One row of evidence. ``kind`` says which fields it uses (see docs/additionality.md)."""

    kind: str
    person_id: str | None = None
    organisation_code: str | None = None
    staff_group: str | None = None
    specialty: str | None = None
    period: str | None = None
    sector: str | None = None
    date: dt.date | None = None
    sessions: float | None = None
    count: int | None = None
    total: int | None = None
    value: float | None = None
    detail: str = ""


class RuleResult(msgspec.Struct, frozen=True, kw_only=True):
    rule: RuleName
    verdict: Verdict
    summary: str
    measures: dict[str, float]
    evidence: list[Evidence]


def canonical(value: object) -> bytes:
    """The canonical JSON of inputs or parameters: the bytes that are hashed and stored."""
    return msgspec.json.encode(value, order="deterministic")


# ---------------------------------------------------------------- dates


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` (negative: earlier), on the last day of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_first - dt.timedelta(days=1)).day))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of the months from ``first``'s month to ``last``'s, inclusive."""
    months, current = [], month_start(first)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def days(start: dt.date, end: dt.date) -> int:
    """Days from ``start`` to ``end`` inclusive (0 when ``end`` is before ``start``)."""
    return max(0, (end - start).days + 1)


def current_on(employment: NhsEmployment, day: dt.date) -> bool:
    return employment.start_date <= day and (employment.end_date is None or employment.end_date >= day)


def ended_within(employment: NhsEmployment, day: dt.date, months: int) -> bool:
    """Ended less than ``months`` months before ``day``: on or after ``day - months``, before ``day``."""
    end = employment.end_date
    return end is not None and add_months(day, -months) <= end < day


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def _fmt(value: float) -> str:
    return f"{value:.1%}"


def _num(value: float) -> str:
    return f"{value:g}" if value == round(value, 2) else f"{value:.2f}"


# ---------------------------------------------------------------- shared views of the inputs


class _View:
    """Indexes over one offer's inputs shared by the rules."""

    def __init__(self, inputs: OfferInputs) -> None:
        self.inputs = inputs
        self.history = {p.person_id: p for p in inputs.people}
        self.entries: dict[str, list[RosterEntry]] = defaultdict(list)
        for entry in inputs.roster:
            self.entries[entry.person_id].append(entry)
        self.person_ids = sorted(self.entries)
        self.halves = {id(e): halves(e.sessions) * days(e.start_date, e.end_date) for e in inputs.roster}
        """Half-session-days of each entry."""
        self.rostered = sum(self.halves.values())

    def first_start(self, person_id: str) -> dt.date:
        """When the person starts on the offer: their earliest roster entry."""
        return min(e.start_date for e in self.entries[person_id])

    def employments(self, person_id: str) -> list[NhsEmployment]:
        found = self.history.get(person_id)
        return found.nhs_employments if found is not None else []

    def staff_group(self, person_id: str) -> str | None:
        found = self.history.get(person_id)
        return found.staff_group if found is not None else None

    def person_halves(self, person_id: str) -> int:
        return sum(self.halves[id(e)] for e in self.entries[person_id])


def halves(sessions: float) -> int:
    """Sessions in whole half-sessions."""
    return round(sessions * 2)


def weeks(half_session_days: int) -> float:
    """Half-session-days as session-weeks."""
    return half_session_days / 14


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _above(value: float, warn: float, fail: float) -> Verdict:
    if value > fail:
        return "fail"
    return "warn" if value > warn else "pass"


def _below(value: float, warn: float, fail: float) -> Verdict:
    if value < fail:
        return "fail"
    return "warn" if value < warn else "pass"


def _latest(employments: Sequence[NhsEmployment]) -> NhsEmployment:
    """The employment ending last (an open one last of all), then starting last; ties broken by every
    field evidence names (employer, staff group, specialty), so evidence never depends on the order
    of the inputs (two posts at one employer in two staff groups, say)."""
    return max(
        employments,
        key=lambda e: (
            e.end_date or dt.date.max,
            e.start_date,
            e.organisation_code,
            e.staff_group,
            e.specialty or "",
        ),
    )


# ---------------------------------------------------------------- cooling-off


def _in_shortage(employment: NhsEmployment, roles: Sequence[ShortageRole]) -> bool:
    specialty = (employment.specialty or "").casefold()
    return any(
        role.staff_group == employment.staff_group
        and (role.specialty is None or role.specialty.casefold() == specialty)
        for role in roles
    )


def cooling_off(view: _View, p: CoolingOffParameters) -> RuleResult:
    """People who left the NHS less than ``months`` months before starting on the offer, from a shortage
    role. Someone still in an NHS employment on that day moved within the NHS and is not caught."""
    inputs = view.inputs
    if inputs.shortage_list_version is None:
        row = Evidence(kind="no_shortage_list", date=inputs.start_date, detail="no shortage list in effect")
        summary = f"No shortage list was in effect on {inputs.start_date}: cooling-off could not be assessed."
        return RuleResult(rule="cooling_off", verdict="warn", summary=summary, measures={}, evidence=[row])
    evidence = []
    for person_id in view.person_ids:
        start = view.first_start(person_id)
        employments = view.employments(person_id)
        if any(current_on(e, start) for e in employments):
            continue
        left = [
            e
            for e in employments
            if ended_within(e, start, p.months) and _in_shortage(e, inputs.shortage_roles)
        ]
        if not left:
            continue
        last = _latest(left)
        gap = (start - (last.end_date or start)).days
        evidence.append(
            Evidence(
                kind="left_nhs",
                person_id=person_id,
                organisation_code=last.organisation_code,
                staff_group=last.staff_group,
                specialty=last.specialty,
                date=last.end_date,
                count=gap,
                detail=f"left {last.organisation_code} on {last.end_date}, {gap} days before starting",
            )
        )
    caught = len(evidence)
    verdict: Verdict = "fail" if caught >= p.fail_at_people else ("warn" if caught else "pass")
    summary = (
        f"{_people(caught)} on the roster left a shortage role in the NHS "
        f"less than {p.months} months before starting (shortage list version "
        f"{inputs.shortage_list_version}; fail at {p.fail_at_people})."
    )
    return RuleResult(
        rule="cooling_off",
        verdict=verdict,
        summary=summary,
        measures={"people": float(caught)},
        evidence=evidence,
    )


# ---------------------------------------------------------------- dual running


def _nhs_segments(
    entry: RosterEntry, employments: Sequence[NhsEmployment]
) -> list[tuple[int, int, list[str]]]:
    """Over the entry's days: ``(days, NHS contracted half-sessions, employers)`` per stretch where they are
    constant (half-open day intervals, so adjacent employments do not double count)."""
    start, stop = entry.start_date, entry.end_date + dt.timedelta(days=1)
    spans = []
    for e in employments:
        first = max(start, e.start_date)
        after = stop if e.end_date is None else min(stop, e.end_date + dt.timedelta(days=1))
        if first < after:
            spans.append((first, after, e))
    cuts = sorted({start, stop, *(s[0] for s in spans), *(s[1] for s in spans)})
    segments = []
    for left, right in itertools.pairwise(cuts):
        covering = [e for first, after, e in spans if first <= left and right <= after]
        sessions = sum(halves(e.contracted_sessions) for e in covering)
        segments.append(((right - left).days, sessions, sorted({e.organisation_code for e in covering})))
    return segments


def dual_running(view: _View, p: DualRunningParameters) -> RuleResult:
    """Rostered sessions that do not fit beside NHS contracted sessions in a standard week: each day,
    ``min(NHS, rostered, NHS + rostered - standard)`` sessions (at least 0) overlap NHS contracted time."""
    evidence = []
    overlap_total = 0
    standard = halves(p.standard_week_sessions)
    for entry in view.inputs.roster:
        overlap_days, worst_overlap, worst_nhs, employers = 0, 0, 0, set()
        overlap_halves = 0
        for length, nhs, codes in _nhs_segments(entry, view.employments(entry.person_id)):
            rostered = halves(entry.sessions)
            overlap = max(0, min(nhs, rostered, nhs + rostered - standard))
            if overlap > 0:
                overlap_days += length
                overlap_halves += overlap * length
                worst_overlap, worst_nhs = max(worst_overlap, overlap), max(worst_nhs, nhs)
                employers.update(codes)
        if overlap_days == 0:
            continue
        overlap_total += overlap_halves
        evidence.append(
            Evidence(
                kind="overlap",
                person_id=entry.person_id,
                organisation_code=",".join(sorted(employers)),
                staff_group=view.staff_group(entry.person_id),
                period=f"{entry.start_date}/{entry.end_date}",
                sessions=entry.sessions,
                count=overlap_days,
                value=weeks(overlap_halves),
                detail=(
                    f"{_num(worst_nhs / 2)} NHS contracted + {_num(entry.sessions)} rostered sessions a "
                    f"week: up to {_num(worst_overlap / 2)} over {_num(p.standard_week_sessions)} "
                    f"on {overlap_days} days"
                ),
            )
        )
    share = _share(overlap_total, view.rostered)
    verdict = _above(share, p.warn_above_share, p.fail_above_share)
    summary = (
        f"{_num(weeks(overlap_total))} of {_num(weeks(view.rostered))} rostered session-weeks "
        f"({_fmt(share)}) overlap NHS contracted time (warn above {_fmt(p.warn_above_share)}, "
        f"fail above {_fmt(p.fail_above_share)})."
    )
    measures = {
        "rostered_session_weeks": weeks(view.rostered),
        "overlap_session_weeks": weeks(overlap_total),
        "share": share,
    }
    return RuleResult(
        rule="dual_running", verdict=verdict, summary=summary, measures=measures, evidence=evidence
    )


# ---------------------------------------------------------------- local draw


def _local_employments(view: _View, person_id: str, months: int) -> list[NhsEmployment]:
    """The person's NHS employments in the site's ICB, current or recent when they start on the offer."""
    icb = view.inputs.site_icb_code
    start = view.first_start(person_id)
    return [
        e
        for e in view.employments(person_id)
        if icb is not None and e.icb_code == icb and (current_on(e, start) or ended_within(e, start, months))
    ]


def _employer_verdict(people: int, share: float, p: LocalDrawParameters) -> Verdict:
    by_share, by_people = share >= p.employer_warn_at_share, people >= p.employer_warn_at_people
    hit = (by_share and by_people) if p.employer_warn_when == "both" else (by_share or by_people)
    return "warn" if hit else "pass"


def local_draw(view: _View, p: LocalDrawParameters) -> RuleResult:
    inputs = view.inputs
    evidence: list[Evidence] = []
    local_halves = 0
    local_people = 0
    drawn: dict[tuple[str, str], set[str]] = defaultdict(set)
    for person_id in view.person_ids:
        local = _local_employments(view, person_id, p.recent_months)
        if not local:
            continue
        person_halves = view.person_halves(person_id)
        local_halves += person_halves
        local_people += 1
        latest = _latest(local)
        for e in local:
            drawn[(e.organisation_code, e.staff_group)].add(person_id)
        status = (
            "current"
            if latest.end_date is None or latest.end_date >= view.first_start(person_id)
            else (f"left on {latest.end_date}")
        )
        evidence.append(
            Evidence(
                kind="local_person",
                person_id=person_id,
                organisation_code=latest.organisation_code,
                staff_group=latest.staff_group,
                value=weeks(person_halves),
                detail=f"{status} at {latest.organisation_code}, in the site's ICB {inputs.site_icb_code}",
            )
        )
    headcounts = {(w.organisation_code, w.staff_group): w.headcount for w in inputs.employer_workforce}
    employer_verdicts: list[Verdict] = []
    for (code, group), people in sorted(drawn.items()):
        left = sum(
            1
            for person_id in people
            if not any(
                current_on(e, inputs.start_date) and e.organisation_code == code and e.staff_group == group
                for e in view.employments(person_id)
            )
        )
        # The headcount on the start day includes those still employed there; those who left are added.
        workforce = max(headcounts.get((code, group), 0), len(people) - left) + left
        share = _share(len(people), workforce)
        verdict = _employer_verdict(len(people), share, p)
        employer_verdicts.append(verdict)
        evidence.append(
            Evidence(
                kind="employer_draw",
                organisation_code=code,
                staff_group=group,
                count=len(people),
                total=workforce,
                value=share,
                detail=f"{len(people)} of {workforce} {group} staff ({_fmt(share)}): {verdict}",
            )
        )
    share = _share(local_halves, view.rostered)
    verdict = worst(
        [_above(share, p.sessions_warn_above_share, p.sessions_fail_above_share), *employer_verdicts]
    )
    combination = "and" if p.employer_warn_when == "both" else "or"
    summary = (
        f"{_people(local_people)} on the roster came from NHS employers in the site's ICB: {_fmt(share)} "
        f"of the rostered session-weeks (warn above {_fmt(p.sessions_warn_above_share)}, fail above "
        f"{_fmt(p.sessions_fail_above_share)}); {employer_verdicts.count('warn')} of {len(drawn)} employer "
        f"staff groups reach {_fmt(p.employer_warn_at_share)} {combination} "
        f"{p.employer_warn_at_people} people."
    )
    measures = {
        "rostered_session_weeks": weeks(view.rostered),
        "local_session_weeks": weeks(local_halves),
        "share": share,
        "employers_warned": float(employer_verdicts.count("warn")),
    }
    return RuleResult(
        rule="local_draw", verdict=verdict, summary=summary, measures=measures, evidence=evidence
    )


# ---------------------------------------------------------------- training reciprocity


def training_reciprocity(view: _View, p: TrainingReciprocityParameters) -> RuleResult:
    inputs = view.inputs
    evidence = [
        Evidence(
            kind="placements_hosted",
            organisation_code=inputs.site_code,
            period=f"{inputs.start_date}/{inputs.end_date}",
            count=inputs.training_placements_hosted,
            detail=inputs.training_placements_source,
        )
    ]
    for person_id in view.person_ids:
        start = view.first_start(person_id)
        recruited = [
            e
            for e in view.employments(person_id)
            if current_on(e, start) or ended_within(e, start, p.recent_months)
        ]
        if recruited:
            latest = _latest(recruited)
            evidence.append(
                Evidence(
                    kind="recruited_from_nhs",
                    person_id=person_id,
                    organisation_code=latest.organisation_code,
                    staff_group=latest.staff_group,
                    detail=f"NHS employment at {latest.organisation_code} within {p.recent_months} months",
                )
            )
    recruited_count = len(evidence) - 1
    placements = inputs.training_placements_hosted
    if recruited_count == 0:
        summary = f"Nobody on the roster was recruited from the NHS; {placements} training placements hosted."
        measures: dict[str, float] = {"placements": float(placements), "recruited_from_nhs": 0.0}
        return RuleResult(
            rule="training_reciprocity", verdict="pass", summary=summary, measures=measures, evidence=evidence
        )
    ratio = placements / recruited_count
    verdict = _below(ratio, p.warn_below_per_person, p.fail_below_per_person)
    summary = (
        f"{placements} training placements hosted for {_people(recruited_count)} on the roster recruited "
        f"from the NHS: {_num(ratio)} per person (warn below {_num(p.warn_below_per_person)}, fail below "
        f"{_num(p.fail_below_per_person)})."
    )
    measures = {
        "placements": float(placements),
        "recruited_from_nhs": float(recruited_count),
        "per_person": ratio,
    }
    return RuleResult(
        rule="training_reciprocity", verdict=verdict, summary=summary, measures=measures, evidence=evidence
    )


# ---------------------------------------------------------------- activity baseline and displacement


def baseline_months(p: ActivityParameters) -> list[dt.date]:
    year = p.baseline_financial_year
    return months_between(dt.date(year, 4, 1), dt.date(year + 1, 3, 1))


def comparison_months(start: dt.date, p: ActivityParameters) -> list[dt.date]:
    """The ``comparison_months`` whole months ending the month before ``start``'s month."""
    last = add_months(month_start(start), -1)
    return months_between(add_months(last, 1 - p.comparison_months), last)


class _Period(msgspec.Struct, frozen=True):
    name: str
    months: list[dt.date]
    present: list[ActivityMonth]

    def average(self, sector: str) -> float:
        return _share(sum(getattr(m, sector) for m in self.present), len(self.present))


def _period(name: str, months: list[dt.date], by_month: dict[dt.date, ActivityMonth]) -> _Period:
    return _Period(name, months, [by_month[m] for m in months if m in by_month])


def _period_evidence(period: _Period) -> list[Evidence]:
    span = f"{period.months[0]:%Y-%m}/{period.months[-1]:%Y-%m}"
    rows = [
        Evidence(
            kind="activity",
            period=period.name,
            sector=sector,
            count=len(period.present),
            total=len(period.months),
            value=period.average(sector),
            detail=f"{sum(getattr(m, sector) for m in period.present)} in {len(period.present)} months of "
            f"{span}",
        )
        for sector in ("nhs", "independent")
    ]
    missing = [m for m in period.months if m not in {a.month for a in period.present}]
    if missing:
        listed = ", ".join(f"{m:%Y-%m}" for m in missing[:6]) + (", ..." if len(missing) > 6 else "")
        rows.append(
            Evidence(
                kind="missing_months",
                period=period.name,
                count=len(missing),
                detail=f"no activity for {listed}",
            )
        )
    return rows


def activity(view: _View, p: ActivityParameters) -> RuleResult:
    inputs = view.inputs
    by_month = {m.month: m for m in inputs.activity}
    baseline = _period("baseline", baseline_months(p), by_month)
    comparison = _period("comparison", comparison_months(inputs.start_date, p), by_month)
    evidence = [*_period_evidence(baseline), *_period_evidence(comparison)]
    scope = f"{inputs.commissioner_code} {inputs.specialty}"
    if not baseline.present or not comparison.present:
        empty = " and ".join(x.name for x in (baseline, comparison) if not x.present)
        summary = f"No activity recorded for {scope} in the {empty} period: activity could not be assessed."
        return RuleResult(rule="activity", verdict="warn", summary=summary, measures={}, evidence=evidence)
    nhs_b, is_b = baseline.average("nhs"), baseline.average("independent")
    nhs_c, is_c = comparison.average("nhs"), comparison.average("independent")
    target = (nhs_b + is_b) * (1 + p.growth_target)
    total = nhs_c + is_c
    growth, decline = is_c - is_b, max(0.0, nhs_b - nhs_c)
    displacement = min(1.0, decline / growth) if growth > 0 else 0.0
    verdict = _above(displacement, p.displacement_warn_above_share, p.displacement_fail_above_share)
    below = total < target
    if below:
        verdict = worst([verdict, "warn"])
    incomplete = len(baseline.present) < len(baseline.months) or len(comparison.present) < len(
        comparison.months
    )
    if incomplete:
        verdict = worst([verdict, "warn"])
    summary = (
        f"{scope}: {_num(total)} a month against a target of {_num(target)} "
        f"({'below' if below else 'at or above'} baseline {p.baseline_financial_year} grown "
        f"{_fmt(p.growth_target)}); NHS decline matches {_fmt(displacement)} of independent growth "
        f"(warn above {_fmt(p.displacement_warn_above_share)})"
        + ("; some months have no activity." if incomplete else ".")
    )
    measures = {
        "baseline_monthly": nhs_b + is_b,
        "target_monthly": target,
        "comparison_monthly": total,
        "independent_growth": growth,
        "nhs_decline": decline,
        "displacement_share": displacement,
    }
    return RuleResult(rule="activity", verdict=verdict, summary=summary, measures=measures, evidence=evidence)


# ---------------------------------------------------------------- all rules


def evaluate(inputs: OfferInputs, parameters: Parameters) -> list[RuleResult]:
    """Every rule's result for one offer, in :data:`RULES` order."""
    view = _View(inputs)
    return [
        cooling_off(view, parameters.cooling_off),
        dual_running(view, parameters.dual_running),
        local_draw(view, parameters.local_draw),
        training_reciprocity(view, parameters.training_reciprocity),
        activity(view, parameters.activity),
    ]


def overall(results: Iterable[RuleResult]) -> Verdict:
    """An offer's verdict: its worst rule verdict."""
    return worst(r.verdict for r in results)
