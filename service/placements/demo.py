"""The placements demo step: volumes, curriculum and logbooks for the synthetic England, and one rotation
plan (a dataset) of the demo coordinator's region, ready to match; that plan's last rotation (seven months
ago, six months long) matched through the gates and published, so the passport holds the placements and
the benchmark counts them, with the logbook entries of those months at the sites where they were done.

Everything goes in through the same checks as the API (``service.py``), as CSV files. The same world and
seed always give the same rows: all randomness comes from ``random.Random(seed)``.
"""

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.placements import service
from service.placements.schemas import DatasetCreate, MatchResult, PublishRequest, RunCreate
from service.workforce.demo import DemoCast
from service.workforce.synthetic import SynthEmployment, SynthOrganisation, SynthPerson, SynthWorld

NAMESPACE: Final = uuid.UUID("8d1f4c2a-3b6e-5f70-9c18-2e4a6b8d0f13")
CURRICULUM: Final = {
    "trauma_and_orthopaedics": (
        ("total_knee_replacement", 40, "S-TS"),
        ("total_hip_replacement", 40, "S-TS"),
        ("carpal_tunnel_decompression", 30, "S-TU"),
        ("knee_arthroscopy", 40, "S-TS"),
    ),
    "general_surgery": (
        ("cholecystectomy", 50, "S-TS"),
        ("inguinal_hernia_repair", 50, "S-TS"),
        ("appendicectomy", 80, "S-TS"),
    ),
    "ophthalmology": (("cataract", 350, "P"),),
    "urology": (("cystoscopy", 100, "S-TU"), ("transurethral_resection_of_prostate", 40, "S-TS")),
    "ent": (("tonsillectomy", 40, "S-TS"), ("septoplasty", 30, "S-TS")),
}
"""Indicative numbers of the demo curriculum (from the examples in DOMAIN.md; check the real curricula)."""
YEARS: Final = ("2024-25", "2025-26")
SUPERVISION_WEIGHTS: Final = (("O", 10), ("A", 20), ("S-TS", 30), ("S-TU", 20), ("P", 15), ("T", 5))
PROGRESS: Final = {
    "CT1": 0.1,
    "CT2": 0.2,
    "CT3": 0.3,
    "ST1": 0.1,
    "ST2": 0.2,
    "ST3": 0.35,
    "ST4": 0.45,
    "ST5": 0.55,
    "ST6": 0.65,
    "ST7": 0.75,
    "ST8": 0.85,
}
"""Share of the indicative numbers a trainee of each grade has logged, on average."""
ACTOR: Final = "passport demo seed"


def _site_specialties(site: SynthOrganisation) -> tuple[str, ...]:
    if "Eye" in site.name:
        return ("ophthalmology",)
    if "Orthopaedic" in site.name:
        return ("trauma_and_orthopaedics",)
    return ("trauma_and_orthopaedics", "general_surgery", "urology", "ent")


def _csv(header: str, rows: Sequence[Sequence[object]]) -> bytes:
    return (header + "\n" + "".join(",".join(str(c) for c in row) + "\n" for row in rows)).encode()


def _region_of(world: SynthWorld) -> dict[str, str]:
    """Region of every organisation that has one (ICBs, trusts, sites)."""
    regions: dict[str, str] = {}
    for org in world.organisations:
        if org.kind == "icb":
            regions[org.code] = org.parent_code or ""
    for org in world.organisations:
        if org.kind in ("nhs_trust", "independent_site") and org.parent_code in regions:
            regions[org.code] = regions[org.parent_code]
    return regions


def _current(world: SynthWorld) -> dict[str, SynthEmployment]:
    latest: dict[str, SynthEmployment] = {}
    for e in world.employments:
        if e.person_key not in latest or e.start > latest[e.person_key].start:
            latest[e.person_key] = e
    return latest


def _volume_rows(rng: random.Random, sites: Sequence[SynthOrganisation]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for site in sites:
        for specialty in _site_specialties(site):
            for group, _, _ in CURRICULUM[specialty]:
                base = rng.lognormvariate(7.6 if group == "cataract" else 5.3, 0.6)
                rows += [
                    (site.code, specialty, group, y, round(base * rng.uniform(0.85, 1.15))) for y in YEARS
                ]
    return rows


def _trainees(world: SynthWorld, region: str) -> list[tuple[SynthPerson, SynthOrganisation]]:
    """Surgical doctors in training (past foundation) whose current post is in ``region``, and that post."""
    by_code = {o.code: o for o in world.organisations}
    regions = _region_of(world)
    current = _current(world)
    found = []
    for person in world.people:
        post = current.get(person.key)
        if person.gmc_number is None or person.specialty not in CURRICULUM or person.grade.startswith("FY"):
            continue
        if post is None or regions.get(post.organisation_code) != region:
            continue
        org = by_code[post.organisation_code]
        if org.latitude is not None and org.longitude is not None:
            found.append((person, org))
    return found


def _logbook_rows(
    rng: random.Random, trainees: Sequence[tuple[SynthPerson, SynthOrganisation]], today: dt.date
) -> list[tuple[object, ...]]:
    codes, weights = [s for s, _ in SUPERVISION_WEIGHTS], [w for _, w in SUPERVISION_WEIGHTS]
    rows: list[tuple[object, ...]] = []
    for person, org in trainees:
        progress = PROGRESS.get(person.grade, 0.5)
        for group, indicative, _ in CURRICULUM[person.specialty or ""]:
            for _ in range(round(indicative * progress * rng.uniform(0.4, 1.3))):
                day = today - dt.timedelta(days=rng.randint(1, 700))
                rows.append(
                    (person.gmc_number, group, day.isoformat(), rng.choices(codes, weights)[0], org.code)
                )
    return rows


def _dataset_files(
    rng: random.Random,
    sites: Sequence[SynthOrganisation],
    trainees: Sequence[tuple[SynthPerson, SynthOrganisation]],
) -> dict[str, bytes]:
    codes = [s.code for s in sites]
    preferences = []
    for person, _ in trainees:
        if codes and rng.random() < 0.4:
            ranked = rng.sample(codes, min(3, len(codes)))
            preferences += [(person.gmc_number, code, rank) for rank, code in enumerate(ranked, start=1)]
    return {
        "sites": _csv(
            "site_code,name,icb_code,latitude,longitude",
            [(s.code, f'"{s.name}"', s.parent_code, s.latitude, s.longitude) for s in sites],
        ),
        "capacity": _csv(
            "site_code,specialty,slots,recognised_supervisors,trainees_per_supervisor,min_grade,max_grade",
            [
                (
                    s.code,
                    spec,
                    rng.randint(1, 4),
                    rng.randint(1, 3),
                    rng.choice((1, 2)),
                    rng.choice(("CT1", "ST3")),
                    "ST8",
                )
                for s in sites
                for spec in _site_specialties(s)
            ],
        ),
        "trainees": _csv(
            "trainee_id,grade,specialty,latitude,longitude,max_travel_km",
            [
                (p.gmc_number, p.grade, p.specialty, o.latitude, o.longitude, rng.choice((40, 60, 80)))
                for p, o in trainees
            ],
        ),
        "preferences": _csv("trainee_id,site_code,rank", preferences),
        "weights": _csv("procedure_group,weight", [("cataract", "0.5")]),
    }


def last_rotation(today: dt.date) -> dt.date:
    """The first Wednesday of the month seven months before ``today``'s: a six-month rotation that is over."""
    month = today.month - 7
    first = dt.date(today.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    return first + dt.timedelta(days=(2 - first.weekday()) % 7)


async def _publish_last_rotation(
    session: AsyncSession,
    coordinator: Principal,
    dataset: uuid.UUID,
    log_rows: list[tuple[object, ...]],
    now: dt.datetime,
) -> str:
    """Match and publish the plan's last rotation; move its trainees' entries of those months to the
    sites they were placed at (a logbook load replacing theirs). Returns the summary line."""
    start = last_rotation(now.date())
    run = await service.create_run(
        session, coordinator, dataset, RunCreate(mode="optimal", start_date=start), now
    )
    published = await service.publish(session, coordinator, run.id, PublishRequest(), now)
    result = msgspec.json.decode(
        await service.run_result(session, coordinator, run.id, as_csv=False), type=MatchResult
    )
    placed = {p.trainee_id: p.site_code for p in result.placements}
    first, last = start.isoformat(), published.end_date.isoformat()
    moved = [
        (number, group, day, supervision, placed[str(number)] if first <= str(day) <= last else site)
        for number, group, day, supervision, site in log_rows
        if str(number) in placed
    ]
    if moved:
        await service.load_logbook(
            session, _csv("trainee_id,procedure_group,date,supervision,site_code", moved), now
        )
    at_sites = sum(1 for row in moved if first <= str(row[2]) <= last)
    excluded = len(run.summary.exclusions.sites)
    return (
        f"placements: last rotation ({first} to {last}) matched (additionality gate: {excluded} site(s) "
        f"excluded) and published: {published.records} placements at {len(set(placed.values()))} sites, "
        f"{published.passport_records} passport records; {at_sites:,} logbook entries of those months at "
        "those sites"
    )


async def seed_placements(
    session: AsyncSession, world: SynthWorld, cast: DemoCast, *, seed: int, now: dt.datetime
) -> list[str]:
    """Load the demo's placement data; returns the lines of the seed's summary."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not cryptography
    sites = [o for o in world.organisations if o.kind == "independent_site" and o.latitude is not None]
    volume_rows = _volume_rows(rng, sites)
    await service.load_volumes(
        session, _csv("site_code,specialty,procedure_group,financial_year,nhs_funded_count", volume_rows), now
    )
    curriculum = [(s, g, n, m) for s, groups in CURRICULUM.items() for g, n, m in groups]
    await service.load_curriculum(
        session, _csv("specialty,procedure_group,indicative_number,min_supervision", curriculum), now
    )
    region = cast.region.code
    regions = _region_of(world)
    region_sites = [s for s in sites if regions.get(s.code) == region]
    trainees = _trainees(world, region)
    log_rows = _logbook_rows(rng, trainees, now.date())
    if log_rows:
        await service.load_logbook(
            session, _csv("trainee_id,procedure_group,date,supervision,site_code", log_rows), now
        )
    coordinator = Principal(subject=ACTOR, kind="client", role=Role.COORDINATOR, organisation=region)
    name = f"{cast.region.name} demo rotation"
    dataset = await service.create_dataset(
        session,
        coordinator,
        DatasetCreate(name=name),
        now,
        dataset_id=uuid.uuid5(NAMESPACE, f"{seed}/{region}"),
    )
    for kind, content in _dataset_files(rng, region_sites, trainees).items():
        await service.load_dataset_file(session, coordinator, dataset.id, kind, content, now)
    people = {row[0] for row in log_rows}
    lines = [
        f"placements: volumes of {len(sites)} independent sites ({len(volume_rows):,} rows), curriculum of "
        f"{len(CURRICULUM)} specialties, {len(log_rows):,} logbook entries of {len(people):,} trainees",
        f"placements: dataset {name!r} ({dataset.id}): {len(region_sites)} sites, {len(trainees)} trainees; "
        f"match it with POST /api/v1/placements/datasets/{dataset.id}/runs",
    ]
    if region_sites and trainees:
        lines.append(await _publish_last_rotation(session, coordinator, dataset.id, log_rows, now))
    return lines
