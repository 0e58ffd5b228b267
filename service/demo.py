"""``passport demo seed``: one entry point for all demo data. Each domain adds its own step here.

What a seed writes, in one transaction (the command commits it):

1. ``workforce``: the synthetic England of :mod:`service.workforce.synthetic` (regions, ICBs, trusts,
   independent providers and sites, doctors in training and other staff with employment histories);
2. ``clients``: one demo API client per organisational role, their secrets written once to
   ``<var_dir>/demo-clients.json`` (mode 0600), the only copy (the database keeps Argon2 hashes);
3. ``users``: one demo web user per role, listed on the demo sign-in page (``/signin``, demo mode);
4. ``passport``: source records of every doctor (all four kinds; some lapsing soon, a few lapsed) and
   three compliance policies (:mod:`service.passport.demo`);
5. ``additionality``: offers of capacity at the busiest independent sites with their rosters, a shortage
   list, activity, and a check of the financial year (:mod:`service.additionality.demo`);
6. ``benchmark``: providers' learner submissions for every independent site, for the current and the
   previous financial year (:mod:`service.benchmark.demo`).
4. ``placements``: procedure volumes of every independent site, the curriculum, logbooks of the demo
   coordinator's region's surgical trainees, and that region's rotation plan ready to match
   (:mod:`service.placements.demo`).

Who is who. The demo accounts tell one story (:func:`service.workforce.demo.demo_cast`): a doctor in
training, employed by an NHS trust, placed at an independent site.

| role | organisation |
|---|---|
| holder | a web user only, linked to the demo doctor's person record (organisation: their employer) |
| issuer | the doctor's NHS trust (its HR system submits records) |
| verifier | the independent site where the doctor was placed (its HR checks passports) |
| coordinator | the trust's NHS England region (a training office belongs to a region in our model) |
| analyst | the independent provider running that site (the independent sector's benchmark analyst) |
| admin | no organisation |

There is no holder API client: a holder is a person with a wallet, not a system holding a client secret.
Up to three more holders, the demo colleagues (``DemoCast.colleagues``: doctors now at the same trust,
rotating to the same site), give the site's HR contrasting verdicts: everything in date, fire safety
expired, an occupational health credential suspended; each has a web user, a wallet and credentials.

Idempotency. Each completed step is recorded as an audit event (action ``demo_seed``, subject
``demo:<step> scale=<scale> seed=<seed> today=<date>``): append-only, hash-chained, no new table. A run
does only the steps not recorded yet, so a step added by a later issue also reaches an existing demo,
and a second run changes nothing. A database seeded with another scale or seed is never mixed with a
new one: the run changes nothing and says so.

Determinism. The same scale, seed and day give the same rows (ids are UUID v5 of the seed and the
synthetic keys), except timestamps, client secrets and the ids of web users. Employment histories are
laid out around the day of the first seed (``now``'s date, recorded in the audit subject), so the demo
has current posts.
"""

import datetime as dt
import math
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Final, NamedTuple

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit, auth
from service.additionality.demo import seed_additionality
from service.auth import Role
from service.config import Settings
from service.errors import InvalidInput
from service.web import service as web
from service.workforce.demo import DemoCast, demo_cast, seed_workforce
from service.workforce.synthetic import SynthOrganisation, SynthWorld, generate

CLIENTS_FILE: Final = "demo-clients.json"
ACTOR: Final = "passport demo seed"
ACTION: Final = "demo_seed"
MAX_SCALE: Final = 100.0
_SUBJECT = re.compile(
    r"demo:(?P<step>[a-z_]+) scale=(?P<scale>\S+) seed=(?P<seed>-?\d+) today=(?P<today>\S+)"
)


class Params(NamedTuple):
    scale: float
    seed: int
    today: dt.date
    at: dt.datetime
    """When the step was recorded."""


# ---------------------------------------------------------------- one run


@dataclass
class _Run:
    """What the steps of one run share; the world is generated only if a step needs it."""

    session: AsyncSession
    settings: Settings
    scale: float
    seed: int
    today: dt.date
    now: dt.datetime
    lines: list[str] = field(default_factory=list)

    @cached_property
    def world(self) -> SynthWorld:
        return generate(self.scale, self.seed, self.today)

    @cached_property
    def cast(self) -> DemoCast:
        return demo_cast(self.world, seed=self.seed)


Step = Callable[[_Run], Awaitable[None]]


def _organisation(cast: DemoCast, role: Role) -> SynthOrganisation | None:
    """The organisation of the demo client and user of ``role`` (see the module docstring)."""
    return {
        Role.ISSUER: cast.trust,
        Role.VERIFIER: cast.site,
        Role.COORDINATOR: cast.region,
        Role.ANALYST: cast.provider,
    }.get(role)


def _client_id(role: Role, organisation: SynthOrganisation | None) -> str:
    return f"demo-{role.value}" + (f"-{organisation.code.lower()}" if organisation else "")


# ---------------------------------------------------------------- steps


async def _workforce(run: _Run) -> None:
    seeded = await seed_workforce(run.session, run.world, run.now, seed=run.seed)
    run.lines += seeded.lines()


CLIENT_NAMES: Final = {
    Role.ISSUER: "{name} HR system",
    Role.VERIFIER: "{name} HR system",
    Role.COORDINATOR: "{name} training office placement tool",
    Role.ANALYST: "{name} training benchmark tool",
    Role.ADMIN: "Registry operator console",
}
"""Demo API clients, one per role that a system plays (no holder: see the module docstring)."""


def token_url(settings: Settings) -> str:
    return f"{settings.issuer}/oauth/token"


def _curl(settings: Settings, client_id: str, secret: str) -> str:
    return f"curl -s -u '{client_id}:{secret}' -d grant_type=client_credentials {token_url(settings)}"


async def _clients(run: _Run) -> None:
    entries: dict[str, dict[str, str | None]] = {}
    described = []
    for role, pattern in CLIENT_NAMES.items():
        org = _organisation(run.cast, role)
        created = await auth.create_client(
            run.session,
            name=f"{pattern.format(name=org.name if org else '')} (demo)",
            role=role,
            organisation_code=org.code if org else None,
            now=run.now,
            client_id=_client_id(role, org),
        )
        entries[role.value] = {
            "client_id": created.client_id,
            "client_secret": created.client_secret,
            "organisation_code": created.organisation_code,
            "organisation_name": org.name if org else None,
            "token_url": token_url(run.settings),
            "curl": _curl(run.settings, created.client_id, created.client_secret),
        }
        described.append(f"{role.value} at {org.code}" if org else f"{role.value} (no organisation)")
    document = {
        "about": (
            f"Demo API clients of the Staff Passport Registry (scale {_number(run.scale)}, seed {run.seed}). "
            "The secrets are stored only here (the database keeps hashes). Demo only: never in production."
        ),
        "token_url": token_url(run.settings),
        "clients": entries,
        "holder": "Holders are people, not systems: sign in as the demo doctor at "
        f"{run.settings.issuer}/signin (demo mode).",
    }
    _write_private(clients_file(run.settings), msgspec.json.format(msgspec.json.encode(document)) + b"\n")
    run.lines.append(f"API clients: {', '.join(described)}")


STAFF: Final = (
    (Role.ISSUER, "Joanne Fletcher", "joanne.fletcher"),
    (Role.VERIFIER, "Marcus Bell", "marcus.bell"),
    (Role.COORDINATOR, "Helen Ashworth", "helen.ashworth"),
    (Role.ANALYST, "Catherine Doyle", "catherine.doyle"),
    (Role.ADMIN, "Sam Whitaker", "sam.whitaker"),
)
"""Demo web users besides the holder: invented names; ``.invalid`` (RFC 2606) is nobody's email."""
DEMO_DOMAIN: Final = "demo.invalid"


def _email_part(name: str) -> str:
    return "".join(c for c in name.lower() if c.isascii() and c.isalnum())


CASE_WORDS: Final = {
    "in_date": "everything in date",
    "fire_safety_expired": "fire safety expired",
    "suspended": "occupational health credential suspended",
}
"""How the summary names each demo colleague's case (``service.workforce.demo.COLLEAGUE_CASES``)."""


async def _users(run: _Run) -> None:
    described = []
    cast = run.cast
    if cast.holder is not None and cast.holder_id is not None:
        holder = cast.holder
        user = await web.create_user(
            run.session,
            email=f"dr.{_email_part(holder.given_name)}.{_email_part(holder.family_name)}@{DEMO_DOMAIN}",
            name=f"Dr {holder.given_name} {holder.family_name}",
            role=Role.HOLDER,
            organisation_code=cast.holder_organisation,
            person_id=cast.holder_id,
            demo=True,
            now=run.now,
        )
        described.append(
            f"{user.display_name} (holder, {holder.grade} {holder.specialty or ''}".rstrip() + ")"
        )
    else:
        described.append("no holder (there are no doctors at this scale)")
    for case, colleague, colleague_id in cast.colleagues:
        user = await web.create_user(
            run.session,
            email=f"dr.{_email_part(colleague.given_name)}.{_email_part(colleague.family_name)}@{DEMO_DOMAIN}",
            name=f"Dr {colleague.given_name} {colleague.family_name}",
            role=Role.HOLDER,
            organisation_code=cast.trust.code,
            person_id=colleague_id,
            demo=True,
            now=run.now,
        )
        described.append(f"{user.display_name} (holder, {CASE_WORDS[case]})")
    for role, name, local in STAFF:
        org = _organisation(cast, role)
        await web.create_user(
            run.session,
            email=f"{local}@{DEMO_DOMAIN}",
            name=name,
            role=role,
            organisation_code=org.code if org else None,
            demo=True,
            now=run.now,
        )
        described.append(f"{name} ({role.value}{', ' + org.code if org else ''})")
    run.lines.append(f"web users: {', '.join(described)}")


async def _passport(run: _Run) -> None:
    from service.passport.demo import seed_passport
    from service.passport.encryption import open_data_keys

    seeded = await seed_passport(
        run.session,
        run.world,
        run.cast,
        seed=run.seed,
        today=run.today,
        now=run.now,
        keys=open_data_keys(run.settings, run.now),
    )
    run.lines += seeded.lines()


async def _additionality(run: _Run) -> None:
    run.lines += await seed_additionality(run.session, today=run.today, now=run.now, seed=run.seed)


async def _benchmark(run: _Run) -> None:
    from service.benchmark.demo import seed_benchmark

    run.lines += await seed_benchmark(run.session, run.world, run.now, seed=run.seed, today=run.today)


async def _placements(run: _Run) -> None:
    from service.placements.demo import seed_placements

    run.lines += await seed_placements(run.session, run.world, run.cast, seed=run.seed, now=run.now)


async def _credentials(run: _Run) -> None:
    from service.credentials.demo import colleague_wallet_dir, seed_credentials

    holder = run.cast.holder_id if run.cast.holder is not None else None
    run.lines += await seed_credentials(run.session, run.settings, holder, now=run.now)
    if holder is None:
        return
    for case, colleague, colleague_id in run.cast.colleagues:
        run.lines += await seed_credentials(
            run.session,
            run.settings,
            colleague_id,
            now=run.now,
            folder=colleague_wallet_dir(run.settings, colleague.gmc_number or colleague.key),
            who=f"Dr {colleague.given_name} {colleague.family_name} ({CASE_WORDS[case]})",
            suspended_by=run.cast.trust.code if case == "suspended" else None,
        )


STEPS: Final[tuple[tuple[str, Step], ...]] = (
    ("workforce", _workforce),
    ("clients", _clients),
    ("users", _users),
    ("passport", _passport),
    ("additionality", _additionality),
    ("benchmark", _benchmark),
    ("placements", _placements),
    ("credentials", _credentials),
)
"""Domain steps in order. A later issue appends its own (e.g. ``("placements", ...)``) calling its
domain's ``demo.py``; existing demo databases get it on their next ``passport demo seed``."""


# ---------------------------------------------------------------- files


def clients_file(settings: Settings) -> Path:
    return settings.var_dir / CLIENTS_FILE


def _write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a file only its owner can read (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    partial.replace(path)


def _file_problem(path: Path, demo_clients: list[auth.ApiClient]) -> str | None:
    """Why ``path`` does not hold the secrets of ``demo_clients``; None when it lists them all."""
    try:
        listed = msgspec.json.decode(path.read_bytes())
        ids = {entry["client_id"] for entry in listed["clients"].values()}
    except FileNotFoundError:
        return "is missing"
    except (OSError, msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return "cannot be read"
    if not {c.client_id for c in demo_clients} <= ids:
        return "does not list this database's demo clients (it may belong to another database)"
    return None


# ---------------------------------------------------------------- recording


def _subject(step: str, scale: float, seed: int, today: dt.date) -> str:
    return f"demo:{step} scale={scale!r} seed={seed} today={today.isoformat()}"


async def _recorded(session: AsyncSession) -> dict[str, Params]:
    """The steps already done, from their audit events (the first record of each step)."""
    rows = await session.execute(
        select(audit.AuditEvent.subject, audit.AuditEvent.at)
        .where(audit.AuditEvent.action == ACTION)
        .order_by(audit.AuditEvent.id)
    )
    done: dict[str, Params] = {}
    for subject, at in rows:
        found = _SUBJECT.fullmatch(subject)
        if found is None:
            continue
        params = Params(float(found["scale"]), int(found["seed"]), dt.date.fromisoformat(found["today"]), at)
        done.setdefault(found["step"], params)
    return done


async def _record(session: AsyncSession, run: _Run, step: str) -> None:
    entry = audit.Entry(
        at=run.now,
        actor=ACTOR,
        organisation=None,
        action=ACTION,
        subject=_subject(step, run.scale, run.seed, run.today),
        request_id=None,
        outcome="success",
    )
    await audit.append(session, entry)


# ---------------------------------------------------------------- entry point


def _check(scale: float, seed: int) -> float:
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise InvalidInput(f"--scale must be more than 0 and at most {MAX_SCALE:g}, not {scale!r}")
    if not -(2**63) <= seed < 2**63:
        raise InvalidInput(f"--seed must fit in 64 bits, not {seed}")
    return float(scale)


async def _pointers(session: AsyncSession, settings: Settings) -> list[str]:
    """Where the client credentials are (or how to replace them) and where to sign in."""
    path = clients_file(settings)
    demo_clients = [c for c in await auth.list_clients(session) if c.client_id.startswith("demo-")]
    file_problem = _file_problem(path, demo_clients)
    lines = []
    if file_problem is None:
        lines.append(f"Demo API client credentials: {path} (keep it private; curl examples inside)")
    else:
        lines.append(
            f"Demo API client credentials: {path} {file_problem}. Secrets are stored only as hashes and "
            "cannot be shown again; create a new client (its secret is printed once) with:"
        )
        for client in demo_clients:
            organisation = f" --organisation {client.organisation_code}" if client.organisation_code else ""
            lines.append(
                f'  passport clients create --name "{client.name}" --role {client.role}{organisation}'
            )
    demo_mode = "" if settings.demo_mode else " (the demo sign-in needs PASSPORT_DEMO_MODE=true)"
    lines.append(f"Demo sign-in: {settings.issuer}/signin{demo_mode}")
    return lines


def _number(value: float) -> str:
    """``1`` rather than ``1.0``, but never rounded."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _describe(params: Params) -> str:
    return f"scale {_number(params.scale)}, seed {params.seed}, seeded {params.at:%Y-%m-%d %H:%M} UTC"


async def seed(
    session: AsyncSession, *, settings: Settings, scale: float, seed: int, now: dt.datetime
) -> str:
    """Seed the demo data once; a second call changes nothing. Returns a human summary."""
    scale = _check(scale, seed)
    done = await _recorded(session)
    other = next((p for p in done.values() if (p.scale, p.seed) != (scale, seed)), None)
    todo = [(name, step) for name, step in STEPS if name not in done]
    if other is not None:
        head = (
            f"Nothing changed: demo data already present with other parameters ({_describe(other)}); you "
            f"asked for scale {_number(scale)}, seed {seed}, and two demos are never mixed. To seed those, "
            "point PASSPORT_DATABASE_URL at a fresh database, migrate it and seed again."
        )
        return "\n".join([head, *await _pointers(session, settings)])
    if not todo:
        head = f"Nothing to do: demo data already present ({_describe(done['workforce'])})."
        return "\n".join([head, *await _pointers(session, settings)])
    today = done["workforce"].today if "workforce" in done else now.date()
    run = _Run(session=session, settings=settings, scale=scale, seed=seed, today=today, now=now)
    for name, step in todo:
        await step(run)
        await _record(session, run, name)
    names = ", ".join(name for name, _ in todo)
    head = f"Demo data seeded (scale {_number(scale)}, seed {seed}; steps: {names}):"
    body = [f"  {line}" for line in run.lines]
    return "\n".join([head, *body, *await _pointers(session, settings)])
