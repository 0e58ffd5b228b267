"""Wire structs of the passport domain: source records, the CSTF reference table, compliance policies.

A record is submitted as one flat JSON object (or CSV row) whose ``kind`` says what it is. msgspec enforces
what a type, pattern or range can say; :mod:`service.passport.checks` does the rest (rules across fields,
the subject's levels, an outcome's item), so a JSON body and a CSV row are refused alike.

Occupational health values are never echoed back in an error: their items and outcomes are checked with
patterns (whose messages name the pattern, not the value) rather than enumerations.
"""

import datetime as dt
import uuid
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

from service.passport.cstf import SubjectCode
from service.workforce.schemas import GmcNumber, OdsCode

_END = r"$(?!\n)"
_TEXT = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?" + _END


def _described(limit: int) -> Meta:
    return Meta(
        min_length=1,
        max_length=limit,
        pattern=_TEXT,
        description=f"1 to {limit} characters, no control characters, no leading or trailing space",
    )


Text60 = Annotated[str, _described(60)]
Text100 = Annotated[str, _described(100)]
Text200 = Annotated[str, _described(200)]
Text500 = Annotated[str, _described(500)]

RecordKind = Literal["core_skills", "occupational_health", "training_placement", "identity_link"]
RECORD_KINDS: Final = get_args(RecordKind)
RecordState = Literal["current", "replaced", "corrected", "withdrawn"]
"""``current``: in force; ``replaced``: a later record of the same thing took its place (e.g. a renewed
award); ``corrected``: superseded by a correction; ``withdrawn``: withdrawn by its issuer."""
AssuranceOutcome = Literal["verified", "partially_verified", "self_declared"]
VerificationMethod = Literal[
    "source_system", "document_check", "in_person_check", "attestation", "clinical_assessment"
]
LearningMethod = Literal["e_learning", "face_to_face", "blended", "assessment"]
TrainingGrade = Literal[
    "FY1", "FY2", "CT1", "CT2", "CT3", "ST1", "ST2", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8"
]

OH_OUTCOMES: Final[dict[str, tuple[str, ...]]] = {
    "hepatitis_b": ("immune", "non_immune", "non_responder", "course_in_progress"),
    "measles_rubella": ("immune", "non_immune"),
    "varicella": ("immune", "non_immune"),
    "tuberculosis": ("cleared", "not_cleared"),
    "epp_clearance": ("cleared", "not_cleared"),
    "fitness_for_work": ("fit", "fit_with_adjustments", "not_fit"),
}
"""Occupational health items and the outcomes each may have: outcomes only, never results or diagnoses."""
OH_ITEMS: Final = tuple(OH_OUTCOMES)
OH_ITEM_NAMES: Final = {
    "hepatitis_b": "Hepatitis B immunity",
    "measles_rubella": "Measles and rubella immunity",
    "varicella": "Varicella immunity",
    "tuberculosis": "Tuberculosis screening",
    "epp_clearance": "Exposure-prone procedures clearance",
    "fitness_for_work": "Fitness for work",
}
REVIEW_REQUIRED: Final = frozenset({"epp_clearance"})
"""Items whose record must carry a review date."""
_ALL_OUTCOMES = sorted({o for outcomes in OH_OUTCOMES.values() for o in outcomes})

OhItem = Annotated[
    str,
    Meta(
        pattern="^(?:" + "|".join(OH_ITEMS) + ")" + _END,
        description="one of " + ", ".join(OH_ITEMS),
    ),
]
OhOutcome = Annotated[
    str,
    Meta(
        pattern="^(?:" + "|".join(_ALL_OUTCOMES) + ")" + _END,
        description="an outcome of the item: "
        + "; ".join(f"{item}: {', '.join(o)}" for item, o in OH_OUTCOMES.items()),
    ),
]
Level = Annotated[int, Meta(ge=1, le=3, description="the subject's level, 1 to 3 (as the subject has)")]
PostNumber = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/\-]{2,39}" + _END,
        description="a post number such as LDN/RRK01/021/ST3/001: 3 to 40 letters, digits, / or -",
    ),
]
RenewalMonths = Annotated[int, Meta(ge=1, le=120, description="renewal period in whole months, 1 to 120")]

# ---------------------------------------------------------------- records in


class RecordBase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    """What every record carries: whom it is about (``person_id`` or ``gmc_number``) and its assurance."""

    person_id: uuid.UUID | None = None
    """The person of the workforce registry; or give ``gmc_number``. If both, they must agree."""
    gmc_number: GmcNumber | None = None
    origin_organisation_code: OdsCode | None = None
    """The organisation the record comes from: always the submitting issuer's own (the default)."""
    assurance_policy: Text200
    """The check the origin applied, e.g. "NHS Employment Check Standards: identity checks"."""
    assurance_outcome: AssuranceOutcome
    verification_method: VerificationMethod
    last_refreshed_at: dt.datetime | None = None
    """When the origin last confirmed the record against its source (default: now)."""


class CoreSkillCreate(RecordBase, frozen=True, kw_only=True, tag="core_skills"):
    """A CSTF subject completed at a level. ``date_to`` defaults to awarded + the subject's renewal period."""

    subject: SubjectCode
    level: Level = 1
    date_awarded: dt.date
    date_to: dt.date | None = None
    """The first day the award is no longer in date (it expires on this day)."""
    learning_provider: Text200
    learning_method: LearningMethod


class OccupationalHealthCreate(RecordBase, frozen=True, kw_only=True, tag="occupational_health"):
    """One occupational health outcome. Outcomes only: test results or diagnoses have no field."""

    item: OhItem
    outcome: OhOutcome
    assessed_on: dt.date
    review_date: dt.date | None = None
    """Required for EPP clearance: the clearance holds until (not on) this day."""


class TrainingPlacementCreate(RecordBase, frozen=True, kw_only=True, tag="training_placement"):
    """A placement of a doctor in training within a programme. The placement covers ``start_date`` to
    ``end_date`` inclusive."""

    programme: Text200
    programme_start: dt.date | None = None
    programme_end: dt.date | None = None
    specialty: Text60
    grade: TrainingGrade
    post_number: PostNumber | None = None
    employing_body_code: OdsCode
    site_code: OdsCode
    start_date: dt.date
    end_date: dt.date


class IdentityLinkCreate(RecordBase, frozen=True, kw_only=True, tag="identity_link"):
    """The holder's legal identity; the GMC number is the person's registered one."""

    given_names: Text100
    family_name: Text100
    birth_date: dt.date


RecordCreate = CoreSkillCreate | OccupationalHealthCreate | TrainingPlacementCreate | IdentityLinkCreate
RecordSubmission = RecordCreate | list[RecordCreate]
"""``POST /api/v1/records`` takes one record or a list of them (all or nothing)."""
CREATE_TYPES: Final[dict[str, type[RecordBase]]] = {
    "core_skills": CoreSkillCreate,
    "occupational_health": OccupationalHealthCreate,
    "training_placement": TrainingPlacementCreate,
    "identity_link": IdentityLinkCreate,
}
MAX_BATCH: Final = 5000


class RecordCorrection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The corrected record (same kind and person) and why: it supersedes the old one."""

    reason: Text500
    record: RecordCreate


class RecordWithdrawal(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Text500


# ---------------------------------------------------------------- records out


class AssuranceRead(msgspec.Struct, frozen=True, kw_only=True):
    origin_organisation_code: str
    policy: str
    outcome: str
    verification_method: str
    last_refreshed_at: dt.datetime


class RecordReadBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    id: uuid.UUID
    person_id: uuid.UUID
    state: RecordState
    supersedes_id: uuid.UUID | None
    """The record this one corrected, replaced, or None."""
    superseded_by_id: uuid.UUID | None
    change_reason: str | None
    """Why the record was corrected or withdrawn (set on the superseded or withdrawn record)."""
    lapses_on: dt.date | None
    """The first day the record no longer holds (date to, review date, day after the placement)."""
    assurance: AssuranceRead
    submitted_at: dt.datetime
    submitted_by: str


class CoreSkillRead(RecordReadBase, frozen=True, kw_only=True, tag="core_skills"):
    subject: str
    subject_name: str
    level: int
    date_awarded: dt.date
    renewal_months: int
    date_to: dt.date
    learning_provider: str
    learning_method: str


class OccupationalHealthRead(RecordReadBase, frozen=True, kw_only=True, tag="occupational_health"):
    """``redacted``: the outcome is shown only to the origin organisation (never to operators)."""

    redacted: bool
    item: str | None
    outcome: str | None
    assessed_on: dt.date | None
    review_date: dt.date | None


class TrainingPlacementRead(RecordReadBase, frozen=True, kw_only=True, tag="training_placement"):
    programme: str
    programme_start: dt.date | None
    programme_end: dt.date | None
    specialty: str
    grade: str
    post_number: str | None
    employing_body_code: str
    site_code: str
    start_date: dt.date
    end_date: dt.date


class IdentityLinkRead(RecordReadBase, frozen=True, kw_only=True, tag="identity_link"):
    given_names: str
    family_name: str
    birth_date: dt.date
    gmc_number: str | None


RecordRead = CoreSkillRead | OccupationalHealthRead | TrainingPlacementRead | IdentityLinkRead


class RecordsCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a batch: every record created, in the order given."""

    created: int
    records: list[RecordRead]


class RecordPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RecordRead]
    limit: int
    offset: int
    next_offset: int | None


class RecordImportResult(msgspec.Struct, frozen=True, kw_only=True):
    kind: RecordKind
    created: int
    ids: list[str]
    """Ids of the created records, in the order of the file's rows."""


# ---------------------------------------------------------------- the lifecycle's change feed


class AffectedCredential(msgspec.Struct, frozen=True, kw_only=True):
    """A (person, credential type) pair whose credential needs re-issuing."""

    person_id: uuid.UUID
    kind: RecordKind


class ChangeBatch(msgspec.Struct, frozen=True, kw_only=True):
    affected: list[AffectedCredential]
    cursor: int
    """Pass it to the next call of ``changes_since``."""
    more: bool


class LapsedRecord(msgspec.Struct, frozen=True, kw_only=True):
    record_id: uuid.UUID
    person_id: uuid.UUID
    kind: RecordKind
    lapses_on: dt.date


class LapseBatch(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LapsedRecord]
    affected: list[AffectedCredential]
    next: tuple[dt.date, uuid.UUID] | None
    """Pass it back as ``start`` for the rest; None when this was the last batch."""


# ---------------------------------------------------------------- CSTF reference table


class LevelPeriod(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Level
    renewal_months: RenewalMonths


class SubjectRead(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    name: str
    levels: list[LevelPeriod]
    updated_at: dt.datetime | None
    """When an admin last changed a period of this subject (None: the defaults)."""
    updated_by: str | None


class SubjectUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The renewal period of every level of the subject. Applies to records submitted from now on."""

    levels: list[LevelPeriod]


# ---------------------------------------------------------------- compliance policies


class SubjectRequirement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    subject: SubjectCode
    min_level: Level = 1
    """An award at this level or above satisfies the requirement."""


class CoreSkillsRule(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="core_skills"
):
    """Each of these subjects in date on the evaluation date."""

    subjects: Annotated[list[SubjectRequirement], Meta(min_length=1, max_length=20)]


class OccupationalHealthRule(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="occupational_health"
):
    """The item's outcome is one of ``accepted``; with ``review_after_date``, its review date falls after
    the evaluation date (default: for EPP clearance, whose records always carry a review date)."""

    item: OhItem
    accepted: Annotated[list[OhOutcome], Meta(min_length=1, max_length=6)]
    review_after_date: bool | None = None


IdentityClaim = Literal["given_names", "family_name", "birth_date", "gmc_number"]


class IdentityLinkRule(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="identity_link"
):
    """An identity link disclosing these claims (by default the GMC number)."""

    claims: Annotated[list[IdentityClaim], Meta(min_length=1, max_length=4)] = msgspec.field(
        default_factory=lambda: ["gmc_number"]
    )


class PlacementRule(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="training_placement"
):
    """A training placement at the site covering the evaluation date (site: the policy's organisation
    unless given), optionally in one of these specialties and grades."""

    site_code: OdsCode | None = None
    specialties: Annotated[list[Text60], Meta(max_length=20)] | None = None
    grades: Annotated[list[TrainingGrade], Meta(max_length=13)] | None = None


Rule = CoreSkillsRule | OccupationalHealthRule | IdentityLinkRule | PlacementRule
PolicyName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?" + _END,
        description="a short name: lower-case letters, digits and hyphens, e.g. theatre-surgical-trainee",
    ),
]


class PolicyCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new version of the policy ``name`` of the organisation (version 1 if it is new)."""

    organisation_code: OdsCode
    name: PolicyName
    title: Text200
    role: Text100
    """Whom it applies to, e.g. "surgical trainee on an independent sector theatre list"."""
    description: Text500 | None = None
    rules: Annotated[list[Rule], Meta(min_length=1, max_length=30)]


class PolicyRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    organisation_code: str
    name: str
    version: int
    title: str
    role: str
    description: str | None
    rules: list[Rule]
    created_at: dt.datetime
    created_by: str
    latest: bool
    """Whether this is the newest version of the policy."""


class PolicyPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PolicyRead]
    limit: int
    offset: int
    next_offset: int | None


# ---------------------------------------------------------------- a policy's requirements and outcome
# (made by service/passport/policy.py; defined here, outside the modules compiled with mypyc, because
# msgspec reads each field's type from the class and mypyc keeps only the outer type: decision 0051)


class ClaimNeed(msgspec.Struct, frozen=True, kw_only=True):
    """A claim a rule looks at: in the credential of ``credential_type``, at ``path`` (None: every element
    of that array), in the elements whose fields equal ``where``."""

    credential_type: str
    path: list[str | None]
    where: dict[str, str] | None = None


class RuleRequirement(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    """Position of the rule in the policy, from 1."""
    type: str
    description: str
    needs: list[ClaimNeed]


class RuleOutcome(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    type: str
    description: str
    passed: bool
    reason: str
    """One line: why the rule passed or failed."""
    details: list[str]
    """One line per requirement of the rule (e.g. per subject), passed or not."""
    needs: list[ClaimNeed]


class PolicyOutcome(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    on: dt.date
    rules: list[RuleOutcome]
    summary: str


def kind_of(record: RecordBase | RecordReadBase) -> RecordKind:
    """The ``kind`` of a record struct (a tag, which msgspec does not keep as an attribute)."""
    tag = type(record).__struct_config__.tag
    if tag not in RECORD_KINDS:
        raise TypeError(f"{type(record).__name__} is not a record of a known kind")
    kind: RecordKind = tag  # type: ignore[assignment]
    return kind
