"""Compliance policies evaluated against disclosed claims (pure).

A policy is a list of rules (:data:`service.passport.schemas.Rule`). :func:`evaluate` checks the claims a
holder disclosed (per credential type, in the shape of :mod:`service.passport.claims`, with undisclosed
parts absent) on a given date and returns the outcome rule by rule with a human reason, e.g. "Fire safety
expired on 2026-03-01" or "Hepatitis B immunity not disclosed". :func:`requirements` says which claims
each rule needs, for the verifier's request and the holder's page; :func:`disclosures_for` picks those
claims out of a holder's credential.

Every rule is monotone in what is disclosed: it passes when some disclosed record satisfies it, and it
looks only at the claims it lists as needs, so disclosing more never turns a pass into a fail, and
disclosing exactly what a policy needs decides it as disclosing everything would. Withheld and absent
are the same to a verifier: a reason says "not disclosed", never "not held".
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final, TypeGuard
from zoneinfo import ZoneInfo

from service.passport.checks import Issue
from service.passport.claims import ClaimSet, Path
from service.passport.cstf import SUBJECTS, describe, levels_text, subject_name
from service.passport.schemas import (
    OH_ITEM_NAMES,
    OH_OUTCOMES,
    REVIEW_REQUIRED,
    CoreSkillsRule,
    IdentityLinkRule,
    OccupationalHealthRule,
    PlacementRule,
    Rule,
    SubjectRequirement,
)
from service.passport.schemas import ClaimNeed as ClaimNeed
from service.passport.schemas import PolicyOutcome as PolicyOutcome
from service.passport.schemas import RuleOutcome as RuleOutcome
from service.passport.schemas import RuleRequirement as RuleRequirement

OUTCOME_LABELS: Final = {
    "immune": "immune",
    "non_immune": "not immune",
    "non_responder": "non-responder",
    "course_in_progress": "course in progress",
    "cleared": "cleared",
    "not_cleared": "not cleared",
    "fit": "fit for work",
    "fit_with_adjustments": "fit for work with adjustments",
    "not_fit": "not fit for work",
}
IDENTITY_LABELS: Final = {
    "given_names": "Given names",
    "family_name": "Family name",
    "birth_date": "Date of birth",
    "gmc_number": "GMC number",
}


Disclosed = Mapping[str, Mapping[str, Any]]
"""The disclosed claims of each presented credential, by credential type (record kind)."""

ENGLAND: Final = ZoneInfo("Europe/London")
"""The day of a request is the day in England (GMT or BST), as HR and the doctor read it."""


# ---------------------------------------------------------------- the day to judge on


def day_in_england(now: dt.datetime) -> dt.date:
    """The date in England (Europe/London) at the instant ``now`` (timezone-aware)."""
    return now.astimezone(ENGLAND).date()


def judging_day_refusal(on: dt.date, now: dt.datetime) -> str | None:
    """Why a policy may not be judged on ``on`` when the request is made at ``now``; None when it may.

    A day before the day the request is made (in England) is refused. The rules read only what a
    credential states about the day itself (a record's ``date_to``, a review date, a placement's dates),
    never when a record was awarded, so on a past day a record awarded since would count as held then
    (decision 0040); a record in a credential is never dated after the day it was issued, so on the
    request's day or later every rule means what it says. A request made on one day for a later day is
    judged on its own day whenever it is answered.
    """
    first = day_in_england(now)
    if on < first:
        return f"must not be before {first.isoformat()}, the day the request is made"
    return None


# ---------------------------------------------------------------- reading claims defensively


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, with decoded JSON objects (plain dicts) answered without the ABC's
    check (about half a microsecond each)."""
    return type(value) is dict or isinstance(value, Mapping)


def _records(disclosed: Disclosed, kind: str, container: str) -> list[Mapping[str, Any]]:
    claims = disclosed.get(kind)
    value = claims.get(container) if _is_mapping(claims) else None
    if not isinstance(value, list):
        return []
    return [item for item in value if _is_mapping(item)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- core skills


def _subject_needs(requirement: SubjectRequirement) -> list[ClaimNeed]:
    where: dict[str, str] = {"subject": requirement.subject}
    return [
        ClaimNeed(credential_type="core_skills", path=["core_skills", None, name], where=where)
        for name in ("subject", "level", "date_to")
    ]


def _requirement_text(requirement: SubjectRequirement) -> str:
    name = subject_name(requirement.subject)
    return name if requirement.min_level == 1 else f"{name} (level {requirement.min_level} or above)"


def _subject_line(
    requirement: SubjectRequirement, elements: Sequence[Mapping[str, Any]], on: dt.date, today: dt.date | None
) -> tuple[bool, str]:
    name = subject_name(requirement.subject)
    same = [e for e in elements if e.get("subject") == requirement.subject]
    if not same:
        return False, f"{name} not disclosed"
    levelled = [e for e in same if _int(e.get("level")) is not None]
    if not levelled:
        return False, f"{name}: level not disclosed"
    high_enough = [e for e in levelled if (_int(e.get("level")) or 0) >= requirement.min_level]
    if not high_enough:
        best = max(_int(e.get("level")) or 0 for e in levelled)
        return False, f"{name}: level {requirement.min_level} needed, level {best} disclosed"
    dated = [(d, e) for e in high_enough if (d := _date(e.get("date_to"))) is not None]
    if not dated:
        return False, f"{name}: date to not disclosed"
    until, best_element = max(dated, key=lambda item: item[0])
    label = describe(requirement.subject, _int(best_element.get("level")) or requirement.min_level)
    if until > on:
        return True, f"{label} in date until {until.isoformat()}"
    if today is not None and until > today:
        return False, f"{name} expires on {until.isoformat()}, before {on.isoformat()}"
    return False, f"{name} expired on {until.isoformat()}"


def _core_skills(
    rule: CoreSkillsRule, disclosed: Disclosed, on: dt.date, today: dt.date | None
) -> tuple[bool, str, list[str]]:
    elements = _records(disclosed, "core_skills", "core_skills")
    lines = [_subject_line(r, elements, on, today) for r in rule.subjects]
    failed = [text for ok, text in lines if not ok]
    if failed:
        return False, "; ".join(failed), [text for _, text in lines]
    count = len(lines)
    summary = lines[0][1] if count == 1 else f"All {count} subjects in date on {on.isoformat()}"
    return True, summary, [text for _, text in lines]


# ---------------------------------------------------------------- occupational health


def _checks_review(rule: OccupationalHealthRule) -> bool:
    return rule.review_after_date if rule.review_after_date is not None else rule.item in REVIEW_REQUIRED


def _oh_needs(rule: OccupationalHealthRule) -> list[ClaimNeed]:
    names = ["item", "outcome", *(["review_date"] if _checks_review(rule) else [])]
    return [
        ClaimNeed(
            credential_type="occupational_health",
            path=["occupational_health", None, name],
            where={"item": rule.item},
        )
        for name in names
    ]


def _accepted_text(accepted: Sequence[str]) -> str:
    labels = [OUTCOME_LABELS.get(o, o) for o in accepted]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _oh_line(rule: OccupationalHealthRule, element: Mapping[str, Any], on: dt.date) -> tuple[bool, str]:
    name = OH_ITEM_NAMES.get(rule.item, rule.item)
    outcome = element.get("outcome")
    if not isinstance(outcome, str):
        return False, f"{name}: outcome not disclosed"
    if outcome not in rule.accepted:
        shown = OUTCOME_LABELS.get(outcome, "another outcome")
        return False, f"{name}: {shown} (needs {_accepted_text(rule.accepted)})"
    if not _checks_review(rule):
        return True, f"{name}: {OUTCOME_LABELS.get(outcome, outcome)}"
    review = _date(element.get("review_date"))
    if review is None:
        return False, f"{name}: review date not disclosed"
    if review <= on:
        return False, f"{name}: review was due on {review.isoformat()}"
    return True, f"{name}: {OUTCOME_LABELS.get(outcome, outcome)} until {review.isoformat()}"


def _occupational_health(rule: OccupationalHealthRule, disclosed: Disclosed, on: dt.date) -> tuple[bool, str]:
    name = OH_ITEM_NAMES.get(rule.item, rule.item)
    elements = [
        e
        for e in _records(disclosed, "occupational_health", "occupational_health")
        if e.get("item") == rule.item
    ]
    if not elements:
        return False, f"{name} not disclosed"
    lines = [_oh_line(rule, e, on) for e in elements]
    passing = [text for ok, text in lines if ok]
    return (True, passing[0]) if passing else (False, lines[0][1])


# ---------------------------------------------------------------- identity link


def _identity_needs(rule: IdentityLinkRule) -> list[ClaimNeed]:
    return [ClaimNeed(credential_type="identity_link", path=["identity", name]) for name in rule.claims]


def _identity(rule: IdentityLinkRule, disclosed: Disclosed) -> tuple[bool, str]:
    claims = disclosed.get("identity_link")
    identity = claims.get("identity") if isinstance(claims, Mapping) else None
    if not isinstance(identity, Mapping):
        return False, "Identity link not disclosed"
    missing = [IDENTITY_LABELS[name] for name in rule.claims if not identity.get(name)]
    if missing:
        return False, f"{' and '.join(missing)} not disclosed in the identity link"
    shown = " and ".join(IDENTITY_LABELS[name] for name in rule.claims)
    return True, f"Identity link discloses {shown}"


# ---------------------------------------------------------------- placements


def _site(rule: PlacementRule, organisation_code: str) -> str:
    return rule.site_code.upper() if rule.site_code else organisation_code


def _placement_needs(rule: PlacementRule, organisation_code: str) -> list[ClaimNeed]:
    names = ["site", "start_date", "end_date"]
    names += ["specialty"] if rule.specialties else []
    names += ["grade"] if rule.grades else []
    where = {"site": _site(rule, organisation_code)}
    return [
        ClaimNeed(credential_type="training_placement", path=["placements", None, name], where=where)
        for name in names
    ]


def _placement_line(
    rule: PlacementRule, element: Mapping[str, Any], site: str, on: dt.date
) -> tuple[bool, str]:
    start, end = _date(element.get("start_date")), _date(element.get("end_date"))
    if start is None or end is None:
        return False, f"The placement at {site}: start or end date not disclosed"
    span = f"{start.isoformat()} to {end.isoformat()}"
    if not start <= on <= end:
        return False, f"The placement at {site} runs {span} and does not cover {on.isoformat()}"
    if rule.specialties:
        specialty = element.get("specialty")
        if not isinstance(specialty, str):
            return False, f"The placement at {site}: specialty not disclosed"
        if specialty not in rule.specialties:
            return False, f"The placement at {site} is in {specialty}, not {' or '.join(rule.specialties)}"
    if rule.grades:
        grade = element.get("grade")
        if not isinstance(grade, str):
            return False, f"The placement at {site}: grade not disclosed"
        if grade not in rule.grades:
            return False, f"The placement at {site} is at grade {grade}, not {' or '.join(rule.grades)}"
    return True, f"Placement at {site} from {span}"


def _placement(
    rule: PlacementRule, disclosed: Disclosed, on: dt.date, organisation_code: str
) -> tuple[bool, str]:
    site = _site(rule, organisation_code)
    elements = _records(disclosed, "training_placement", "placements")
    if not elements:
        return False, "No training placement disclosed"
    here = [e for e in elements if e.get("site") == site]
    if not here:
        return False, f"No placement at {site} disclosed"
    lines = [_placement_line(rule, e, site, on) for e in here]
    passing = [text for ok, text in lines if ok]
    return (True, passing[0]) if passing else (False, lines[0][1])


# ---------------------------------------------------------------- rules


def rule_type(rule: Rule) -> str:
    tag = type(rule).__struct_config__.tag
    return str(tag)


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Family name" becomes "family name", an initialism stays ("GMC number")."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def describe_rule(rule: Rule, organisation_code: str) -> str:
    """The rule in words, as the holder's page and the verifier's result show it."""
    if isinstance(rule, CoreSkillsRule):
        return "In date on the day: " + ", ".join(_requirement_text(r) for r in rule.subjects)
    if isinstance(rule, OccupationalHealthRule):
        text = f"{OH_ITEM_NAMES.get(rule.item, rule.item)}: {_accepted_text(rule.accepted)}"
        return text + (", review date after the day" if _checks_review(rule) else "")
    if isinstance(rule, IdentityLinkRule):
        return "Identity link with " + " and ".join(_in_sentence(IDENTITY_LABELS[c]) for c in rule.claims)
    text = f"A training placement at {_site(rule, organisation_code)} covering the day"
    if rule.specialties:
        text += f", in {' or '.join(rule.specialties)}"
    if rule.grades:
        text += f", at grade {' or '.join(rule.grades)}"
    return text


def rule_needs(rule: Rule, organisation_code: str) -> list[ClaimNeed]:
    if isinstance(rule, CoreSkillsRule):
        return [need for requirement in rule.subjects for need in _subject_needs(requirement)]
    if isinstance(rule, OccupationalHealthRule):
        return _oh_needs(rule)
    if isinstance(rule, IdentityLinkRule):
        return _identity_needs(rule)
    return _placement_needs(rule, organisation_code)


def requirements(rules: Sequence[Rule], organisation_code: str) -> list[RuleRequirement]:
    """What each rule needs disclosed, in policy order."""
    return [
        RuleRequirement(
            index=index,
            type=rule_type(rule),
            description=describe_rule(rule, organisation_code),
            needs=rule_needs(rule, organisation_code),
        )
        for index, rule in enumerate(rules, start=1)
    ]


def _requirements_of(rules: Sequence[Rule], organisation_code: str) -> list[RuleRequirement]:
    return requirements(rules, organisation_code)


def _evaluate_rule(
    rule: Rule, disclosed: Disclosed, on: dt.date, organisation_code: str, today: dt.date | None
) -> tuple[bool, str, list[str]]:
    if isinstance(rule, CoreSkillsRule):
        return _core_skills(rule, disclosed, on, today)
    if isinstance(rule, OccupationalHealthRule):
        ok, text = _occupational_health(rule, disclosed, on)
    elif isinstance(rule, IdentityLinkRule):
        ok, text = _identity(rule, disclosed)
    else:
        ok, text = _placement(rule, disclosed, on, organisation_code)
    return ok, text, [text]


def evaluate(
    rules: Sequence[Rule],
    disclosed: Disclosed,
    on: dt.date,
    *,
    organisation_code: str,
    today: dt.date | None = None,
    requirements: Sequence[RuleRequirement] | None = None,
) -> PolicyOutcome:
    """Evaluate the rules of a policy of ``organisation_code`` against the disclosed claims on ``on``.

    ``today``, when given, lets a reason say that a record *will* have expired by ``on`` rather than that
    it has. Never raises on odd claim values: a value of the wrong shape counts as not disclosed.
    ``requirements``: ``requirements(rules, organisation_code)`` when the caller keeps them (they depend
    on the rules alone): each outcome's type, description and needs are taken from them, not made again.
    """
    if requirements is None or len(requirements) != len(rules):
        requirements = _requirements_of(rules, organisation_code)
    outcomes = []
    for rule, requirement in zip(rules, requirements, strict=True):
        ok, reason, details = _evaluate_rule(rule, disclosed, on, organisation_code, today)
        outcomes.append(
            RuleOutcome(
                index=requirement.index,
                type=requirement.type,
                description=requirement.description,
                passed=ok,
                reason=reason,
                details=details,
                needs=list(requirement.needs),
            )
        )
    failed = [o for o in outcomes if not o.passed]
    if not failed:
        summary = f"Meets all {len(outcomes)} rules on {on.isoformat()}"
    else:
        summary = f"Does not meet {len(failed)} of {len(outcomes)} rules on {on.isoformat()}: " + "; ".join(
            o.reason for o in failed
        )
    return PolicyOutcome(passed=not failed, on=on, rules=outcomes, summary=summary)


# ---------------------------------------------------------------- choosing disclosures


def _select(
    value: Any, pattern: Sequence[str | None], where: Mapping[str, str] | None, path: Path
) -> list[Path]:
    """Concrete paths under ``value`` selected by ``pattern``; array elements filtered by ``where``."""
    if not pattern:
        return [path]
    head, rest = pattern[0], pattern[1:]
    if head is None:
        if not isinstance(value, list):
            return []
        found: list[Path] = []
        for index, element in enumerate(value):
            if where and not (
                isinstance(element, Mapping) and all(element.get(k) == v for k, v in where.items())
            ):
                continue
            found += _select(element, rest, where, (*path, index))
        return found
    if not isinstance(value, Mapping) or head not in value:
        return []
    return _select(value[head], rest, where, (*path, head))


def disclosures_for(claim_set: ClaimSet, needs: Iterable[ClaimNeed]) -> set[Path]:
    """The disclosable paths of a holder's credential that a set of needs asks for: each needed claim,
    the records holding it, and the fields the records are picked by (``where``)."""
    disclosable = set(claim_set.disclosable)
    chosen: set[Path] = set()
    for need in needs:
        if need.credential_type != claim_set.credential_type:
            continue
        pattern = list(need.path)
        patterns = [pattern]
        if need.where and None in pattern:
            cut = pattern.index(None) + 1
            patterns += [[*pattern[:cut], key] for key in need.where]
        for each in patterns:
            for path in _select(claim_set.claims, each, need.where, ()):
                chosen.update(path[:n] for n in range(1, len(path) + 1) if path[:n] in disclosable)
    return chosen


# ---------------------------------------------------------------- checking a policy


def _repeats(values: Sequence[str], field: str) -> list[Issue]:
    seen: set[str] = set()
    issues = []
    for index, value in enumerate(values):
        if value in seen:
            issues.append(Issue(f"{field}[{index}]", f"repeats {value}"))
        seen.add(value)
    return issues


def check_rules(rules: Sequence[Rule], *, known_sites: AbstractSet[str]) -> list[Issue]:
    """What the rules' types cannot say: levels a subject has, outcomes an item has, repeats, sites.

    ``known_sites``: the registered organisation codes among the sites the rules name.
    """
    issues: list[Issue] = []
    for index, rule in enumerate(rules):
        at = f"rules[{index}]"
        if isinstance(rule, CoreSkillsRule):
            issues += _repeats([r.subject for r in rule.subjects], f"{at}.subjects")
            for n, requirement in enumerate(rule.subjects):
                levels = SUBJECTS[requirement.subject].levels
                if requirement.min_level not in levels:
                    name = subject_name(requirement.subject)
                    has = f"{name} has levels {levels_text(requirement.subject)}"
                    issues.append(Issue(f"{at}.subjects[{n}].min_level", has))
        elif isinstance(rule, OccupationalHealthRule):
            outcomes = OH_OUTCOMES.get(rule.item, ())
            issues += _repeats(rule.accepted, f"{at}.accepted")
            issues += [
                Issue(
                    f"{at}.accepted[{n}]", f"is not an outcome of {rule.item}: one of {', '.join(outcomes)}"
                )
                for n, outcome in enumerate(rule.accepted)
                if outcome not in outcomes
            ]
        elif isinstance(rule, IdentityLinkRule):
            issues += _repeats(list(rule.claims), f"{at}.claims")
        elif rule.site_code is not None and rule.site_code.upper() not in known_sites:
            issues.append(Issue(f"{at}.site_code", f"no organisation has the code {rule.site_code.upper()}"))
    return issues
