"""``passport demo seed``: one entry point for all demo data. Each domain adds its own step here."""

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings


async def seed(
    session: AsyncSession, *, settings: Settings, scale: float, seed: int, now: dt.datetime
) -> str:
    """Seed the demo data once; a second call changes nothing. Returns a human summary."""
    return "nothing to seed yet"
