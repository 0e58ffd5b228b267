"""The credential claim model: four credential types, their ``vct``, claims and type metadata (pure).

One credential per type per holder: core skills, occupational health, training programme and placement,
identity link. :func:`build_claims` turns a holder's current records of one type into the credential's
claims, in a neutral form the SD-JWT module consumes (:class:`ClaimSet`):

- ``claims``: the claim tree, JSON-ready (dates as ``YYYY-MM-DD``);
- ``disclosable``: the concrete paths that are each their own disclosure. A path is a tuple of object
  keys and array indexes, e.g. ``("core_skills", 2, "date_to")``. Every path not listed is plainly
  visible once its parent is disclosed (or always, at the top).

What is disclosable: every piece of a holder's data. The holder identifier, each record (each element of
the record array) and each field of each record are separate disclosures, and so is each record's
``assurance`` object as a whole (its members are then plain). Only the containers are plain: the top-level
array of records (``core_skills``, ``occupational_health``, ``placements``) and the ``identity`` object,
which say nothing the ``vct`` does not. The issuer adds ``iss``, ``vct``, ``iat``, ``exp``, ``cnf`` and
``status``, never disclosable, and decoy digests.

Every credential carries ``holder_id``, the same for all four credentials of a holder, linking each to the
identity-link credential. :func:`type_metadata` gives the SD-JWT VC Type Metadata document of each type
(draft-ietf-oauth-sd-jwt-vc, "Type Metadata": ``vct``, ``name``, ``description``, ``display``,
``claims`` with ``path``, ``display`` labels, ``mandatory`` and ``sd``), as data to serve at the ``vct`` URL.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec

from service.passport.cstf import SUBJECTS, subject_name
from service.passport.schemas import (
    OH_ITEM_NAMES,
    OH_ITEMS,
    CoreSkillRead,
    IdentityLinkRead,
    OccupationalHealthRead,
    RecordKind,
    RecordRead,
    TrainingPlacementRead,
)

Path = tuple[str | int, ...]
PathPattern = tuple[str | None, ...]
"""A type-metadata path: keys, and None for "every element of this array"."""

LOCALE: Final = "en-GB"
VERSION: Final = "v1"
HOLDER_NAMESPACE: Final = uuid.UUID("0f3b9c2e-57a4-5d0b-8f61-2c9e4a7d1b35")
"""UUID v5 namespace of holder identifiers (fixed forever: changing it unlinks every credential)."""


class Field(NamedTuple):
    name: str
    label: str
    description: str
    mandatory: bool = True


class CredentialSpec(NamedTuple):
    kind: RecordKind
    slug: str
    name: str
    description: str
    container: str
    """The top-level claim holding the records: an array, or (identity link) one object."""
    container_label: str
    is_array: bool
    fields: tuple[Field, ...]


ASSURANCE_FIELDS: Final = (
    Field("origin", "Origin organisation", "ODS code of the organisation the record comes from"),
    Field("origin_name", "Origin organisation name", "Name of the organisation the record comes from"),
    Field("policy", "Assurance policy", "The check the origin applied"),
    Field("outcome", "Assurance outcome", "verified, partially_verified or self_declared"),
    Field("verification_method", "Verification method", "How the origin verified the record"),
    Field("last_refresh", "Last refreshed", "When the origin last confirmed the record against its source"),
)
ASSURANCE: Final = Field("assurance", "Assurance", "Who stated this record and how it was checked")

SPECS: Final[dict[str, CredentialSpec]] = {
    "core_skills": CredentialSpec(
        "core_skills",
        "core-skills",
        "Core skills training",
        "Core Skills Training Framework subjects completed, with their level and the dates they are in date.",
        "core_skills",
        "Core skills",
        True,
        (
            Field("subject", "Subject", "CSTF subject code, e.g. fire_safety"),
            Field("subject_name", "Subject name", "CSTF subject, e.g. Fire safety"),
            Field("level", "Level", "Level completed (1 to 3)"),
            Field("date_awarded", "Date awarded", "When the subject was last completed"),
            Field("renewal_months", "Renewal period (months)", "How long an award stays in date"),
            Field("date_to", "Date to", "The first day the award is no longer in date"),
            Field("learning_provider", "Learning provider", "Who delivered the training"),
            Field("learning_method", "Learning method", "e_learning, face_to_face, blended or assessment"),
            ASSURANCE,
        ),
    ),
    "occupational_health": CredentialSpec(
        "occupational_health",
        "occupational-health",
        "Occupational health clearance",
        "Occupational health outcomes only (immunity, screening, clearance, fitness for work); never test "
        "results or diagnoses.",
        "occupational_health",
        "Occupational health",
        True,
        (
            Field(
                "item",
                "Item",
                "hepatitis_b, measles_rubella, varicella, tuberculosis, epp_clearance, fitness_for_work",
            ),
            Field("item_name", "Item name", "e.g. Hepatitis B immunity"),
            Field("outcome", "Outcome", "The outcome of the item, e.g. immune, cleared, fit"),
            Field("assessed_on", "Assessed on", "When the outcome was assessed"),
            Field("review_date", "Review date", "The outcome holds until (not on) this day", False),
            ASSURANCE,
        ),
    ),
    "training_placement": CredentialSpec(
        "training_placement",
        "training-placement",
        "Training programme and placement",
        "Current and future placements of a doctor in training, within their programme.",
        "placements",
        "Placements",
        True,
        (
            Field("programme", "Programme", "Training programme name"),
            Field("programme_start", "Programme start", "", False),
            Field("programme_end", "Programme end", "", False),
            Field("specialty", "Specialty", "Placement specialty"),
            Field("grade", "Grade", "FY1 to ST8"),
            Field("post_number", "Post number", "National post number", False),
            Field("employing_body", "Employing body", "ODS code of the employer"),
            Field("employing_body_name", "Employing body name", "Name of the employer"),
            Field("site", "Site", "ODS code of the site of the placement"),
            Field("site_name", "Site name", "Name of the site of the placement"),
            Field("start_date", "Start date", "First day of the placement"),
            Field("end_date", "End date", "Last day of the placement"),
            ASSURANCE,
        ),
    ),
    "identity_link": CredentialSpec(
        "identity_link",
        "identity-link",
        "Identity link",
        "The holder's legal identity and GMC number; the holder identifier of the other credentials links "
        "them to this one.",
        "identity",
        "Identity",
        False,
        (
            Field("given_names", "Given names", "Legal given names"),
            Field("family_name", "Family name", "Legal family name"),
            Field("birth_date", "Date of birth", ""),
            Field("gmc_number", "GMC number", "7-digit GMC reference number", False),
            ASSURANCE,
        ),
    ),
}
"""The four credential types, by record kind."""
HOLDER_ID: Final = Field(
    "holder_id", "Holder identifier", "The same in all of a holder's credentials: links them together"
)


class ClaimSet(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of one credential and which of them are each a disclosure."""

    credential_type: RecordKind
    vct: str
    claims: dict[str, Any]
    disclosable: list[Path]
    """Concrete paths, parents before children, in document order."""
    record_ids: list[uuid.UUID]
    """The records the credential states, in claim order."""
    refresh_on: dt.date | None
    """The first day one of those records lapses: the credential should be re-issued by then."""

    def is_disclosable(self, path: Sequence[str | int]) -> bool:
        return tuple(path) in set(self.disclosable)


# ---------------------------------------------------------------- identifiers


def vct(base_url: str, kind: str) -> str:
    """The credential type URL, e.g. ``https://registry.example/vct/core-skills/v1``."""
    return f"{base_url.rstrip('/')}/vct/{SPECS[kind].slug}/{VERSION}"


def kind_of_vct(base_url: str, value: str) -> RecordKind | None:
    """The credential type a ``vct`` names (for this registry), or None."""
    for kind in SPECS.values():
        if value == vct(base_url, kind.kind):
            return kind.kind
    return None


def holder_id(person_id: uuid.UUID) -> str:
    """The holder identifier of a person: a URN, the same in each of their credentials."""
    return f"urn:uuid:{uuid.uuid5(HOLDER_NAMESPACE, str(person_id))}"


# ---------------------------------------------------------------- building


def _assurance(record: RecordRead, names: Mapping[str, str]) -> dict[str, Any]:
    a = record.assurance
    return {
        "origin": a.origin_organisation_code,
        "origin_name": names.get(a.origin_organisation_code, a.origin_organisation_code),
        "policy": a.policy,
        "outcome": a.outcome,
        "verification_method": a.verification_method,
        "last_refresh": a.last_refreshed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _core_skill(r: CoreSkillRead) -> dict[str, Any]:
    return {
        "subject": r.subject,
        "subject_name": subject_name(r.subject),
        "level": r.level,
        "date_awarded": r.date_awarded.isoformat(),
        "renewal_months": r.renewal_months,
        "date_to": r.date_to.isoformat(),
        "learning_provider": r.learning_provider,
        "learning_method": r.learning_method,
    }


def _occupational_health(r: OccupationalHealthRead) -> dict[str, Any]:
    if r.redacted or r.item is None or r.outcome is None or r.assessed_on is None:
        raise ValueError("occupational health records must be opened before building claims")
    return _present(
        {
            "item": r.item,
            "item_name": OH_ITEM_NAMES.get(r.item, r.item),
            "outcome": r.outcome,
            "assessed_on": r.assessed_on.isoformat(),
            "review_date": r.review_date.isoformat() if r.review_date else None,
        }
    )


def _placement(r: TrainingPlacementRead, names: Mapping[str, str]) -> dict[str, Any]:
    return _present(
        {
            "programme": r.programme,
            "programme_start": r.programme_start.isoformat() if r.programme_start else None,
            "programme_end": r.programme_end.isoformat() if r.programme_end else None,
            "specialty": r.specialty,
            "grade": r.grade,
            "post_number": r.post_number,
            "employing_body": r.employing_body_code,
            "employing_body_name": names.get(r.employing_body_code, r.employing_body_code),
            "site": r.site_code,
            "site_name": names.get(r.site_code, r.site_code),
            "start_date": r.start_date.isoformat(),
            "end_date": r.end_date.isoformat(),
        }
    )


def _identity(r: IdentityLinkRead) -> dict[str, Any]:
    return _present(
        {
            "given_names": r.given_names,
            "family_name": r.family_name,
            "birth_date": r.birth_date.isoformat(),
            "gmc_number": r.gmc_number,
        }
    )


_READ_TYPES: Final[dict[str, type[RecordRead]]] = {
    "core_skills": CoreSkillRead,
    "occupational_health": OccupationalHealthRead,
    "training_placement": TrainingPlacementRead,
    "identity_link": IdentityLinkRead,
}
_SUBJECT_ORDER: Final = {code: index for index, code in enumerate(SUBJECTS)}
_ITEM_ORDER: Final = {item: index for index, item in enumerate(OH_ITEMS)}


def _sort_key(record: RecordRead) -> tuple[Any, ...]:
    if isinstance(record, CoreSkillRead):
        return (_SUBJECT_ORDER.get(record.subject, 99), record.level, str(record.id))
    if isinstance(record, OccupationalHealthRead):
        return (_ITEM_ORDER.get(record.item or "", 99), str(record.id))
    if isinstance(record, TrainingPlacementRead):
        return (record.start_date, record.site_code, str(record.id))
    return (record.submitted_at, str(record.id))


def holds_on(record: RecordRead, on: dt.date) -> bool:
    """Whether a current record still holds on ``on`` (it has not lapsed)."""
    return record.state == "current" and (record.lapses_on is None or record.lapses_on > on)


def _element(record: RecordRead, names: Mapping[str, str]) -> dict[str, Any]:
    if isinstance(record, CoreSkillRead):
        fields = _core_skill(record)
    elif isinstance(record, OccupationalHealthRead):
        fields = _occupational_health(record)
    elif isinstance(record, TrainingPlacementRead):
        fields = _placement(record, names)
    else:
        fields = _identity(record)
    return {**fields, ASSURANCE.name: _assurance(record, names)}


def build_claims(
    kind: RecordKind,
    person_id: uuid.UUID,
    records: Iterable[RecordRead],
    *,
    base_url: str,
    on: dt.date,
    organisation_names: Mapping[str, str],
) -> ClaimSet | None:
    """The claims of the ``kind`` credential of a person from their records, as of the day ``on``.

    Only records of that kind, current and not lapsed on ``on``, are stated; None when there are none
    (no credential). The identity link states the latest such record. ``organisation_names`` gives the
    names of the organisation codes the records name (codes without a name are shown as they are).
    """
    spec = SPECS[kind]
    record_type = _READ_TYPES[kind]
    chosen = sorted(
        (r for r in records if type(r) is record_type and r.person_id == person_id and holds_on(r, on)),
        key=_sort_key,
    )
    if not chosen:
        return None
    if not spec.is_array:
        chosen = chosen[-1:]
    disclosable: list[Path] = [(HOLDER_ID.name,)]
    elements = []
    for index, record in enumerate(chosen):
        element = _element(record, organisation_names)
        elements.append(element)
        base: Path = (spec.container, index) if spec.is_array else (spec.container,)
        if spec.is_array:
            disclosable.append(base)
        disclosable += [(*base, name) for name in element]
    claims: dict[str, Any] = {HOLDER_ID.name: holder_id(person_id)}
    claims[spec.container] = elements if spec.is_array else elements[0]
    lapses = [r.lapses_on for r in chosen if r.lapses_on is not None]
    return ClaimSet(
        credential_type=kind,
        vct=vct(base_url, kind),
        claims=claims,
        disclosable=disclosable,
        record_ids=[r.id for r in chosen],
        refresh_on=min(lapses) if lapses else None,
    )


# ---------------------------------------------------------------- building from table rows (in bulk)
#
# :func:`claims_from_rows` gives exactly what :func:`build_claims` gives for the same records (a property
# test checks it), straight from Core rows of the records table as ``repository.claim_rows`` reads them
# (only current records holding on the day, only the columns a claim needs), without a ``RecordRead``
# struct per record: re-issuing every credential of 80,000 doctors reads 1.6 million records.


def _refresh_text(value: dt.datetime, memo: dict[dt.datetime, str]) -> str:
    text = memo.get(value)
    if text is None:
        text = memo[value] = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def _row_assurance(row: Any, names: Mapping[str, str], memo: dict[dt.datetime, str]) -> dict[str, Any]:
    origin = row.origin_organisation_code
    return {
        "origin": origin,
        "origin_name": names.get(origin, origin),
        "policy": row.assurance_policy,
        "outcome": row.assurance_outcome,
        "verification_method": row.verification_method,
        "last_refresh": _refresh_text(row.last_refreshed_at, memo),
    }


def _row_core_skill(row: Any, opened: Any) -> dict[str, Any]:
    return {
        "subject": row.subject,
        "subject_name": subject_name(row.subject),
        "level": row.level,
        "date_awarded": row.date_awarded.isoformat(),
        "renewal_months": row.renewal_months,
        "date_to": row.date_to.isoformat(),
        "learning_provider": row.learning_provider,
        "learning_method": row.learning_method,
    }


def _row_health(row: Any, opened: Any) -> dict[str, Any]:
    fields = {
        "item": opened.item,
        "item_name": OH_ITEM_NAMES.get(opened.item, opened.item),
        "outcome": opened.outcome,
        "assessed_on": opened.assessed_on.isoformat(),
    }
    if opened.review_date is not None:
        fields["review_date"] = opened.review_date.isoformat()
    return fields


def _row_placement(row: Any, opened: Any, names: Mapping[str, str]) -> dict[str, Any]:
    return _present(
        {
            "programme": row.programme,
            "programme_start": row.programme_start.isoformat() if row.programme_start else None,
            "programme_end": row.programme_end.isoformat() if row.programme_end else None,
            "specialty": row.specialty,
            "grade": row.grade,
            "post_number": row.post_number,
            "employing_body": row.employing_body_code,
            "employing_body_name": names.get(row.employing_body_code, row.employing_body_code),
            "site": row.site_code,
            "site_name": names.get(row.site_code, row.site_code),
            "start_date": row.start_date.isoformat(),
            "end_date": row.end_date.isoformat(),
        }
    )


def _row_identity(row: Any, opened: Any) -> dict[str, Any]:
    fields = {
        "given_names": row.given_names,
        "family_name": row.family_name,
        "birth_date": row.birth_date.isoformat(),
    }
    if row.gmc_number is not None:
        fields["gmc_number"] = row.gmc_number
    return fields


def _row_order(kind: str, row: Any, opened: Any) -> tuple[Any, ...]:
    if kind == "core_skills":
        return (_SUBJECT_ORDER.get(row.subject, 99), row.level, row.id)
    if kind == "occupational_health":
        return (_ITEM_ORDER.get(opened.item, 99), row.id)
    if kind == "training_placement":
        return (row.start_date, row.site_code, row.id)
    return (row.submitted_at, row.id)


def claims_from_rows(
    kind: RecordKind,
    person_id: uuid.UUID,
    rows: Sequence[Any],
    *,
    base_url: str,
    organisation_names: Mapping[str, str],
    opened: Sequence[Any] | None = None,
    refresh_memo: dict[dt.datetime, str] | None = None,
) -> ClaimSet | None:
    """The claims of the ``kind`` credential of a person from rows of ``repository.claim_rows``: their
    records of that kind that hold on the day (the query already chose them). ``opened``: for
    occupational health, the opened sealed fields of each row (``item``, ``outcome``, ``assessed_on``,
    ``review_date``), in row order. ``refresh_memo`` caches formatted refresh times across calls.

    The same :class:`ClaimSet` as :func:`build_claims` over the same records' ``RecordRead`` forms."""
    if not rows:
        return None
    spec = SPECS[kind]
    names = organisation_names
    memo = {} if refresh_memo is None else refresh_memo
    extras: Sequence[Any] = opened if opened is not None else [None] * len(rows)
    chosen = sorted(zip(rows, extras, strict=True), key=lambda pair: _row_order(kind, pair[0], pair[1]))
    if not spec.is_array:
        chosen = chosen[-1:]
    container = spec.container
    disclosable: list[Path] = [(HOLDER_ID.name,)]
    elements = []
    for index, (row, extra) in enumerate(chosen):
        if kind == "core_skills":
            element = _row_core_skill(row, extra)
        elif kind == "occupational_health":
            element = _row_health(row, extra)
        elif kind == "training_placement":
            element = _row_placement(row, extra, names)
        else:
            element = _row_identity(row, extra)
        element[ASSURANCE.name] = _row_assurance(row, names, memo)
        elements.append(element)
        if spec.is_array:
            base: Path = (container, index)
            disclosable.append(base)
            disclosable += [(container, index, name) for name in element]
        else:
            disclosable += [(container, name) for name in element]
    claims: dict[str, Any] = {HOLDER_ID.name: holder_id(person_id)}
    claims[container] = elements if spec.is_array else elements[0]
    lapses = [row.lapses_on for row, _ in chosen if row.lapses_on is not None]
    return ClaimSet(
        credential_type=kind,
        vct=vct(base_url, kind),
        claims=claims,
        disclosable=disclosable,
        record_ids=[row.id for row, _ in chosen],
        refresh_on=min(lapses) if lapses else None,
    )


# ---------------------------------------------------------------- what a verifier sees


def disclose(claim_set: ClaimSet, chosen: Iterable[Sequence[str | int]]) -> dict[str, Any]:
    """The claims as a verifier sees them when the holder discloses the ``chosen`` paths.

    A disclosable path shows only if it and every disclosable path above it are chosen; a plain path
    shows when its parent does. Array elements that are not shown are left out (a verifier sees only
    digests for them). This is the reference for what the SD-JWT presentation reveals.
    """
    disclosable = set(claim_set.disclosable)
    keep = {tuple(path) for path in chosen} & disclosable

    def visible(path: Path) -> bool:
        return all(path[:n] in keep for n in range(1, len(path) + 1) if path[:n] in disclosable)

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items() if visible((*path, k))}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value) if visible((*path, i))]
        return value

    shown: dict[str, Any] = walk(claim_set.claims, ())
    return shown


def every_path(claim_set: ClaimSet) -> list[Path]:
    """Every disclosable path: disclosing them all shows the whole credential."""
    return list(claim_set.disclosable)


def holder_ids(disclosed: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The holder identifiers the disclosed credentials show: a verifier should find at most one."""
    return {str(claims["holder_id"]) for claims in disclosed.values() if "holder_id" in claims}


# ---------------------------------------------------------------- type metadata


def _display_type(spec: CredentialSpec) -> list[dict[str, str]]:
    return [{"locale": LOCALE, "name": spec.name, "description": spec.description}]


def _claim(path: PathPattern, field: Field, sd: str, mandatory: bool) -> dict[str, Any]:
    display: dict[str, str] = {"locale": LOCALE, "label": field.label}
    if field.description:
        display["description"] = field.description
    return {"path": list(path), "display": [display], "mandatory": mandatory, "sd": sd}


def claim_patterns(kind: str) -> list[tuple[PathPattern, str]]:
    """Every path pattern of the type and its ``sd`` value (``always`` or ``never``)."""
    return [(tuple(entry["path"]), entry["sd"]) for entry in _claims_metadata(SPECS[kind])]


def _claims_metadata(spec: CredentialSpec) -> list[dict[str, Any]]:
    container = Field(spec.container, spec.container_label, spec.description)
    element: PathPattern = (spec.container, None) if spec.is_array else (spec.container,)
    claims = [
        _claim((HOLDER_ID.name,), HOLDER_ID, "always", True),
        _claim((spec.container,), container, "never", True),
    ]
    if spec.is_array:
        record = Field("record", f"{spec.container_label}: one record", "One record; its own disclosure")
        claims.append(_claim(element, record, "always", False))
    for field in spec.fields:
        claims.append(_claim((*element, field.name), field, "always", field.mandatory))
    for field in ASSURANCE_FIELDS:
        claims.append(_claim((*element, ASSURANCE.name, field.name), field, "never", True))
    return claims


def type_metadata(base_url: str, kind: str) -> dict[str, Any]:
    """The SD-JWT VC Type Metadata document of the credential type ``kind``, served at its ``vct``."""
    spec = SPECS[kind]
    return {
        "vct": vct(base_url, kind),
        "name": spec.name,
        "description": spec.description,
        "display": _display_type(spec),
        "claims": _claims_metadata(spec),
    }


def matches(pattern: PathPattern, path: Sequence[str | int]) -> bool:
    """Whether a concrete path is selected by a type-metadata path pattern."""
    if len(pattern) != len(path):
        return False
    for want, got in zip(pattern, path, strict=True):
        if want is None:
            if not isinstance(got, int):
                return False
        elif want != got:
            return False
    return True
