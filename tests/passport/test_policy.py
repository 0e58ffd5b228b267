"""Compliance policies evaluated on disclosed claims (service/passport/policy.py)."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.passport.claims import ClaimSet, build_claims, disclose
from service.passport.cstf import SUBJECTS, SubjectCode
from service.passport.policy import check_rules, disclosures_for, evaluate, requirements
from service.passport.schemas import (
    RECORD_KINDS,
    CoreSkillsRule,
    IdentityLinkRule,
    OccupationalHealthRule,
    PlacementRule,
    RecordRead,
    Rule,
    SubjectRequirement,
)
from tests.passport.strategies import (
    ON,
    ORGANISATIONS,
    PERSON,
    holder_records,
    outcome,
    person_identity,
    post,
    rules,
    skill,
)

SITE = "NT301"
D = dt.date(2026, 8, 5)


def credentials(records: Sequence[RecordRead], on: dt.date = ON) -> dict[str, ClaimSet]:
    built = {
        kind: build_claims(
            kind, PERSON, records, base_url="https://r.example", on=on, organisation_names=ORGANISATIONS
        )
        for kind in RECORD_KINDS
    }
    return {kind: c for kind, c in built.items() if c is not None}


def everything(records: Sequence[RecordRead], on: dt.date = ON) -> dict[str, dict[str, Any]]:
    return {kind: c.claims for kind, c in credentials(records, on).items()}


def judge(rules: list[Rule], disclosed: Any, on: dt.date = D, today: dt.date | None = None) -> list[str]:
    outcome_ = evaluate(rules, disclosed, on, organisation_code=SITE, today=today)
    return [r.reason for r in outcome_.rules]


def fire(min_level: int = 1) -> CoreSkillsRule:
    return CoreSkillsRule(subjects=[SubjectRequirement(subject="fire_safety", min_level=min_level)])


# ---------------------------------------------------------------- reasons a person reads


def test_an_expired_subject_is_named_with_its_date() -> None:
    records = [skill("fire_safety", dt.date(2024, 3, 1), dt.date(2026, 3, 1))]
    # Issued before it lapsed, presented for a placement starting after it.
    disclosed = everything(records, on=dt.date(2026, 1, 10))
    assert judge([fire()], disclosed) == ["Fire safety expired on 2026-03-01"]
    assert judge([fire()], disclosed, today=dt.date(2026, 1, 10)) == [
        "Fire safety expires on 2026-03-01, before 2026-08-05"
    ]


def test_subjects_in_date_pass_and_each_is_reported() -> None:
    rule = CoreSkillsRule(
        subjects=[
            SubjectRequirement(subject="fire_safety"),
            SubjectRequirement(subject="resuscitation", min_level=2),
        ]
    )
    records = [
        skill("fire_safety", dt.date(2026, 1, 1), dt.date(2028, 1, 1)),
        skill("resuscitation", dt.date(2026, 2, 1), dt.date(2027, 2, 1), level=3, n=2),
    ]
    result = evaluate([rule], everything(records), D, organisation_code=SITE).rules[0]
    assert result.passed
    assert result.reason == "All 2 subjects in date on 2026-08-05"
    assert result.details == [
        "Fire safety in date until 2028-01-01",
        "Resuscitation level 3 in date until 2027-02-01",
    ]


def test_a_level_too_low_and_a_missing_subject_fail_with_reasons() -> None:
    rule = CoreSkillsRule(
        subjects=[
            SubjectRequirement(subject="resuscitation", min_level=3),
            SubjectRequirement(subject="information_governance"),
        ]
    )
    records = [skill("resuscitation", dt.date(2026, 2, 1), dt.date(2027, 2, 1), level=2)]
    result = evaluate([rule], everything(records), D, organisation_code=SITE).rules[0]
    assert not result.passed
    assert result.details == [
        "Resuscitation: level 3 needed, level 2 disclosed",
        "Information governance and data security not disclosed",
    ]


def test_occupational_health_reasons() -> None:
    hep_b = OccupationalHealthRule(item="hepatitis_b", accepted=["immune"])
    epp = OccupationalHealthRule(item="epp_clearance", accepted=["cleared"])
    fitness = OccupationalHealthRule(item="fitness_for_work", accepted=["fit", "fit_with_adjustments"])
    assert judge([hep_b], {}) == ["Hepatitis B immunity not disclosed"]
    records = [
        outcome("hepatitis_b", "non_immune"),
        outcome("epp_clearance", "cleared", review=dt.date(2026, 8, 1), n=21),
        outcome("fitness_for_work", "fit_with_adjustments", n=22),
    ]
    disclosed = everything(records, on=dt.date(2026, 6, 1))
    assert judge([hep_b, epp, fitness], disclosed) == [
        "Hepatitis B immunity: not immune (needs immune)",
        "Exposure-prone procedures clearance: review was due on 2026-08-01",
        "Fitness for work: fit for work with adjustments",
    ]
    # The EPP review date is needed: withholding it fails the rule.
    credential = credentials(records, on=dt.date(2026, 6, 1))["occupational_health"]
    no_review = [p for p in credential.disclosable if p[-1:] != ("review_date",)]
    shown = {"occupational_health": disclose(credential, no_review)}
    assert judge([epp], shown) == ["Exposure-prone procedures clearance: review date not disclosed"]


def test_identity_and_placement_reasons() -> None:
    gmc = IdentityLinkRule()
    here = PlacementRule(specialties=["general surgery"])
    assert judge([gmc], everything([person_identity(gmc=None)])) == [
        "GMC number not disclosed in the identity link"
    ]
    assert judge([gmc], everything([person_identity()])) == ["Identity link discloses GMC number"]
    records = [
        post(SITE, dt.date(2026, 2, 4), dt.date(2026, 8, 4)),
        post("RRK", D, dt.date(2027, 2, 2), n=41),
    ]
    assert judge([here], everything(records, on=dt.date(2026, 3, 1))) == [
        "The placement at NT301 runs 2026-02-04 to 2026-08-04 and does not cover 2026-08-05"
    ]
    later = [post(SITE, D, dt.date(2027, 2, 2), specialty="anaesthetics")]
    assert judge([here], everything(later)) == [
        "The placement at NT301 is in anaesthetics, not general surgery"
    ]
    ok = [post(SITE, D, dt.date(2027, 2, 2))]
    assert judge([here], everything(ok)) == ["Placement at NT301 from 2026-08-05 to 2027-02-02"]
    assert judge([PlacementRule(site_code="RJ1")], everything(ok)) == ["No placement at RJ1 disclosed"]


def test_the_outcome_passes_only_when_every_rule_passes() -> None:
    records: list[RecordRead] = [
        skill("fire_safety", dt.date(2026, 1, 1), dt.date(2028, 1, 1)),
        person_identity(),
    ]
    rules: list[Rule] = [
        fire(),
        IdentityLinkRule(),
        OccupationalHealthRule(item="hepatitis_b", accepted=["immune"]),
    ]
    result = evaluate(rules, everything(records), D, organisation_code=SITE)
    assert [r.passed for r in result.rules] == [True, True, False]
    assert not result.passed
    assert result.summary == ("Does not meet 1 of 3 rules on 2026-08-05: Hepatitis B immunity not disclosed")
    passing = evaluate(rules[:2], everything(records), D, organisation_code=SITE)
    assert passing.passed
    assert passing.summary == "Meets all 2 rules on 2026-08-05"


def test_requirements_say_which_claims_each_rule_needs() -> None:
    rules: list[Rule] = [
        fire(),
        OccupationalHealthRule(item="epp_clearance", accepted=["cleared"]),
        IdentityLinkRule(claims=["gmc_number", "family_name"]),
        PlacementRule(),
    ]
    needed = requirements(rules, SITE)
    assert [r.description for r in needed] == [
        "In date on the day: Fire safety",
        "Exposure-prone procedures clearance: cleared, review date after the day",
        "Identity link with GMC number and family name",
        "A training placement at NT301 covering the day",
    ]
    paths = [[(n.credential_type, tuple(n.path), n.where) for n in r.needs] for r in needed]
    assert paths[0] == [
        ("core_skills", ("core_skills", None, field), {"subject": "fire_safety"})
        for field in ("subject", "level", "date_to")
    ]
    assert (
        "occupational_health",
        ("occupational_health", None, "review_date"),
        {"item": "epp_clearance"},
    ) in paths[1]
    assert paths[2] == [
        ("identity_link", ("identity", "gmc_number"), None),
        ("identity_link", ("identity", "family_name"), None),
    ]
    assert {p[1][2] for p in paths[3]} == {"site", "start_date", "end_date"}


# ---------------------------------------------------------------- properties

evaluation_days = st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2031, 1, 1))


def _subset(data: st.DataObject, claim_set: ClaimSet) -> set[tuple[str | int, ...]]:
    return data.draw(
        st.sets(st.sampled_from(claim_set.disclosable)) if claim_set.disclosable else st.just(set())
    )


@given(holder_records(), st.lists(rules, min_size=1, max_size=4), evaluation_days, st.data())
def test_disclosing_more_never_turns_a_pass_into_a_fail(
    records: list[RecordRead], policy: list[Rule], on: dt.date, data: st.DataObject
) -> None:
    held = credentials(records)
    fewer = {kind: _subset(data, c) for kind, c in held.items()}
    more = {kind: fewer[kind] | _subset(data, c) for kind, c in held.items()}
    before = evaluate(policy, {k: disclose(c, fewer[k]) for k, c in held.items()}, on, organisation_code=SITE)
    after = evaluate(policy, {k: disclose(c, more[k]) for k, c in held.items()}, on, organisation_code=SITE)
    for rule_before, rule_after in zip(before.rules, after.rules, strict=True):
        assert not (rule_before.passed and not rule_after.passed), (rule_before.reason, rule_after.reason)


@given(holder_records(), st.lists(rules, min_size=1, max_size=4), evaluation_days)
def test_disclosing_what_a_policy_needs_decides_it_as_disclosing_everything(
    records: list[RecordRead], policy: list[Rule], on: dt.date
) -> None:
    held = credentials(records)
    needs = [need for requirement in requirements(policy, SITE) for need in requirement.needs]
    asked = {k: disclose(c, disclosures_for(c, needs)) for k, c in held.items()}
    full = {k: c.claims for k, c in held.items()}
    by_need = evaluate(policy, asked, on, organisation_code=SITE)
    by_all = evaluate(policy, full, on, organisation_code=SITE)
    assert [r.passed for r in by_need.rules] == [r.passed for r in by_all.rules]


@given(
    st.sampled_from(sorted(SUBJECTS)),
    st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2026, 8, 5)),
    st.integers(min_value=1, max_value=36),
)
def test_an_expiry_reason_names_the_subject_and_its_date(
    subject: SubjectCode, until: dt.date, lead: int
) -> None:
    record = skill(subject, until - dt.timedelta(days=lead * 30), until, level=SUBJECTS[subject].levels[-1])
    disclosed = everything([record], on=until - dt.timedelta(days=1))
    rule = CoreSkillsRule(subjects=[SubjectRequirement(subject=subject)])
    result = evaluate([rule], disclosed, D, organisation_code=SITE).rules[0]
    assert not result.passed
    assert SUBJECTS[subject].name in result.reason
    assert until.isoformat() in result.reason


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
claim_names = st.sampled_from(
    [
        "core_skills",
        "occupational_health",
        "placements",
        "identity",
        "subject",
        "level",
        "date_to",
        "item",
        "outcome",
        "review_date",
        "site",
        "start_date",
        "end_date",
        "gmc_number",
        "holder_id",
    ]
)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(claim_names, scalars, max_size=3)
elements = st.dictionaries(claim_names, values, max_size=6) | values
odd_claims = st.dictionaries(claim_names, st.lists(elements, max_size=3) | elements, max_size=4) | values


@settings(suppress_health_check=[HealthCheck.too_slow])  # deep recursive values; slow on a shared machine
@given(
    st.dictionaries(st.sampled_from(list(RECORD_KINDS)), odd_claims), st.lists(rules, min_size=1, max_size=4)
)
def test_odd_claim_values_never_raise(disclosed: dict[str, Any], policy: list[Rule]) -> None:
    result = evaluate(policy, disclosed, D, organisation_code=SITE)
    assert len(result.rules) == len(policy)


# ---------------------------------------------------------------- checking a policy's rules


def test_check_rules_names_what_the_types_cannot() -> None:
    policy: list[Rule] = [
        CoreSkillsRule(
            subjects=[
                SubjectRequirement(subject="fire_safety", min_level=2),
                SubjectRequirement(subject="fire_safety"),
            ]
        ),
        OccupationalHealthRule(item="hepatitis_b", accepted=["immune", "cleared", "immune"]),
        IdentityLinkRule(claims=["gmc_number", "gmc_number"]),
        PlacementRule(site_code="NX999"),
    ]
    issues = {i.field: i.reason for i in check_rules(policy, known_sites={"NT301"})}
    assert issues == {
        "rules[0].subjects[1]": "repeats fire_safety",
        "rules[0].subjects[0].min_level": "Fire safety has levels 1",
        "rules[1].accepted[2]": "repeats immune",
        "rules[1].accepted[1]": "is not an outcome of hepatitis_b: one of immune, non_immune, non_responder, "
        "course_in_progress",
        "rules[2].claims[1]": "repeats gmc_number",
        "rules[3].site_code": "no organisation has the code NX999",
    }


@pytest.mark.parametrize("site", [None, "nt301"])
def test_a_placement_rule_defaults_to_the_policy_organisation(site: str | None) -> None:
    assert check_rules([PlacementRule(site_code=site)], known_sites={"NT301"}) == []
    assert requirements([PlacementRule(site_code=site)], SITE)[0].needs[0].where == {"site": "NT301"}
