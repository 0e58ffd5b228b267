"""Helpers of the page tests: a signed-in browser (session cookie) and its CSRF token."""

import datetime as dt
import re

import httpx
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import SESSION_COOKIE, Role, TokenService
from service.web import service as web
from service.web.views import example_date
from tests.web.helpers import create_person, create_user, csrf_token

_counter = iter(range(1, 1_000_000))


async def sign_in(
    client: httpx.AsyncClient,
    app: Litestar,
    session: AsyncSession,
    role: Role,
    organisation: str | None = "RWEB",
) -> str:
    """Sign ``client`` in as a new user of ``role``; returns the CSRF token of its forms."""
    n = next(_counter)
    person_id = (await create_person(session)).id if role is Role.HOLDER else None
    user = await create_user(
        session,
        f"{role.value}-{n}@pages.example",
        role=role,
        organisation=None if role is Role.ADMIN else organisation,
        name=f"Test {role.value} {n}",
        person_id=person_id,
    )
    tokens: TokenService = app.state.tokens
    client.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
    home = await client.get("/")
    assert home.status_code == 200
    return csrf_token(home.text)


def field_error(html: str, name: str) -> str | None:
    """The message shown next to field ``name``, if any (and the field is marked invalid)."""
    found = re.search(rf'<p class="field-error" id="error-{name}">(?P<m>.*?)</p>', html, re.S)
    if found is None:
        return None
    assert re.search(rf'id="field-{name}"[^>]*aria-invalid="true"', html, re.S), f"{name} not marked invalid"
    return re.sub(r"<[^>]+>", "", found.group("m")).replace("Error:", "").strip()


def date_hints() -> set[str]:
    """What a date field that cannot be read says (an example date months ahead of today), for today and
    for yesterday in UTC: a page answered just before midnight still shows yesterday's example."""
    today = dt.datetime.now(dt.UTC).date()
    days = (today, today - dt.timedelta(days=1))
    return {f"Enter a real date, like {example_date(day).isoformat()}" for day in days}


def notice(html: str) -> str | None:
    found = re.search(r'<div class="notice" role="status">\s*<p>(?P<m>.*?)</p>', html, re.S)
    return found.group("m").strip() if found else None


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)
