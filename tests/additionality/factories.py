"""Helpers for additionality tests: rule inputs built in memory, and a small England in the database."""

import datetime as dt
import itertools
import uuid
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import rules
from service.workforce.models import Employment, Organisation, Person
from tests.factories import now

D = dt.date
START = D(2026, 4, 1)
END = D(2027, 3, 31)
SITE_ICB = "QMM"
NHS_START = D(2020, 1, 6)
OTHER_ICB = "QOP"

# ---------------------------------------------------------------- in memory (pure rule inputs)


def nhs(
    code: str = "RRK",
    *,
    icb: str | None = SITE_ICB,
    start: dt.date = NHS_START,
    end: dt.date | None = None,
    sessions: float = 10.0,
    group: str = "nursing",
    specialty: str | None = None,
) -> rules.NhsEmployment:
    return rules.NhsEmployment(
        organisation_code=code,
        icb_code=icb,
        staff_group=group,
        specialty=specialty,
        start_date=start,
        end_date=end,
        contracted_sessions=sessions,
    )


def person(person_id: str, *employments: rules.NhsEmployment, group: str = "nursing") -> rules.PersonHistory:
    return rules.PersonHistory(person_id=person_id, staff_group=group, nhs_employments=list(employments))


def entry(
    person_id: str, sessions: float = 4.0, start: dt.date = START, end: dt.date = END
) -> rules.RosterEntry:
    return rules.RosterEntry(person_id=person_id, sessions=sessions, start_date=start, end_date=end)


def inputs(**changes: Any) -> rules.OfferInputs:
    """An offer at site NT301 in ICB QMM, for 2026-27, by default with nobody rostered."""
    base = rules.OfferInputs(
        offer_id="00000000-0000-0000-0000-000000000001",
        site_code="NT301",
        site_icb_code=SITE_ICB,
        commissioner_code=SITE_ICB,
        specialty="ophthalmology",
        sessions_per_week=10.0,
        start_date=START,
        end_date=END,
        roster=[],
        people=[],
        shortage_list_version=1,
        shortage_roles=[rules.ShortageRole(staff_group="nursing")],
        employer_workforce=[],
        training_placements_hosted=0,
        training_placements_source="declared by the provider in the offer",
        activity=[],
    )
    return msgspec.structs.replace(base, **changes)


def result(
    rule: rules.RuleName, offer: rules.OfferInputs, parameters: rules.Parameters | None = None
) -> rules.RuleResult:
    found = rules.evaluate(offer, parameters or rules.DEFAULT_PARAMETERS)
    return next(r for r in found if r.rule == rule)


# ---------------------------------------------------------------- in the database

_gmc = itertools.count(7_500_001)


class England(msgspec.Struct, frozen=True):
    """One region; ICB QMM with trusts RRK and RJ1; ICB QOP with trust RAP; provider NT3 with site NT301 (in
    QMM) and site NT302 (in QOP); another provider NT9 with site NT901 (in QMM)."""

    region: str = "Y56"
    icb: str = SITE_ICB
    other_icb: str = OTHER_ICB
    trust: str = "RRK"
    other_trust: str = "RJ1"
    far_trust: str = "RAP"
    provider: str = "NT3"
    site: str = "NT301"
    far_site: str = "NT302"
    rival: str = "NT9"
    rival_site: str = "NT901"


async def _organisation(
    session: AsyncSession, code: str, kind: str, parent: str | None = None, icb: str | None = None
) -> None:
    session.add(
        Organisation(
            code=code,
            name=f"Test {kind.replace('_', ' ')} {code}",
            kind=kind,
            parent_code=parent,
            icb_code=icb,
            postcode=None,
            latitude=None,
            longitude=None,
            created_at=now(),
        )
    )
    await session.flush()


async def create_england(session: AsyncSession) -> England:
    e = England()
    await _organisation(session, e.region, "region")
    await _organisation(session, e.icb, "icb", e.region)
    await _organisation(session, e.other_icb, "icb", e.region)
    await _organisation(session, e.trust, "nhs_trust", e.icb, e.icb)
    await _organisation(session, e.other_trust, "nhs_trust", e.icb, e.icb)
    await _organisation(session, e.far_trust, "nhs_trust", e.other_icb, e.other_icb)
    await _organisation(session, e.provider, "independent_provider")
    await _organisation(session, e.site, "independent_site", e.provider, e.icb)
    await _organisation(session, e.far_site, "independent_site", e.provider, e.other_icb)
    await _organisation(session, e.rival, "independent_provider")
    await _organisation(session, e.rival_site, "independent_site", e.rival, e.icb)
    await session.commit()
    return e


async def create_person(
    session: AsyncSession, *, group: str = "nursing", gmc: bool = False, specialty: str | None = None
) -> Person:
    record = Person(
        id=uuid.uuid4(),
        given_name="Test",
        family_name="Person",
        gmc_number=str(next(_gmc)) if gmc else None,
        staff_group=group,
        grade="other",
        specialty=specialty,
        created_at=now(),
    )
    session.add(record)
    await session.commit()
    return record


async def employ(
    session: AsyncSession,
    who: Person,
    organisation: str,
    *,
    start: dt.date = NHS_START,
    end: dt.date | None = None,
    sessions: float = 10.0,
    specialty: str | None = None,
) -> Employment:
    record = Employment(
        id=uuid.uuid4(),
        person_id=who.id,
        organisation_code=organisation,
        role="Staff",
        staff_group=who.staff_group,
        specialty=specialty,
        start_date=start,
        end_date=end,
        contracted_sessions=sessions,
        created_at=now(),
    )
    session.add(record)
    await session.commit()
    return record


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def offer_body(site: str = "NT301", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "OPH-2026-1",
        "site_code": site,
        "specialty": "Ophthalmology",
        "sessions_per_week": 10,
        "start_date": "2026-04-01",
        "end_date": "2027-03-31",
        "declared_training_placements": 1,
        "roster": [],
    }
    return {**body, **changes}


OFFER_HEADER = (
    "reference,site_code,commissioner_code,specialty,sessions_per_week,start_date,end_date,"
    "declared_training_placements"
)
ROSTER_HEADER = "site_code,offer_reference,person_id,gmc_number,sessions,start_date,end_date"
ACTIVITY_HEADER = "provider_code,commissioner_code,specialty,month,activity"


async def publish_placements(
    session: AsyncSession, site: str, periods: list[tuple[dt.date, dt.date]]
) -> None:
    """Placement records of a published match run at ``site``, one per (start, end), each of a new doctor
    (what the placements domain's publish writes)."""
    from service.placements.models import Dataset, PlacementRecord, Run

    dataset = Dataset(
        id=uuid.uuid4(), name="Test rotation", organisation_code=None, created_at=now(), created_by="t"
    )
    session.add(dataset)
    await session.flush()
    run = Run(
        id=uuid.uuid4(),
        dataset_id=dataset.id,
        mode="optimal",
        training_share=0.5,
        rotation_months=6,
        financial_year="2025-26",
        seed=0,
        input_sha256="0" * 64,
        result=b"{}",
        summary="{}",
        created_at=now(),
        created_by="t",
        published_at=now(),
        published_by="t",
    )
    session.add(run)
    await session.flush()
    for start, end in periods:
        doctor = await create_person(session, group="medical", gmc=True, specialty="ent")
        session.add(
            PlacementRecord(
                id=uuid.uuid4(),
                person_id=doctor.id,
                gmc_number=doctor.gmc_number or "",
                site_code=site,
                specialty="ent",
                grade="ST4",
                start_date=start,
                end_date=end,
                run_id=run.id,
                published_at=now(),
            )
        )
    await session.commit()
