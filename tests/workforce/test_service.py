"""The workforce service against the database: visibility per role, imports, conflicts."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.errors import Conflict, Forbidden, NotFound
from service.workforce import repository, service
from service.workforce.models import Employment, Organisation, Person
from service.workforce.schemas import PersonCreate
from service.workforce.service import ImportRejected
from tests.factories import now
from tests.workforce.factories import (
    EMPLOYMENT_HEADER,
    ORG_HEADER,
    PEOPLE_HEADER,
    Tree,
    count,
    create_employment,
    create_person,
    create_tree,
)


def principal(role: Role, organisation: str | None = "RRK", person_id: str | None = None) -> Principal:
    return Principal(
        subject=f"test-{role.value}", kind="client", role=role, organisation=organisation, person_id=person_id
    )


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    return await create_tree(session)


def csv(*rows: str) -> bytes:
    return "\n".join(rows).encode()


# ---------------------------------------------------------------- who sees whom


async def test_a_holder_reads_only_their_own_record(session: AsyncSession, tree: Tree) -> None:
    me = await create_person(session)
    someone = await create_person(session)
    holder = principal(Role.HOLDER, person_id=str(me.id).upper())
    assert (await service.get_person(session, holder, me.id)).id == me.id
    with pytest.raises(NotFound):
        await service.get_person(session, holder, someone.id)


async def test_an_issuer_without_an_organisation_sees_nobody(session: AsyncSession, tree: Tree) -> None:
    await create_employment(session, await create_person(session), tree.trust)
    with pytest.raises(Forbidden):
        await service.list_people(
            session,
            principal(Role.ISSUER, organisation=None),
            gmc_number=None,
            organisation=None,
            grade=None,
            specialty=None,
            limit=10,
            offset=0,
        )


async def test_a_coordinator_does_not_see_other_staff_employments(session: AsyncSession, tree: Tree) -> None:
    nurse = await create_person(session, grade="other", gmc_number=None)
    employment = await create_employment(session, nurse, tree.trust, role="Staff nurse")
    with pytest.raises(NotFound):
        await service.get_employment(session, principal(Role.COORDINATOR), employment.id)
    assert (
        await service.get_employment(session, principal(Role.ADMIN, None), employment.id)
    ).id == employment.id


async def test_people_pages_follow_on(session: AsyncSession, tree: Tree) -> None:
    for name in ("Cole", "Abbott", "Baker"):
        await create_person(session, family_name=name)
    admin = principal(Role.ADMIN, None)
    filters = {"gmc_number": None, "organisation": None, "grade": None, "specialty": None}
    first = await service.list_people(session, admin, **filters, limit=2, offset=0)
    assert [p.family_name for p in first.items] == ["Abbott", "Baker"]
    assert first.next_offset == 2
    second = await service.list_people(session, admin, **filters, limit=2, offset=2)
    assert [p.family_name for p in second.items] == ["Cole"]
    assert second.next_offset is None


# ---------------------------------------------------------------- conflicts


async def test_a_write_racing_another_is_a_conflict_not_a_crash(
    session: AsyncSession, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = await create_person(session)

    async def nobody(*_: object) -> dict[str, uuid.UUID]:
        return {}  # as if the other write had not committed when we looked

    monkeypatch.setattr(repository, "people_by_gmc", nobody)
    data = PersonCreate(
        given_name="A", family_name="B", gmc_number=existing.gmc_number, staff_group="medical", grade="FY1"
    )
    with pytest.raises(Conflict):
        await service.create_person(session, data, now())


# ---------------------------------------------------------------- imports


async def test_organisation_import_checks_references_against_the_registry(
    session: AsyncSession, tree: Tree
) -> None:
    data = csv(
        ORG_HEADER,
        f"RAP,Good trust,nhs_trust,{tree.icb},,,,",
        f"RAQ,Trust under a trust,nhs_trust,{tree.trust},,,,",
        f"NT302,Site,independent_site,{tree.provider},{tree.region},,,",
    )
    before = await count(session, Organisation)
    with pytest.raises(ImportRejected) as refused:
        await service.import_organisations(session, data, now())
    assert [(r.row, r.column, r.reason) for r in refused.value.rows] == [
        (3, "parent_code", f"must be an ICB, but {tree.trust} is an NHS trust"),
        (4, "icb_code", f"must be an ICB, but {tree.region} is a region"),
    ]
    assert await count(session, Organisation) == before


async def test_admin_imports_employments_anywhere(session: AsyncSession, tree: Tree) -> None:
    person = await create_person(session)
    data = csv(
        EMPLOYMENT_HEADER,
        f"{person.id},,{tree.trust},FY1,medical,,2025-08-06,2026-08-04,10",
        f",{person.gmc_number},{tree.site},FY1,medical,,2026-01-10,,1.5",
    )
    result = await service.import_employments(session, principal(Role.ADMIN, None), data, now())
    assert result.created == 2
    stored = (await session.scalars(select(Employment).order_by(Employment.start_date))).all()
    assert [(e.organisation_code, e.contracted_sessions) for e in stored] == [
        (tree.trust, 10),
        (tree.site, 1.5),
    ]


async def test_thousands_of_rows_are_imported_in_one_go(session: AsyncSession, tree: Tree) -> None:
    size = 5_000
    people = csv(
        PEOPLE_HEADER, *[f"Given{i},Family{i},{7_500_000 + i},medical,ST3,urology" for i in range(size)]
    )
    result = await service.import_people(session, people, now())
    assert result.created == size
    assert await count(session, Person) == size
    employments = csv(
        EMPLOYMENT_HEADER,
        *[f",{7_500_000 + i},{tree.trust},Registrar,medical,urology,2026-08-05,,10" for i in range(size)],
    )
    issuer = principal(Role.ISSUER, tree.trust)
    assert (await service.import_employments(session, issuer, employments, now())).created == size
    assert await count(session, Employment) == size
    last = await session.scalar(select(Person).where(Person.gmc_number == str(7_500_000 + size - 1)))
    assert last is not None
    assert last.family_name == f"Family{size - 1}"
    with pytest.raises(ImportRejected) as again:
        await service.import_employments(session, issuer, employments, now())
    assert len(again.value.rows) == size, "every duplicate row is reported"


async def test_a_refused_import_writes_nothing_even_with_good_rows_first(
    session: AsyncSession, tree: Tree
) -> None:
    data = csv(PEOPLE_HEADER, *[f"A{i},B,,nursing,other," for i in range(100)], "Bad,Row,,nursing,FY1,")
    with pytest.raises(ImportRejected) as refused:
        await service.import_people(session, data, now())
    assert [(r.row, r.column) for r in refused.value.rows] == [(102, "staff_group")]
    assert await count(session, Person) == 0


async def test_created_records_carry_the_clock_time(session: AsyncSession, tree: Tree) -> None:
    moment = dt.datetime(2026, 8, 5, 9, 0, tzinfo=dt.UTC)
    data = PersonCreate(given_name="A", family_name="B", staff_group="nursing", grade="other")
    created = await service.create_person(session, data, moment)
    assert created.created_at == moment
