"""Domain verbs (service/additionality/service/): what a check reads, stores and tells other domains."""

import datetime as dt
import hashlib

import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import repository, rules, service
from service.additionality.models import Check, RuleResult
from service.additionality.schemas import (
    ActivityBatch,
    ActivityRow,
    OfferCreate,
    ParameterSetCreate,
    RosterEntryCreate,
    ShortageListCreate,
    ShortageRole,
)
from service.auth import Principal, Role
from tests.additionality.factories import (
    D,
    England,
    create_england,
    create_person,
    employ,
    publish_placements,
)

ADMIN = Principal(subject="test admin", kind="client", role=Role.ADMIN, organisation=None)
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
async def england(session: AsyncSession) -> England:
    return await create_england(session)


def offer(site: str = "NT301", reference: str = "A", **changes: object) -> OfferCreate:
    base = OfferCreate(
        reference=reference,
        site_code=site,
        specialty="ent",
        sessions_per_week=10,
        start_date=D(2026, 4, 1),
        end_date=D(2027, 3, 31),
        declared_training_placements=3,
    )
    return msgspec.structs.replace(base, **changes)


async def test_a_check_reads_nhs_employments_headcounts_the_shortage_list_and_activity(
    session: AsyncSession, england: England
) -> None:
    local, far = await create_person(session), await create_person(session)
    await employ(session, local, england.trust, sessions=6)
    await employ(session, local, england.site, start=D(2026, 1, 1))  # independent: not an NHS employment
    await employ(session, far, england.far_trust, end=D(2026, 2, 28))
    for _ in range(3):  # the local trust's nurses on the start day, besides the rostered one
        await employ(session, await create_person(session), england.trust)
    await employ(session, await create_person(session), england.trust, end=D(2026, 3, 31))  # gone by then
    old = ShortageListCreate(effective_from=D(2020, 1, 1), roles=[ShortageRole(staff_group="nursing")])
    new = ShortageListCreate(effective_from=D(2026, 6, 1), roles=[])
    await service.create_shortage_list(session, ADMIN, old, NOW)
    await service.create_shortage_list(session, ADMIN, new, NOW)
    rows = [
        ActivityRow(
            provider_code="RRK", commissioner_code="QMM", specialty="ent", month="2025-06", activity=100
        ),
        ActivityRow(
            provider_code="RJ1", commissioner_code="QMM", specialty="ent", month="2025-06", activity=50
        ),
        ActivityRow(
            provider_code="NT301", commissioner_code="QMM", specialty="ent", month="2025-06", activity=20
        ),
        ActivityRow(
            provider_code="NT301", commissioner_code="QMM", specialty="urology", month="2025-06", activity=99
        ),
        ActivityRow(
            provider_code="NT301", commissioner_code="QOP", specialty="ent", month="2025-06", activity=99
        ),
        ActivityRow(
            provider_code="RRK", commissioner_code="QMM", specialty="ent", month="2019-05", activity=80
        ),
        ActivityRow(
            provider_code="RRK", commissioner_code="QMM", specialty="ent", month="2023-05", activity=1
        ),
    ]
    await service.record_activity(session, ADMIN, ActivityBatch(rows=rows), NOW)
    roster = [
        RosterEntryCreate(person_id=local.id, sessions=2),
        RosterEntryCreate(person_id=far.id, sessions=3),
    ]
    created = await service.create_offer(session, ADMIN, offer(roster=roster), NOW)
    record = await repository.get_offer(session, created.id)
    assert record is not None
    found = (await service.gather_inputs(session, [record], rules.DEFAULT_PARAMETERS))[created.id]
    histories = {p.person_id: p.nhs_employments for p in found.people}
    assert [(e.organisation_code, e.icb_code) for e in histories[str(local.id)]] == [("RRK", "QMM")]
    assert [(e.organisation_code, e.icb_code, e.end_date) for e in histories[str(far.id)]] == [
        ("RAP", "QOP", D(2026, 2, 28))
    ]
    assert found.site_icb_code == "QMM"
    assert found.employer_workforce == [
        rules.EmployerWorkforce(organisation_code="RRK", staff_group="nursing", headcount=4)
    ]
    assert (found.shortage_list_version, found.shortage_roles) == (
        1,
        [rules.ShortageRole(staff_group="nursing")],
    )
    assert found.activity == [
        rules.ActivityMonth(month=D(2019, 5, 1), nhs=80, independent=0),
        rules.ActivityMonth(month=D(2025, 6, 1), nhs=150, independent=20),
    ]
    assert (found.training_placements_hosted, found.training_placements_source) == (
        0,  # none published at the site; the declared 3 is named, not counted
        "placement records published in the registry (the provider declared 3)",
    )


async def test_a_stored_check_holds_its_inputs_their_hash_and_each_rule(
    session: AsyncSession, england: England
) -> None:
    created = await service.create_offer(session, ADMIN, offer(), NOW)
    checked = await service.check_offer(session, ADMIN, created.id, NOW)
    stored = await session.get(Check, checked.id)
    assert stored is not None
    assert stored.input_hash == hashlib.sha256(stored.inputs.encode()).hexdigest()
    inputs = msgspec.json.decode(stored.inputs, type=rules.OfferInputs)
    assert inputs.offer_id == str(created.id)
    assert (stored.parameters_version, stored.rules_version, stored.checked_by) == (
        1,
        rules.RULES_VERSION,
        "test admin",
    )
    names = (await session.scalars(select(RuleResult.rule).where(RuleResult.check_id == checked.id))).all()
    assert sorted(names) == sorted(rules.RULES)
    again = await service.check_offer(session, ADMIN, created.id, NOW)
    assert again.id > checked.id
    assert again.input_hash == checked.input_hash  # the same data hashes the same
    assert again.run_id != checked.run_id


async def test_failed_sites_are_those_whose_latest_check_failed_in_the_period(
    session: AsyncSession, england: England
) -> None:
    nurse = await create_person(session)
    await employ(session, nurse, england.trust)
    failing = await service.create_offer(
        session, ADMIN, offer(roster=[RosterEntryCreate(person_id=nurse.id, sessions=2)]), NOW
    )
    clean = await service.create_offer(session, ADMIN, offer(site="NT302"), NOW)
    later = await service.create_offer(
        session,
        ADMIN,
        offer(
            site="NT901",
            start_date=D(2027, 4, 1),
            end_date=D(2027, 9, 30),
            roster=[RosterEntryCreate(person_id=nurse.id, sessions=2)],
        ),
        NOW,
    )
    assert await service.failed_sites(session, D(2026, 6, 1)) == []  # nothing checked yet
    for o in (failing, clean, later):
        await service.check_offer(session, ADMIN, o.id, NOW)
    found = await service.failed_sites(session, D(2026, 6, 1))
    assert [(f.site_code, f.offer_id) for f in found] == [("NT301", failing.id)]
    assert found[0].failed_rules == ["dual_running", "local_draw"]
    both = await service.failed_sites(session, D(2026, 6, 1), D(2027, 12, 31))
    assert sorted(f.site_code for f in both) == ["NT301", "NT901"]
    # A lenient parameter version and a new check: the latest check counts.
    await service.create_parameter_set(
        session,
        ADMIN,
        ParameterSetCreate(
            parameters={
                "dual_running": {"fail_above_share": 1.0},
                "local_draw": {"sessions_fail_above_share": 1.0},
            }
        ),
        NOW,
    )
    await service.check_offer(session, ADMIN, failing.id, NOW)
    assert await service.failed_sites(session, D(2026, 6, 1)) == []


async def test_training_placements_hosted_are_the_placement_records_published_at_the_site(
    session: AsyncSession, england: England
) -> None:
    created = await service.create_offer(session, ADMIN, offer(declared_training_placements=7), NOW)
    elsewhere = await service.create_offer(session, ADMIN, offer(site="NT302", reference="B"), NOW)
    records = [await repository.get_offer(session, i) for i in (created.id, elsewhere.id)]
    assert None not in records
    inside = (D(2026, 8, 5), D(2027, 2, 2))
    await publish_placements(session, "NT301", [inside, inside, (D(2025, 8, 6), D(2026, 4, 1))])
    await publish_placements(session, "NT301", [(D(2025, 8, 6), D(2026, 3, 31))])  # ends before the offer
    hosted = await service.hosted_training_placements(session, [r for r in records if r is not None])
    assert hosted[created.id] == service.HostedPlacements(
        3, "placement records published in the registry (the provider declared 7)"
    )
    assert hosted[elsewhere.id].placements == 0


async def test_the_shortage_list_in_effect_is_the_highest_version_from_that_day(
    session: AsyncSession, england: England
) -> None:
    for day in (D(2020, 1, 1), D(2026, 1, 1), D(2024, 1, 1), D(2026, 1, 1)):
        await service.create_shortage_list(
            session, ADMIN, ShortageListCreate(effective_from=day, roles=[]), NOW
        )
    lists = await repository.shortage_lists(session)

    def version(day: dt.date) -> int | None:
        found = service.shortage_list_on(lists, day)
        return found.version if found is not None else None

    assert version(D(2019, 12, 31)) is None
    assert version(D(2023, 12, 31)) == 1
    assert version(D(2025, 6, 1)) == 3  # published after version 2, in effect before it
    assert version(D(2026, 6, 1)) == 4  # corrects version 2: same day, higher version
