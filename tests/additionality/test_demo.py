"""The additionality demo step (service/additionality/demo.py) within ``passport demo seed``."""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import demo
from service.additionality import service
from service.additionality.models import Activity, Check, Offer, RosterEntry, ShortageList
from service.config import Settings

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


async def _count(session: AsyncSession, model: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


async def test_the_demo_has_checked_offers_with_different_verdicts(
    session: AsyncSession, settings: Settings
) -> None:
    summary = await demo.seed(session, settings=settings, scale=0.2, seed=0, now=NOW)
    assert "additionality: 8 offers for 2026-27" in summary
    assert await _count(session, Offer) == 8
    assert await _count(session, RosterEntry) > 8
    assert await _count(session, ShortageList) == 1
    assert await _count(session, Activity) > 0
    assert await _count(session, Check) == 8
    found = await service.summary(session, 2026)
    counts = found.totals.verdicts
    assert found.totals.checked == 8
    assert counts.fail > 0
    assert counts.pass_ + counts.warn > 0
    rules_hit = {rule for rule, c in found.totals.rules.items() if c.fail or c.warn}
    assert {"cooling_off", "dual_running", "local_draw", "activity"} <= rules_hit
    again = await demo.seed(session, settings=settings, scale=0.2, seed=0, now=NOW)
    assert again.startswith("Nothing to do")
    assert await _count(session, Offer) == 8
