"""Demo data of the benchmark domain: providers' learner submissions for every independent site.

Deterministic: the figures come from a hash of the seed, the site and the year, so the same demo gives
the same submissions. Two financial years (the current one and the one before), so a benchmark of the
current year shows a change from the year before.
"""

import datetime as dt
import hashlib
import uuid
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from service.benchmark import repository
from service.benchmark.canonical import fy_label, fy_of
from service.workforce.synthetic import SynthWorld

SUBMITTER: Final = "passport demo seed"
STREAMS: Final = (
    ("nursing", "student_placement", 18),
    ("allied_health", "apprenticeship", 8),
    ("other", "other", 5),
)
"""(staff group, route, most learners a site reports)."""


def _draw(seed: int, *parts: object) -> int:
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def submissions(world: SynthWorld, *, seed: int, today: dt.date) -> list[dict[str, Any]]:
    rows = []
    latest = fy_of(today)
    for site in sorted(
        (o for o in world.organisations if o.kind == "independent_site"), key=lambda o: o.code
    ):
        provider = site.provider_code or site.parent_code
        if provider is None:
            continue
        for year in (latest - 1, latest):
            for group, route, most in STREAMS:
                learners = _draw(seed, site.code, year, group) % (most + 1)
                placements = learners + (_draw(seed, site.code, year, group, "p") % 3 if learners else 0)
                weeks = round(placements * (2 + _draw(seed, site.code, year, group, "w") % 100 / 10), 1)
                rows.append(
                    {
                        "id": uuid.UUID(
                            int=_draw(seed, site.code, year, group, "id") << 64
                            | _draw(seed, "id", site.code, year, group)
                        ),
                        "provider_code": provider,
                        "site_code": site.code,
                        "financial_year": year,
                        "staff_group": group,
                        "route": route,
                        "learners": learners,
                        "placements": placements,
                        "placement_weeks": weeks,
                    }
                )
    return rows


async def seed_benchmark(
    session: AsyncSession, world: SynthWorld, now: dt.datetime, *, seed: int, today: dt.date
) -> list[str]:
    rows = submissions(world, seed=seed, today=today)
    stamped = [{**row, "submitted_by": SUBMITTER, "submitted_at": now} for row in rows]
    keys = [(r["site_code"], r["financial_year"], r["staff_group"], r["route"]) for r in rows]
    await repository.replace_learners(session, keys, stamped)
    years = sorted({r["financial_year"] for r in rows})
    span = f"{fy_label(years[0])} and {fy_label(years[-1])}" if years else "no year"
    return [f"benchmark: {len(rows)} learner submissions from independent sites for {span}"]
