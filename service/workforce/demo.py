"""The workforce domain's demo step: the synthetic England of :mod:`service.workforce.synthetic`, stored.

- Organisations keep their synthetic ODS codes. An ICB's parent is its region; a trust's parent and ICB
  are its ICB; an independent provider has neither; an independent site's parent is its provider and
  its ICB is the ICB whose area it is in. These are the rules the API applies (``schemas.py``).
- Ids are UUID v5 of the seed and the synthetic keys, so the same world always gives the same rows.
- Rows go in as bulk INSERTs (one statement executed for a batch of rows), parents before children
  (the self-referencing foreign keys): scale 1 (about 18,000 rows) takes about a second on SQLite.
- :func:`demo_cast` picks the people and organisations the demo accounts belong to.

Services never commit: ``passport demo seed`` owns the transaction.
"""

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Conflict
from service.workforce import repository
from service.workforce.models import Employment, Organisation, Person
from service.workforce.schemas import LEVEL
from service.workforce.synthetic import SynthEmployment, SynthOrganisation, SynthPerson, SynthWorld

NAMESPACE: Final = uuid.UUID("5b0f3c1e-6d7a-5e43-9a51-0c7f2d8e4b19")
"""UUID v5 namespace of demo ids (fixed forever: changing it changes every demo id)."""
BATCH: Final = 2000
"""Rows per INSERT statement batch."""
KIND_LABELS: Final = {
    "region": "regions",
    "icb": "ICBs",
    "nhs_trust": "NHS trusts",
    "independent_provider": "independent providers",
    "independent_site": "independent sites",
}


def person_id(seed: int, key: str) -> uuid.UUID:
    """The id of the synthetic person ``key`` in the world of ``seed``."""
    return uuid.uuid5(NAMESPACE, f"{seed}/person/{key}")


def employment_id(seed: int, person_key: str, ordinal: int) -> uuid.UUID:
    """The id of the ``ordinal``-th employment (oldest first) of the synthetic person ``person_key``."""
    return uuid.uuid5(NAMESPACE, f"{seed}/employment/{person_key}/{ordinal}")


# ---------------------------------------------------------------- rows (pure)


def organisation_rows(world: SynthWorld, now: dt.datetime) -> list[dict[str, Any]]:
    """Column values of every organisation, parents first."""
    rows = []
    for org in sorted(world.organisations, key=lambda o: LEVEL[o.kind]):  # stable: keeps the world's order
        parent, icb = org.parent_code, None
        if org.kind == "nhs_trust":
            icb = org.parent_code
        elif org.kind == "independent_site":  # the world gives a site's ICB as its parent
            parent, icb = org.provider_code, org.parent_code
        rows.append(
            {
                "code": org.code,
                "name": org.name,
                "kind": org.kind,
                "parent_code": parent,
                "icb_code": icb,
                "postcode": org.postcode,
                "latitude": org.latitude,
                "longitude": org.longitude,
                "created_at": now,
            }
        )
    return rows


def person_rows(world: SynthWorld, seed: int, now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": person_id(seed, p.key),
            "given_name": p.given_name,
            "family_name": p.family_name,
            "gmc_number": p.gmc_number,
            "staff_group": p.staff_group,
            "grade": p.grade,
            "specialty": p.specialty,
            "created_at": now,
        }
        for p in world.people
    ]


def employment_rows(world: SynthWorld, seed: int, now: dt.datetime) -> list[dict[str, Any]]:
    ordinals: Counter[str] = Counter()
    rows = []
    for e in world.employments:
        ordinal = ordinals[e.person_key]
        ordinals[e.person_key] += 1
        rows.append(
            {
                "id": employment_id(seed, e.person_key, ordinal),
                "person_id": person_id(seed, e.person_key),
                "organisation_code": e.organisation_code,
                "role": e.role,
                "staff_group": e.staff_group,
                "specialty": e.specialty,
                "start_date": e.start,
                "end_date": e.end,
                "contracted_sessions": float(e.contracted_sessions),
                "created_at": now,
            }
        )
    return rows


# ---------------------------------------------------------------- the step


class WorkforceSeeded(msgspec.Struct, frozen=True, kw_only=True):
    """What the step wrote."""

    organisations: dict[str, int]
    """Count per kind, in :data:`KIND_LABELS` order."""
    doctors: int
    other_staff: int
    employments: int

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{count:,} {KIND_LABELS[kind]}" for kind, count in self.organisations.items())
        return [
            f"organisations: {kinds}",
            f"people: {self.doctors:,} doctors in training, {self.other_staff:,} other staff; "
            f"{self.employments:,} employments",
        ]


async def _refuse_clashes(session: AsyncSession, world: SynthWorld) -> None:
    """Refuse, naming a few, when organisations or GMC numbers of the world already exist.

    Regions and ICBs carry their real ODS codes, so a database holding a real import clashes.
    """
    codes = await repository.organisation_kinds(session, (o.code for o in world.organisations))
    numbers = await repository.people_by_gmc(session, (p.gmc_number for p in world.people if p.gmc_number))
    clashes = [f"organisation {c}" for c in sorted(codes)] + [f"GMC number {n}" for n in sorted(numbers)]
    if clashes:
        examples = ", ".join(clashes[:3]) + (", ..." if len(clashes) > 3 else "")
        raise Conflict(
            f"The database already holds {len(clashes)} of the demo's organisations or doctors ({examples}): "
            "seed the demo into a fresh database."
        )


async def _insert(
    session: AsyncSession, model: type[Organisation | Person | Employment], rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT ``rows`` in batches, each as one statement executed for many rows.

    ``render_nulls`` keeps every batch one statement: by default the ORM leaves out None values and so
    splits a batch wherever the set of None columns changes (here, thousands of times at scale 1).
    """
    statement = insert(model).execution_options(render_nulls=True)
    for start in range(0, len(rows), BATCH):
        await session.execute(statement, rows[start : start + BATCH])


async def seed_workforce(
    session: AsyncSession, world: SynthWorld, now: dt.datetime, *, seed: int
) -> WorkforceSeeded:
    """Store ``world`` (generated with ``seed``); refused if any of its organisations or doctors exist."""
    await _refuse_clashes(session, world)
    try:
        await _insert(session, Organisation, organisation_rows(world, now))
        await _insert(session, Person, person_rows(world, seed, now))
        await _insert(session, Employment, employment_rows(world, seed, now))
    except IntegrityError:
        raise Conflict("Another run wrote demo data at the same time; nothing was written.") from None
    kinds = Counter(o.kind for o in world.organisations)
    doctors = sum(1 for p in world.people if p.gmc_number is not None)
    return WorkforceSeeded(
        organisations={kind: kinds[kind] for kind in KIND_LABELS},
        doctors=doctors,
        other_staff=len(world.people) - doctors,
        employments=len(world.employments),
    )


# ---------------------------------------------------------------- who the demo accounts are


class DemoCast(msgspec.Struct, frozen=True, kw_only=True):
    """The organisations (and the doctor) of the demo accounts, so that they tell one story: a doctor
    in training employed by ``trust`` who has been placed at the independent ``site``."""

    trust: SynthOrganisation
    """The holder's current NHS employer: the issuer's organisation."""
    site: SynthOrganisation
    """An independent site where the holder has worked: the verifier's organisation."""
    provider: SynthOrganisation
    """The independent provider that runs ``site``."""
    region: SynthOrganisation
    """The NHS England region of ``trust`` (its training office places the holder)."""
    holder: SynthPerson | None
    """The demo doctor; None when the world has no doctors."""
    holder_id: uuid.UUID | None
    holder_organisation: str | None
    """Code of the holder's current employer."""
    colleagues: tuple[tuple[str, SynthPerson, uuid.UUID], ...] = ()
    """``(case, doctor, id)`` of more demo doctors now employed by ``trust`` (registrars first, by GMC
    number; only those whose names sort after the holder's, so the demo sign-in page, which lists holders
    by name, still shows the demo doctor first), each with a sign-in, a wallet
    and credentials like the holder's, placed at ``site`` at the same rotation, so its HR sees contrasting
    verdicts: one of :data:`COLLEAGUE_CASES` each (fewer when the trust has fewer doctors)."""


COLLEAGUE_CASES: Final = ("in_date", "fire_safety_expired", "suspended")
"""The demo colleagues' cases: everything in date (valid); fire safety expired (not compliant); in date
but their occupational health credential suspended by the trust (the credential fails its status check)."""


def _busiest(world: SynthWorld, kind: str, posts: Counter[str]) -> SynthOrganisation:
    candidates = [o for o in world.organisations if o.kind == kind]
    return min(candidates, key=lambda o: (-posts[o.code], o.code))


def demo_cast(world: SynthWorld, *, seed: int) -> DemoCast:
    """Pick the demo doctor: the first (by key) who has worked at an independent site, is now at an NHS
    trust and is a specialty registrar, as many of these as any doctor meets. Then pick the organisations
    around them; when the world has no such doctor, the busiest trust and site instead."""
    by_code = {o.code: o for o in world.organisations}
    history: defaultdict[str, list[SynthEmployment]] = defaultdict(list)
    for e in world.employments:
        history[e.person_key].append(e)

    def kinds(person: SynthPerson) -> list[str]:
        return [by_code[e.organisation_code].kind for e in sorted(history[person.key], key=lambda e: e.start)]

    def score(person: SynthPerson) -> tuple[bool, bool, bool]:
        mine = kinds(person)
        return (
            "independent_site" in mine,
            bool(mine) and mine[-1] == "nhs_trust",
            person.grade.startswith("ST"),
        )

    doctors = [p for p in world.people if p.gmc_number is not None]
    holder = max(doctors, key=score, default=None)  # max keeps the first of equals: the lowest key
    posts = Counter(e.organisation_code for e in world.employments)
    trust, site = _busiest(world, "nhs_trust", posts), _busiest(world, "independent_site", posts)
    current = None
    if holder is not None:
        mine = sorted(history[holder.key], key=lambda e: e.start)
        current = mine[-1].organisation_code if mine else None
        for e in mine:  # the latest of each kind wins
            org = by_code[e.organisation_code]
            if org.kind == "nhs_trust":
                trust = org
            elif org.kind == "independent_site":
                site = org
    icb = by_code[trust.parent_code or ""]

    def display(person: SynthPerson) -> str:  # as the demo sign-in page names (and sorts) holders
        return f"Dr {person.given_name} {person.family_name}"

    at_trust = [
        p
        for p in doctors
        if p is not holder
        and holder is not None
        and display(p) > display(holder)  # listed after the demo doctor: the first holder stays theirs
        and (posts_of := sorted(history[p.key], key=lambda e: e.start))
        and posts_of[-1].organisation_code == trust.code
    ]
    at_trust.sort(key=lambda p: (not p.grade.startswith("ST"), p.gmc_number or ""))  # registrars first
    colleagues = tuple(
        (case, person, person_id(seed, person.key))
        for case, person in zip(COLLEAGUE_CASES, at_trust, strict=False)
    )
    return DemoCast(
        trust=trust,
        site=site,
        provider=by_code[site.provider_code or ""],
        region=by_code[icb.parent_code or ""],
        holder=holder,
        holder_id=person_id(seed, holder.key) if holder is not None else None,
        holder_organisation=current or (trust.code if holder is not None else None),
        colleagues=colleagues,
    )
