"""Wire structs of the placements domain: the match result (JSON shape documented in
``docs/placements.md`` and kept stable), API requests and responses, and the records other domains read.
"""

import datetime as dt
import uuid
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

Mode = Literal["optimal", "stable", "fair"]
MODES: Final = ("optimal", "stable", "fair")
FileKind = Literal[
    "sites",
    "capacity",
    "trainees",
    "needs",
    "preferences",
    "weights",
    "excluded_sites",
    "excluded_trainee_sites",
]
DATASET_FILES: Final = (
    "sites",
    "capacity",
    "trainees",
    "needs",
    "preferences",
    "weights",
    "excluded_sites",
    "excluded_trainee_sites",
)
"""Files kept per dataset (a rotation plan); volumes, curriculum and logbook are registry-wide."""
FinancialYear = Annotated[
    str, Meta(pattern=r"^[0-9]{4}-[0-9]{2}$(?!\n)", description="a financial year such as 2025-26")
]
GmcNumber = Annotated[str, Meta(pattern=r"^[0-9]{7}$(?!\n)", description="a GMC reference number: 7 digits")]
OdsCode = Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{3,6}$(?!\n)", description="an ODS code")]
Reason = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$(?!\n)")]
PolicyName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$(?!\n)",
        description="the name of a compliance policy of the passport, e.g. theatre-surgical-trainee",
    ),
]
DatasetName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$(?!\n)",
    ),
]


# ---------------------------------------------------------------- the result


class Placement(msgspec.Struct, frozen=True, kw_only=True):
    """One placed trainee."""

    trainee_id: str
    site_code: str
    specialty: str
    value: float
    """Weighted expected cases that count towards the trainee's remaining need (exact to a hundredth)."""
    expected_cases: dict[str, float]
    """Per procedure group: min(cases per slot, remaining need), groups with none left out."""
    distance_km: float
    preference_rank: int | None
    """The trainee's rank of the site; null when they did not rank it."""
    explanation: str


class Unmatched(msgspec.Struct, frozen=True, kw_only=True):
    trainee_id: str
    reason: str


class SiteExclusion(msgspec.Struct, frozen=True, kw_only=True):
    site_code: str
    reason: str
    trainees_affected: int
    """Trainees for whom the site would otherwise have been eligible."""


class PairExclusion(msgspec.Struct, frozen=True, kw_only=True):
    trainee_id: str
    site_code: str
    reason: str
    was_eligible: bool


class Exclusions(msgspec.Struct, frozen=True, kw_only=True):
    sites: list[SiteExclusion]
    trainee_sites: list[PairExclusion]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    mode: str
    financial_year: str
    training_share: float
    rotation_months: int
    seed: int
    input_sha256: str
    """SHA-256 of the lines ``<sha256 of file>  <file name>`` (sorted by name, as ``sha256sum`` prints)."""
    inputs: dict[str, str]
    """SHA-256 of each input file."""
    trainees: int
    matched: int
    unmatched: int
    slots: int
    """Effective slots over all sites and specialties."""
    total_value: float
    preference_rank_total: int
    """Sum of ranks; an unranked site counts as worst_rank, an unplaced trainee as worst_rank + 1."""
    worst_rank: int
    distance_km_total: float
    min_share: float | None
    """Smallest share of a placed trainee's weighted need that is covered."""
    blocking_pairs: int
    """(trainee, site) pairs that would both rather be together, found by an independent check."""
    solver_seconds: float
    solver: str
    exclusions: Exclusions


class MatchResult(msgspec.Struct, frozen=True, kw_only=True):
    summary: Summary
    placements: list[Placement]
    unmatched: list[Unmatched]


# ---------------------------------------------------------------- API


class DatasetCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: DatasetName
    """For example "London, August 2027 rotation"."""


class DatasetRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    organisation_code: str | None
    created_at: dt.datetime
    rows: dict[str, int]
    """Rows loaded per file."""


class DatasetPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DatasetRead]


class LoadResult(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    rows: int
    """Rows now held for this file (a dataset file is replaced as a whole)."""
    replaced: int
    """Rows replaced or removed."""


class ExcludedSiteIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    site_code: OdsCode
    reason: Reason


class ExcludedPairIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    trainee_id: GmcNumber
    site_code: OdsCode
    reason: Reason


class SitePolicyIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    site_code: OdsCode
    policy: PolicyName
    """The site's compliance policy of this name (else its provider's)."""


class RunCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Mode = "optimal"
    training_share: Annotated[float, Meta(gt=0, le=1)] = 0.5
    rotation_months: Annotated[int, Meta(ge=1, le=24)] = 6
    financial_year: FinancialYear | None = None
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 0
    start_date: dt.date | None = None
    """First day of the placements (e.g. the changeover Wednesday); they run rotation_months. The gates are
    evaluated for these dates, and publishing uses them. Default: the day of the run."""
    additionality_gate: bool = True
    """Exclude each site whose latest additionality check failed for an offer overlapping the placements
    (``service.additionality.service.failed_sites``), the check named in the exclusion."""
    passport_policy: PolicyName | None = None
    """Passport gate for every site: the site's compliance policy of this name (else its provider's). A
    trainee is excluded from a site whose policy their current passport records do not meet on start_date."""
    site_policies: list[SitePolicyIn] = []
    """Passport gate per site (overrides passport_policy for the sites listed)."""
    excluded_sites: list[ExcludedSiteIn] = []
    """Gate: sites excluded by hand, e.g. after a check outside the registry (added to the dataset's)."""
    excluded_trainee_sites: list[ExcludedPairIn] = []
    """Gate: trainee-site pairs excluded by hand (added to the dataset's)."""


class PolicyApplied(msgspec.Struct, frozen=True, kw_only=True):
    """The compliance policy a run's passport gate held a site to."""

    site_code: str
    policy_id: uuid.UUID
    organisation_code: str
    """The site itself, or its independent provider when the site has no policy of that name."""
    name: str
    version: int
    title: str


class RunGates(msgspec.Struct, frozen=True, kw_only=True):
    """The gates the registry applied to a run (what they excluded is in the summary's exclusions)."""

    additionality: bool
    failed_checks: list[int] = []
    """Ids of the failed additionality checks that excluded a site of the dataset."""
    passport: list[PolicyApplied] = []
    sites_without_policy: list[str] = []
    """Sites of the dataset with no policy of the run's passport_policy name (not gated by the passport)."""


class RunRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    dataset_id: uuid.UUID
    mode: str
    created_at: dt.datetime
    created_by: str
    input_sha256: str
    published_at: dt.datetime | None
    summary: Summary
    start_date: dt.date | None = None
    """First day of the placements the run is for (null for runs made before runs had dates)."""
    end_date: dt.date | None = None
    gates: RunGates | None = None


class RunPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RunRead]


class PublishRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start_date: dt.date | None = None
    """First day of the placements; default (and, for a gated run, the only one allowed): the run's."""
    end_date: dt.date | None = None
    """Last day; default: start_date + rotation_months - 1 day (a gated run: at most the run's end)."""


class PublishResult(msgspec.Struct, frozen=True, kw_only=True):
    run_id: uuid.UUID
    records: int
    start_date: dt.date
    end_date: dt.date
    passport_records: int = 0
    """Training placement records written into the passport (one per placement), origin the training
    office; the credential lifecycle reads them from the passport's change feed."""


# ---------------------------------------------------------------- records other domains read


class PlacementRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A published training placement of a person at an independent site (stable: read by the
    benchmark, additionality and the passport's training placement credential)."""

    id: uuid.UUID
    person_id: uuid.UUID
    gmc_number: str
    site_code: str
    specialty: str
    grade: str
    start_date: dt.date
    end_date: dt.date
    run_id: uuid.UUID
    published_at: dt.datetime


class PlacementRecordPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PlacementRecord]


class LogbookEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A logbook entry of a person (stable: read by the benchmark)."""

    person_id: uuid.UUID
    gmc_number: str
    procedure_group: str
    date: dt.date
    supervision: str
    site_code: str


class VolumeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """NHS-funded procedures a year at a site (stable: read by the benchmark)."""

    site_code: str
    specialty: str
    procedure_group: str
    financial_year: str
    nhs_funded_count: int
