"""Hypothesis strategies for the pure passport modules: a holder's records, as the service reads them."""

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st

from service.passport.cstf import SUBJECTS, add_months
from service.passport.schemas import (
    OH_OUTCOMES,
    AssuranceRead,
    CoreSkillRead,
    CoreSkillsRule,
    IdentityLinkRead,
    IdentityLinkRule,
    OccupationalHealthRead,
    OccupationalHealthRule,
    PlacementRule,
    RecordRead,
    Rule,
    SubjectRequirement,
    TrainingPlacementRead,
)

PERSON = uuid.UUID("2f6d1c44-0b1e-4c5a-9d7e-3a5b6c7d8e9f")
ON = dt.date(2026, 8, 5)
"""The evaluation day of the property tests (an August changeover)."""
ORGANISATIONS = {
    "RRK": "Royal Free London NHS Foundation Trust",
    "NT301": "Example Hospital London",
    "RJ1": "Guy's",
}
SITES = ("RRK", "NT301", "RJ1")

days = st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2030, 12, 31))
assurances = st.builds(
    AssuranceRead,
    origin_organisation_code=st.sampled_from(sorted(ORGANISATIONS)),
    policy=st.sampled_from(["NHS Employment Check Standards", "CSTF attainment from the learning system"]),
    outcome=st.sampled_from(["verified", "partially_verified", "self_declared"]),
    verification_method=st.sampled_from(["source_system", "document_check", "clinical_assessment"]),
    last_refreshed_at=st.datetimes(
        min_value=dt.datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=dt.datetime(2026, 12, 1),  # noqa: DTZ001
        timezones=st.just(dt.UTC),
    ),
)
states = st.sampled_from(["current", "current", "current", "replaced", "corrected", "withdrawn"])


def _common(draw: Any) -> dict[str, Any]:
    return {
        "id": draw(st.uuids(version=4)),
        "person_id": PERSON,
        "state": draw(states),
        "supersedes_id": None,
        "superseded_by_id": None,
        "change_reason": None,
        "assurance": draw(assurances),
        "submitted_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "submitted_by": "issuer-rrk-test",
    }


@st.composite
def core_skills(draw: Any) -> CoreSkillRead:
    subject = draw(st.sampled_from(sorted(SUBJECTS)))
    level = draw(st.sampled_from(SUBJECTS[subject].levels))
    awarded = draw(days)
    months = draw(st.integers(min_value=1, max_value=60))
    until = add_months(awarded, months)
    return CoreSkillRead(
        **_common(draw),
        lapses_on=until,
        subject=subject,
        subject_name=SUBJECTS[subject].name,
        level=level,
        date_awarded=awarded,
        renewal_months=months,
        date_to=until,
        learning_provider="e-Learning for Healthcare",
        learning_method=draw(st.sampled_from(["e_learning", "face_to_face"])),
    )


@st.composite
def health(draw: Any) -> OccupationalHealthRead:
    item = draw(st.sampled_from(sorted(OH_OUTCOMES)))
    assessed = draw(days)
    review = (
        assessed + dt.timedelta(days=draw(st.integers(1, 1500)))
        if item == "epp_clearance" or draw(st.booleans())
        else None
    )
    return OccupationalHealthRead(
        **_common(draw),
        lapses_on=review,
        redacted=False,
        item=item,
        outcome=draw(st.sampled_from(OH_OUTCOMES[item])),
        assessed_on=assessed,
        review_date=review,
    )


@st.composite
def placements(draw: Any) -> TrainingPlacementRead:
    start = draw(days)
    end = start + dt.timedelta(days=draw(st.integers(0, 400)))
    return TrainingPlacementRead(
        **_common(draw),
        lapses_on=end + dt.timedelta(days=1),
        programme="Core Surgical Training",
        programme_start=None,
        programme_end=None,
        specialty=draw(st.sampled_from(["general surgery", "trauma and orthopaedics", "anaesthetics"])),
        grade=draw(st.sampled_from(["CT1", "CT2", "ST3"])),
        post_number=draw(st.none() | st.just("LDN/RRK01/021/CT2/001")),
        employing_body_code="RRK",
        site_code=draw(st.sampled_from(SITES)),
        start_date=start,
        end_date=end,
    )


@st.composite
def identities(draw: Any) -> IdentityLinkRead:
    return IdentityLinkRead(
        **_common(draw),
        lapses_on=None,
        given_names=draw(st.sampled_from(["Ada", "Ben Oluwaseun", "Chloë"])),
        family_name=draw(st.sampled_from(["Okafor", "O'Neill", "Smith-Jones"])),
        birth_date=draw(st.dates(min_value=dt.date(1960, 1, 1), max_value=dt.date(2000, 1, 1))),
        gmc_number=draw(st.none() | st.just("7123456")),
    )


def holder_records(max_size: int = 12) -> st.SearchStrategy[list[RecordRead]]:
    """Any mix of a holder's records of all four kinds, in any state."""
    return st.lists(st.one_of(core_skills(), health(), placements(), identities()), max_size=max_size)


# ---------------------------------------------------------------- fixed samples for unit tests

ASSURANCE = AssuranceRead(
    origin_organisation_code="RRK",
    policy="NHS Employment Check Standards",
    outcome="verified",
    verification_method="source_system",
    last_refreshed_at=dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC),
)


def _fixed(n: int) -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=n),
        "person_id": PERSON,
        "state": "current",
        "supersedes_id": None,
        "superseded_by_id": None,
        "change_reason": None,
        "assurance": ASSURANCE,
        "submitted_at": dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        "submitted_by": "issuer-rrk-test",
    }


def skill(subject: str, awarded: dt.date, until: dt.date, *, level: int = 1, n: int = 1) -> CoreSkillRead:
    return CoreSkillRead(
        **_fixed(n),
        lapses_on=until,
        subject=subject,
        subject_name=SUBJECTS[subject].name,
        level=level,
        date_awarded=awarded,
        renewal_months=12,
        date_to=until,
        learning_provider="e-Learning for Healthcare",
        learning_method="e_learning",
    )


def outcome(item: str, result: str, *, review: dt.date | None = None, n: int = 20) -> OccupationalHealthRead:
    return OccupationalHealthRead(
        **_fixed(n),
        lapses_on=review,
        redacted=False,
        item=item,
        outcome=result,
        assessed_on=dt.date(2025, 1, 10),
        review_date=review,
    )


def post(
    site: str, start: dt.date, end: dt.date, *, specialty: str = "general surgery", n: int = 40
) -> TrainingPlacementRead:
    return TrainingPlacementRead(
        **_fixed(n),
        lapses_on=end + dt.timedelta(days=1),
        programme="Core Surgical Training",
        programme_start=None,
        programme_end=None,
        specialty=specialty,
        grade="CT2",
        post_number="LDN/RRK01/021/CT2/001",
        employing_body_code="RRK",
        site_code=site,
        start_date=start,
        end_date=end,
    )


def person_identity(*, gmc: str | None = "7123456", n: int = 60) -> IdentityLinkRead:
    return IdentityLinkRead(
        **_fixed(n),
        lapses_on=None,
        given_names="Ada",
        family_name="Okafor",
        birth_date=dt.date(1994, 5, 17),
        gmc_number=gmc,
    )


# ---------------------------------------------------------------- compliance policy rules

subject_requirements = st.sampled_from(sorted(SUBJECTS)).flatmap(
    lambda s: st.builds(SubjectRequirement, subject=st.just(s), min_level=st.sampled_from(SUBJECTS[s].levels))
)
rules: st.SearchStrategy[Rule] = st.one_of(
    st.builds(
        CoreSkillsRule,
        subjects=st.lists(subject_requirements, min_size=1, max_size=4, unique_by=lambda r: r.subject),
    ),
    st.sampled_from(sorted(OH_OUTCOMES)).flatmap(
        lambda item: st.builds(
            OccupationalHealthRule,
            item=st.just(item),
            accepted=st.lists(st.sampled_from(OH_OUTCOMES[item]), min_size=1, unique=True),
            review_after_date=st.none() | st.booleans(),
        )
    ),
    st.builds(
        IdentityLinkRule,
        claims=st.lists(
            st.sampled_from(["given_names", "family_name", "birth_date", "gmc_number"]),
            min_size=1,
            unique=True,
        ),
    ),
    st.builds(
        PlacementRule,
        site_code=st.none() | st.sampled_from(SITES),
        specialties=st.none()
        | st.lists(st.sampled_from(["general surgery", "anaesthetics"]), min_size=1, unique=True),
        grades=st.none() | st.lists(st.sampled_from(["CT2", "ST3"]), min_size=1, unique=True),
    ),
)
