"""The bulk claim builder (``claims_from_rows`` over ``repository.claim_rows``) states exactly what the
struct builder (``build_claims`` over ``RecordRead``) states: by property over generated records, and on
both databases through ``service.credentials_claims``, the path the August changeover takes."""

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from service.passport import repository, service
from service.passport.claims import SPECS, build_claims, claims_from_rows, holds_on
from service.passport.encryption import DataKeyRing
from service.passport.schemas import (
    CoreSkillRead,
    OccupationalHealthRead,
    RecordCreate,
    RecordKind,
    RecordRead,
    TrainingPlacementRead,
    kind_of,
)
from service.workforce import service as workforce
from tests.passport import strategies
from tests.passport.factories import (
    TODAY,
    World,
    core_skill,
    create_world,
    health,
    identity,
    issuer_principal,
    placement,
)
from tests.passport.strategies import (
    ON,
    ORGANISATIONS,
    PERSON,
    core_skills,
    holder_records,
    identities,
    placements,
)

BASE = "https://registry.example"
KINDS: tuple[RecordKind, ...] = tuple(spec.kind for spec in SPECS.values())


def as_row(record: RecordRead) -> SimpleNamespace:
    """The record as ``repository.claim_rows`` reads it: the table's columns, assurance flattened."""
    fields = {
        name: getattr(record, name)
        for name in (*repository.CLAIM_COMMON, *repository.CLAIM_COLUMNS[kind_of(record)])
        if hasattr(record, name)
    }
    a = record.assurance
    fields.update(
        origin_organisation_code=a.origin_organisation_code,
        assurance_policy=a.policy,
        assurance_outcome=a.outcome,
        verification_method=a.verification_method,
        last_refreshed_at=a.last_refreshed_at,
    )
    return SimpleNamespace(**fields)


def from_rows(kind: RecordKind, records: list[RecordRead], on: dt.date) -> Any:
    """What the bulk path builds: only the records the query returns (current, holding on ``on``)."""
    chosen = [r for r in records if kind_of(r) == kind and holds_on(r, on)]
    opened = [r for r in chosen if isinstance(r, OccupationalHealthRead)] or None
    return claims_from_rows(
        kind,
        PERSON,
        [as_row(r) for r in chosen],
        base_url=BASE,
        organisation_names=ORGANISATIONS,
        opened=opened,
    )


@settings(max_examples=300, deadline=None)
@given(holder_records(max_size=16), st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2031, 1, 1)))
def test_rows_give_the_same_claims_as_structs(records: list[RecordRead], on: dt.date) -> None:
    for kind in KINDS:
        expected = build_claims(kind, PERSON, records, base_url=BASE, on=on, organisation_names=ORGANISATIONS)
        assert from_rows(kind, records, on) == expected


@st.composite
def crowded(draw: Any) -> list[RecordRead]:
    """Many current records of each kind whose order keys often tie but for their last part: a few
    subjects at several levels, a few start days and sites, every identity submitted at once."""
    records: list[RecordRead] = []
    for record in draw(
        st.lists(
            st.one_of(core_skills(), strategies.health(), placements(), identities()),
            min_size=2,
            max_size=30,
        )
    ):
        record = msgspec.structs.replace(record, state="current")
        if isinstance(record, CoreSkillRead):
            subject = draw(st.sampled_from(["resuscitation", "safeguarding_adults"]))
            record = msgspec.structs.replace(record, subject=subject, level=draw(st.sampled_from([1, 2, 3])))
        elif isinstance(record, TrainingPlacementRead):
            start = draw(st.sampled_from([dt.date(2019, 8, 7), dt.date(2020, 2, 5)]))
            record = msgspec.structs.replace(
                record, start_date=start, end_date=start + dt.timedelta(days=180)
            )
        records.append(record)
    return records


@settings(max_examples=200, deadline=None)
@given(crowded(), st.dates(min_value=dt.date(2017, 6, 1), max_value=dt.date(2019, 6, 1)))
def test_rows_order_records_as_structs_do(records: list[RecordRead], on: dt.date) -> None:
    for kind in KINDS:
        expected = build_claims(kind, PERSON, records, base_url=BASE, on=on, organisation_names=ORGANISATIONS)
        assert from_rows(kind, records, on) == expected


@given(holder_records(max_size=16))
def test_rows_give_the_same_claims_on_the_changeover_day(records: list[RecordRead]) -> None:
    for kind in KINDS:
        expected = build_claims(kind, PERSON, records, base_url=BASE, on=ON, organisation_names=ORGANISATIONS)
        got = from_rows(kind, records, ON)
        assert got == expected
        if got is not None and expected is not None:  # the same bytes, in the same order
            assert msgspec.json.encode(got.claims) == msgspec.json.encode(expected.claims)


# ---------------------------------------------------------------- through the database


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await create_world(session)


async def reference(
    session: AsyncSession, people: list[uuid.UUID], on: dt.date, keys: DataKeyRing
) -> dict[uuid.UUID, dict[RecordKind, Any]]:
    """The struct path: every current record as ``RecordRead`` (health opened), then ``build_claims``."""
    records = await service.holder_records(session, people, KINDS, keys)
    codes = set()
    for record in (r for rs in records.values() for r in rs):
        codes.add(record.assurance.origin_organisation_code)
        if isinstance(record, TrainingPlacementRead):
            codes.update((record.employing_body_code, record.site_code))
    names = {c: o.name for c, o in (await workforce.find_organisations(session, codes)).items()}
    return {
        person: {
            kind: build_claims(
                kind, person, records.get(person, []), base_url=BASE, on=on, organisation_names=names
            )
            for kind in KINDS
        }
        for person in people
    }


async def test_the_changeover_read_states_what_the_struct_read_states(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    doctor, other = world.doctor, world.other
    bodies = [
        core_skill(doctor),
        core_skill(doctor, subject="resuscitation", date_awarded="2020-01-01", date_to="2021-01-01"),
        core_skill(doctor, subject="information_governance"),
        health(
            doctor, item="epp_clearance", outcome="cleared", review_date=str(TODAY + dt.timedelta(days=30))
        ),
        health(doctor, item="hepatitis_b", outcome="immune"),
        health(other, item="tuberculosis", outcome="cleared"),
        placement(doctor, world.tree),
        placement(
            doctor,
            world.tree,
            start_date=str(TODAY + dt.timedelta(days=100)),
            end_date=str(TODAY + dt.timedelta(days=400)),
        ),
        identity(doctor),
        identity(other, given_names="Ben"),
        core_skill(doctor, date_awarded=str(TODAY - dt.timedelta(days=10))),  # replaces the first
    ]
    records = msgspec.convert(bodies, list[RecordCreate])
    now = dt.datetime.now(dt.UTC)
    made = await service.submit(session, issuer_principal(), records, now=now, keys=data_keys)
    assert len(made) == len(bodies)
    people = [doctor.id, other.id, uuid.uuid4()]  # and someone with no records
    days = (
        TODAY,
        TODAY + dt.timedelta(days=30),
        TODAY + dt.timedelta(days=31),
        TODAY + dt.timedelta(days=5000),
    )
    for on in days:
        got = await service.credentials_claims(
            session, people, list(KINDS), on=on, base_url=BASE, keys=data_keys
        )
        assert got == await reference(session, people, on, data_keys)
    today = await service.credentials_claims(
        session, people, list(KINDS), on=TODAY, base_url=BASE, keys=data_keys
    )
    assert all(claims is not None for claims in today[doctor.id].values())
    assert today[people[2]] == dict.fromkeys(KINDS)
    later = await service.credentials_claims(
        session, people, list(KINDS), on=TODAY + dt.timedelta(days=31), base_url=BASE, keys=data_keys
    )
    lapsed = later[doctor.id]["occupational_health"]
    assert lapsed is not None
    health_items = [r["item"] for r in lapsed.claims["occupational_health"]]
    assert health_items == ["hepatitis_b"]  # the clearance lapsed on its review date
