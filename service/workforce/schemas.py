"""Wire structs of the workforce domain and the pure format rules they share with CSV imports.

Formats are checked twice over by design, never differently: msgspec enforces what a pattern or a range
can say (``Meta``), and the ``check_*`` functions below do what it cannot (normalising ODS codes and
postcodes, rules across fields, rules about referenced organisations). A JSON body and a CSV row go
through the same struct and the same ``check_*`` function, so they are accepted or refused alike.

Patterns end in ``$(?!\\n)`` because Python's ``$`` also matches before a final newline.
"""

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Final, Literal, NamedTuple, get_args

import msgspec
from msgspec import Meta

OrganisationKind = Literal["region", "icb", "nhs_trust", "independent_provider", "independent_site"]
StaffGroup = Literal["medical", "nursing", "allied_health", "other"]
Grade = Literal[
    "FY1", "FY2", "CT1", "CT2", "CT3", "ST1", "ST2", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8", "other"
]

ORGANISATION_KINDS: Final = get_args(OrganisationKind)
STAFF_GROUPS: Final = get_args(StaffGroup)
GRADES: Final = get_args(Grade)
TRAINING_GRADES: Final = tuple(g for g in GRADES if g != "other")

_END = r"$(?!\n)"
_TEXT = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?" + _END
ODS_PATTERN: Final = r"^[A-Za-z0-9]{3,6}" + _END
GMC_PATTERN: Final = r"^[0-9]{7}" + _END

OdsCode = Annotated[
    str, Meta(pattern=ODS_PATTERN, description="an ODS code: 3 to 6 letters or digits (stored in upper case)")
]
GmcNumber = Annotated[str, Meta(pattern=GMC_PATTERN, description="a GMC reference number: 7 digits")]
Postcode = Annotated[str, Meta(max_length=16, description="a UK postcode such as SW1A 1AA")]
Latitude = Annotated[float, Meta(ge=-90, le=90, description="a latitude in degrees, -90 to 90")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="a longitude in degrees, -180 to 180")]
Sessions = Annotated[
    float,
    Meta(ge=0.5, le=20, multiple_of=0.5, description="sessions a week: 0.5 to 20 in steps of 0.5"),
]
Name = Annotated[
    str,
    Meta(
        min_length=1, max_length=200, pattern=_TEXT, description="1 to 200 characters, no control characters"
    ),
]
ShortText = Annotated[
    str,
    Meta(
        min_length=1, max_length=100, pattern=_TEXT, description="1 to 100 characters, no control characters"
    ),
]
Specialty = Annotated[
    str,
    Meta(min_length=1, max_length=60, pattern=_TEXT, description="1 to 60 characters, no control characters"),
]

FIRST_DATE: Final = dt.date(1900, 1, 1)
LAST_DATE: Final = dt.date(2099, 12, 31)

# ---------------------------------------------------------------- requests


class OrganisationCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: OdsCode
    name: Name
    kind: OrganisationKind
    parent_code: OdsCode | None = None
    """Region of an ICB, ICB of an NHS trust, independent provider of an independent site."""
    icb_code: OdsCode | None = None
    """The ICB whose area a trust or independent site is in (a trust's defaults to its parent)."""
    postcode: Postcode | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class PersonCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    given_name: ShortText
    family_name: ShortText
    gmc_number: GmcNumber | None = None
    staff_group: StaffGroup
    grade: Grade
    specialty: Specialty | None = None


class EmploymentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An employment; the person is named by ``person_id`` or by ``gmc_number`` (one of the two)."""

    person_id: uuid.UUID | None = None
    gmc_number: GmcNumber | None = None
    organisation_code: OdsCode
    role: ShortText
    staff_group: StaffGroup
    specialty: Specialty | None = None
    start_date: dt.date
    end_date: dt.date | None = None
    contracted_sessions: Sessions


# ---------------------------------------------------------------- responses


class OrganisationRead(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    kind: str
    parent_code: str | None
    icb_code: str | None
    postcode: str | None
    latitude: float | None
    longitude: float | None
    created_at: dt.datetime


class PersonRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    given_name: str
    family_name: str
    gmc_number: str | None
    staff_group: str
    grade: str
    specialty: str | None
    created_at: dt.datetime


class EmploymentRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    person_id: uuid.UUID
    organisation_code: str
    role: str
    staff_group: str
    specialty: str | None
    start_date: dt.date
    end_date: dt.date | None
    contracted_sessions: float
    created_at: dt.datetime


class OrganisationPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OrganisationRead]
    limit: int
    offset: int
    next_offset: int | None
    """Offset of the next page; ``null`` on the last page."""


class PersonPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PersonRead]
    limit: int
    offset: int
    next_offset: int | None


class EmploymentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EmploymentRead]
    limit: int
    offset: int
    next_offset: int | None


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    entity: Literal["organisations", "people", "employments"]
    created: int
    ids: list[str]
    """Codes or ids of the created records, in the order of the file's rows."""


# ---------------------------------------------------------------- format rules


class Issue(NamedTuple):
    """One reason a record is refused: the field (or CSV column) and why."""

    field: str
    reason: str


_ODS = re.compile(r"[A-Z0-9]{3,6}")
_GMC = re.compile(r"[0-9]{7}")
# UK Government Data Standards postcode format: A9, A99, AA9, AA99, A9A, AA9A outward codes.
_POSTCODE = re.compile(
    r"(?:GIR 0AA"
    r"|(?:[A-PR-UWYZ][0-9][0-9]?"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" [0-9][ABD-HJLNP-UW-Z]{2})"
)


def normalise_ods(code: str) -> str | None:
    """``code`` in upper case if it is an ODS code (3 to 6 ASCII letters or digits), else None."""
    if not code.isascii():  # "ß".upper() is "SS": check before changing case
        return None
    upper = code.upper()
    return upper if _ODS.fullmatch(upper) else None


def is_gmc_number(text: str) -> bool:
    return _GMC.fullmatch(text) is not None


def normalise_postcode(text: str) -> str | None:
    """The postcode in upper case with one space before the inward code, or None if it is not one."""
    if not text.isascii():
        return None
    compact = "".join(text.split()).upper()
    if not 5 <= len(compact) <= 7:
        return None
    candidate = f"{compact[:-3]} {compact[-3:]}"
    return candidate if _POSTCODE.fullmatch(candidate) else None


PARENT_KIND: Final[dict[str, str | None]] = {
    "region": None,
    "icb": "region",
    "nhs_trust": "icb",
    "independent_provider": None,
    "independent_site": "independent_provider",
}
"""The kind an organisation's parent must have; None: it has no parent."""
CARRIES_ICB: Final = frozenset({"nhs_trust", "independent_site"})
LEVEL: Final = {"region": 0, "icb": 1, "independent_provider": 1, "nhs_trust": 2, "independent_site": 2}
"""Parents always have a lower level: inserting by level never breaks a foreign key."""


def _label(kind: str) -> str:
    return {"icb": "ICB", "nhs_trust": "NHS trust"}.get(kind, kind.replace("_", " "))


def _a(kind: str) -> str:
    """The kind with its article: "a region", "an ICB", "an NHS trust", "an independent site"."""
    return ("a " if kind == "region" else "an ") + _label(kind)


Values = Mapping[str, Any]
"""A record's fields that have a valid value (an absent optional field is None)."""


def organisation_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    """Rules no single field's type can express; a rule needing a field in ``invalid`` is skipped.

    Taking the valid fields (rather than a whole struct) lets a CSV row with a bad cell still get every
    other problem reported.
    """
    issues: list[Issue] = []
    if v.get("postcode") is not None and normalise_postcode(v["postcode"]) is None:
        issues.append(Issue("postcode", "must be a UK postcode such as SW1A 1AA"))
    if not invalid & {"latitude", "longitude"} and (v.get("latitude") is None) != (
        v.get("longitude") is None
    ):
        missing = "latitude" if v.get("latitude") is None else "longitude"
        issues.append(Issue(missing, "latitude and longitude go together: give both or neither"))
    kind = v.get("kind")
    if kind is None:
        return issues
    expected = PARENT_KIND[kind]
    if expected is None and v.get("parent_code") is not None:
        issues.append(Issue("parent_code", f"must be empty: {_a(kind)} has no parent"))
    if expected is not None and v.get("parent_code") is None and "parent_code" not in invalid:
        issues.append(Issue("parent_code", f"is required: the {_label(expected)} of this {_label(kind)}"))
    if v.get("icb_code") is not None and kind not in CARRIES_ICB:
        issues.append(Issue("icb_code", "must be empty: only NHS trusts and independent sites carry an ICB"))
    return issues


def check_organisation(data: OrganisationCreate) -> tuple[OrganisationCreate, list[Issue]]:
    """The organisation with codes in upper case, its postcode normalised, a trust's ICB defaulted to its
    parent; and the problems :func:`organisation_rules` finds."""
    issues = organisation_rules(msgspec.structs.asdict(data))
    parent = data.parent_code.upper() if data.parent_code is not None else None
    icb = data.icb_code.upper() if data.icb_code is not None else None
    normalised = msgspec.structs.replace(
        data,
        code=data.code.upper(),
        parent_code=parent,
        icb_code=parent if icb is None and data.kind == "nhs_trust" else icb,
        postcode=normalise_postcode(data.postcode) if data.postcode is not None else None,
    )
    return normalised, issues


def check_organisation_references(
    data: OrganisationCreate, kind_of: Callable[[str], str | None]
) -> list[Issue]:
    """Check that the parent and ICB exist (``kind_of`` gives a code's kind, None if unknown) and fit."""
    issues: list[Issue] = []
    wanted = [("parent_code", data.parent_code, PARENT_KIND[data.kind])]
    if data.icb_code != data.parent_code:  # a trust's ICB is its parent, already checked
        wanted.append(("icb_code", data.icb_code, "icb"))
    for field, code, expected in wanted:
        if code is None or expected is None:
            continue
        kind = kind_of(code)
        if kind is None:
            issues.append(Issue(field, f"no organisation has the code {code}"))
        elif kind != expected:
            issues.append(Issue(field, f"must be {_a(expected)}, but {code} is {_a(kind)}"))
    return issues


def person_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    grade, group = v.get("grade"), v.get("staff_group")
    if grade is not None and group is not None and grade != "other" and group != "medical":
        return [Issue("staff_group", f"must be medical for a doctor in training (grade {grade})")]
    return []


def check_person(data: PersonCreate) -> tuple[PersonCreate, list[Issue]]:
    return data, person_rules(msgspec.structs.asdict(data))


def employment_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    issues: list[Issue] = []
    if not invalid & {"person_id", "gmc_number"}:
        if v.get("person_id") is None and v.get("gmc_number") is None:
            issues.append(Issue("person_id", "is required: give person_id or gmc_number"))
        elif v.get("person_id") is not None and v.get("gmc_number") is not None:
            issues.append(Issue("gmc_number", "must be empty when person_id is given: name the person once"))
    start, end = v.get("start_date"), v.get("end_date")
    for field, value in (("start_date", start), ("end_date", end)):
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            issues.append(Issue(field, f"must be between {FIRST_DATE} and {LAST_DATE}"))
    if start is not None and end is not None and end < start:
        issues.append(Issue("end_date", "must be on or after start_date"))
    return issues


def check_employment(data: EmploymentCreate) -> tuple[EmploymentCreate, list[Issue]]:
    issues = employment_rules(msgspec.structs.asdict(data))
    return msgspec.structs.replace(data, organisation_code=data.organisation_code.upper()), issues
