"""``create_*`` helpers for workforce tests: just enough rows, written straight to the database."""

import datetime as dt
import itertools
import uuid

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.workforce.models import Employment, Organisation, Person
from tests.factories import create_organisation, now

_gmc = itertools.count(7_000_001)


class Tree(msgspec.Struct, frozen=True):
    """A small England: one region, one ICB, two trusts, one independent provider and its site."""

    region: str = "Y56"
    icb: str = "QMM"
    trust: str = "RRK"
    other_trust: str = "RJ1"
    provider: str = "NT3"
    site: str = "NT301"


async def create_tree(session: AsyncSession) -> Tree:
    tree = Tree()
    await create_organisation(session, tree.region, kind="region", name="London")
    await create_organisation(session, tree.icb, kind="icb", parent_code=tree.region)
    await create_organisation(session, tree.trust, kind="nhs_trust", parent_code=tree.icb)
    await create_organisation(session, tree.other_trust, kind="nhs_trust", parent_code=tree.icb)
    await create_organisation(session, tree.provider, kind="independent_provider")
    await create_organisation(session, tree.site, kind="independent_site", parent_code=tree.provider)
    await session.commit()
    return tree


def next_gmc() -> str:
    return str(next(_gmc))


async def create_person(
    session: AsyncSession,
    *,
    grade: str = "FY1",
    staff_group: str | None = None,
    gmc_number: str | None = "next",
    family_name: str = "Okafor",
    given_name: str = "Ada",
    specialty: str | None = None,
) -> Person:
    person = Person(
        id=uuid.uuid4(),
        given_name=given_name,
        family_name=family_name,
        gmc_number=next_gmc() if gmc_number == "next" else gmc_number,
        staff_group=staff_group or ("medical" if grade != "other" else "nursing"),
        grade=grade,
        specialty=specialty,
        created_at=now(),
    )
    session.add(person)
    await session.commit()
    return person


async def create_employment(
    session: AsyncSession,
    person: Person,
    organisation_code: str,
    *,
    start: dt.date = dt.date(2025, 8, 6),
    end: dt.date | None = None,
    role: str = "Foundation doctor",
    sessions: float = 10,
) -> Employment:
    employment = Employment(
        id=uuid.uuid4(),
        person_id=person.id,
        organisation_code=organisation_code,
        role=role,
        staff_group=person.staff_group,
        specialty=person.specialty,
        start_date=start,
        end_date=end,
        contracted_sessions=sessions,
        created_at=now(),
    )
    session.add(employment)
    await session.commit()
    return employment


async def count(session: AsyncSession, model: type[Organisation | Person | Employment]) -> int:
    """Rows of ``model`` the test can see (the app writes on the same connection)."""
    total = await session.scalar(select(func.count()).select_from(model))
    return int(total or 0)


# The documented CSV headers (docs/workforce.md), written out so a change of format fails the tests.
ORG_HEADER = "code,name,kind,parent_code,icb_code,postcode,latitude,longitude"
PEOPLE_HEADER = "given_name,family_name,gmc_number,staff_group,grade,specialty"
EMPLOYMENT_HEADER = ",".join(
    [
        "person_id",
        "gmc_number",
        "organisation_code",
        "role",
        "staff_group",
        "specialty",
        "start_date",
        "end_date",
        "contracted_sessions",
    ]
)
