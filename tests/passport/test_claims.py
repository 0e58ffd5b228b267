"""The credential claim model (service/passport/claims.py): what each credential states, what a holder can
withhold, and the type metadata that describes it."""

import datetime as dt
import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.passport import claims
from service.passport.claims import ClaimSet, build_claims, disclose, type_metadata
from service.passport.schemas import RECORD_KINDS, RecordKind, RecordRead, kind_of
from tests.passport.strategies import (
    ON,
    ORGANISATIONS,
    PERSON,
    holder_records,
    outcome,
    person_identity,
    skill,
)

BASE = "https://passport.example.nhs.uk"


def build(kind: RecordKind, records: list[RecordRead], on: dt.date = ON) -> ClaimSet | None:
    return build_claims(kind, PERSON, records, base_url=BASE, on=on, organisation_names=ORGANISATIONS)


def stated(kind: RecordKind, records: list[RecordRead], on: dt.date = ON) -> list[RecordRead]:
    return [
        r
        for r in records
        if kind_of(r) == kind and r.state == "current" and (r.lapses_on is None or r.lapses_on > on)
    ]


def leaves(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


# ---------------------------------------------------------------- identifiers


def test_each_type_has_a_vct_under_the_public_base_url() -> None:
    urls = {kind: claims.vct(BASE + "/", kind) for kind in RECORD_KINDS}
    assert urls == {
        "core_skills": f"{BASE}/vct/core-skills/v1",
        "occupational_health": f"{BASE}/vct/occupational-health/v1",
        "training_placement": f"{BASE}/vct/training-placement/v1",
        "identity_link": f"{BASE}/vct/identity-link/v1",
    }
    assert {claims.kind_of_vct(BASE, url) for url in urls.values()} == set(RECORD_KINDS)
    assert claims.kind_of_vct(BASE, "https://elsewhere.example/vct/core-skills/v1") is None


def test_holder_id_is_stable_and_differs_between_people() -> None:
    other = uuid.UUID(int=7)
    assert claims.holder_id(PERSON) == claims.holder_id(PERSON)
    assert claims.holder_id(PERSON) != claims.holder_id(other)
    assert claims.holder_id(PERSON).startswith("urn:uuid:")
    assert str(PERSON) not in claims.holder_id(PERSON)


# ---------------------------------------------------------------- what a credential states


@given(holder_records())
def test_a_credential_states_exactly_the_current_records_that_hold_on_the_day(
    records: list[RecordRead],
) -> None:
    for kind in RECORD_KINDS:
        claim_set = build(kind, records)
        expected = stated(kind, records)
        if not expected:
            assert claim_set is None
            continue
        assert claim_set is not None
        if kind == "identity_link":
            assert len(claim_set.record_ids) == 1
            assert claim_set.record_ids[0] in {r.id for r in expected}
        else:
            assert sorted(claim_set.record_ids) == sorted(r.id for r in expected)
            container = claims.SPECS[kind].container
            assert len(claim_set.claims[container]) == len(expected)
        lapses = [r.lapses_on for r in expected if r.id in claim_set.record_ids and r.lapses_on is not None]
        assert claim_set.refresh_on == (min(lapses) if lapses else None)


@given(holder_records())
def test_every_piece_of_holder_data_is_its_own_disclosure(records: list[RecordRead]) -> None:
    for kind in RECORD_KINDS:
        claim_set = build(kind, records)
        if claim_set is None:
            continue
        disclosable = set(claim_set.disclosable)
        assert ("holder_id",) in disclosable
        spec = claims.SPECS[kind]
        for leaf in leaves(claim_set.claims):
            # Each value sits under a disclosable record field (or is the holder id): none is plainly visible.
            assert any(leaf[:n] in disclosable for n in range(1, len(leaf) + 1)), leaf
        if spec.is_array:
            for index, element in enumerate(claim_set.claims[spec.container]):
                assert (spec.container, index) in disclosable
                assert {(spec.container, index, name) for name in element} <= disclosable
        else:
            assert {(spec.container, name) for name in claim_set.claims[spec.container]} <= disclosable
        assert (spec.container,) not in disclosable  # the container says no more than the vct
        # The issuer's claims are never the claim model's: it adds them, never disclosable.
        assert not {"iss", "vct", "iat", "exp", "cnf", "status"} & set(claim_set.claims)


@given(holder_records())
def test_disclosing_everything_shows_the_whole_credential_and_nothing_shows_no_holder_data(
    records: list[RecordRead],
) -> None:
    for kind in RECORD_KINDS:
        claim_set = build(kind, records)
        if claim_set is None:
            continue
        assert disclose(claim_set, claim_set.disclosable) == claim_set.claims
        hidden = disclose(claim_set, [])
        assert "holder_id" not in hidden
        container = hidden[claims.SPECS[kind].container]
        assert container in ([], {})


@given(holder_records(), st.data())
def test_a_field_shows_only_with_the_record_it_belongs_to(
    records: list[RecordRead], data: st.DataObject
) -> None:
    claim_set = build("core_skills", records)
    if claim_set is None or not claim_set.claims["core_skills"]:
        return
    fields = [p for p in claim_set.disclosable if len(p) == 3]
    chosen = data.draw(st.sets(st.sampled_from(fields)))
    shown = disclose(claim_set, chosen)  # fields without their record: nothing shows
    assert shown["core_skills"] == []
    with_records = chosen | {p[:2] for p in chosen}
    shown = disclose(claim_set, with_records)
    assert sum(len(e) for e in shown["core_skills"]) == len(chosen)


@given(holder_records())
def test_the_four_credentials_of_a_holder_carry_the_same_holder_id(records: list[RecordRead]) -> None:
    ids = {c.claims["holder_id"] for k in RECORD_KINDS if (c := build(k, records)) is not None}
    assert len(ids) <= 1


def test_building_is_deterministic_and_names_organisations() -> None:
    record = skill("fire_safety", dt.date(2026, 3, 1), dt.date(2028, 3, 1))
    first, second = build("core_skills", [record]), build("core_skills", [record])
    assert first == second
    assert first is not None
    element = first.claims["core_skills"][0]
    origin = record.assurance.origin_organisation_code
    assert element["assurance"]["origin"] == origin
    assert element["assurance"]["origin_name"] == ORGANISATIONS[origin]
    assert element["date_to"] == record.date_to.isoformat()


def test_the_identity_link_states_the_latest_identity() -> None:
    older = person_identity()
    newer = msgspec.structs.replace(
        older,
        id=uuid.UUID(int=2),
        family_name="Okafor-Bell",
        submitted_at=older.submitted_at + dt.timedelta(days=3),
    )
    claim_set = build("identity_link", [newer, older])
    assert claim_set is not None
    assert claim_set.claims["identity"]["family_name"] == "Okafor-Bell"
    assert claim_set.record_ids == [newer.id]


def test_redacted_occupational_health_cannot_become_claims() -> None:
    redacted = msgspec.structs.replace(outcome("hepatitis_b", "immune"), redacted=True)
    with pytest.raises(ValueError, match="opened"):
        build("occupational_health", [redacted])


# ---------------------------------------------------------------- type metadata


@pytest.mark.parametrize("kind", RECORD_KINDS)
def test_type_metadata_follows_the_sd_jwt_vc_format(kind: str) -> None:
    document = type_metadata(BASE, kind)
    assert document["vct"] == claims.vct(BASE, kind)
    assert document["name"]
    assert document["description"]
    assert document["display"][0]["locale"] == "en-GB"
    assert document["display"][0]["name"]
    paths = [tuple(c["path"]) for c in document["claims"]]
    assert len(paths) == len(set(paths)), "each path is described once"
    for claim in document["claims"]:
        assert claim["sd"] in {"always", "never"}
        assert claim["display"][0]["label"]
        assert claim["display"][0]["locale"] == "en-GB"
        assert all(isinstance(p, str) or p is None for p in claim["path"])
    msgspec.json.encode(document)  # JSON-ready


@given(holder_records())
def test_type_metadata_describes_every_claim_and_its_disclosability(records: list[RecordRead]) -> None:
    for kind in RECORD_KINDS:
        claim_set = build(kind, records)
        if claim_set is None:
            continue
        patterns = claims.claim_patterns(kind)
        disclosable = set(claim_set.disclosable)
        nodes = {p[:n] for p in leaves(claim_set.claims) for n in range(1, len(p) + 1)}
        for node in nodes:
            described = [sd for pattern, sd in patterns if claims.matches(pattern, node)]
            assert len(described) == 1, node
            assert described[0] == ("always" if node in disclosable else "never"), node
