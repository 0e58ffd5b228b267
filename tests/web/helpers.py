"""Small helpers of the web tests: accounts, forms, cookies, the sign-in round trip."""

import datetime as dt
import re
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import SESSION_COOKIE, Role, User
from service.web import service as web
from service.workforce.models import Organisation, Person
from tests.conftest import BASE_URL
from tests.factories import create_organisation


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def create_person(session: AsyncSession) -> Person:
    person = Person(
        given_name="Asha",
        family_name="Patel",
        gmc_number=None,
        staff_group="medical",
        grade="ST3",
        specialty="general surgery",
        created_at=now(),
    )
    session.add(person)
    await session.flush()
    return person


async def create_user(
    session: AsyncSession,
    email: str,
    *,
    role: Role = Role.VERIFIER,
    organisation: str | None = "RWEB",
    name: str = "Sam Verifier",
    demo: bool = False,
    person_id: uuid.UUID | None = None,
) -> User:
    """A provisioned user (its organisation is created when missing), committed for the app to see."""
    if organisation is not None and await session.get(Organisation, organisation) is None:
        await create_organisation(session, organisation)
    user = await web.create_user(
        session,
        email=email,
        name=name,
        role=role,
        organisation_code=organisation,
        person_id=person_id,
        demo=demo,
        now=now(),
    )
    await session.commit()
    return user


_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)">')


def hidden_fields(html: str) -> list[tuple[str, str]]:
    return [(m.group("name"), m.group("value")) for m in _HIDDEN.finditer(html)]


def csrf_token(html: str) -> str:
    tokens = {value for name, value in hidden_fields(html) if name == "csrf_token"}
    assert len(tokens) == 1, "every form on a page carries the same CSRF token"
    return tokens.pop()


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The raw ``Set-Cookie`` header for cookie ``name``, if the response sets it."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header
    return None


def attributes(header: str) -> dict[str, str]:
    """Lower-cased attributes of a ``Set-Cookie`` header (the name=value pair excluded)."""
    found: dict[str, str] = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        found[key.lower()] = value
    return found


def has_session(client: httpx.AsyncClient) -> bool:
    return any(cookie.name == SESSION_COOKIE and cookie.value for cookie in client.cookies.jar)


async def start_sign_in(client: httpx.AsyncClient, issuer: str) -> str:
    """GET /auth/oidc/login; return the provider's authorization URL it redirects to."""
    response = await client.get("/auth/oidc/login")
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(issuer + "/authorize?")
    return location


async def at_provider(browser: httpx.AsyncClient, authorization_url: str) -> str:
    """The browser at the provider: returns the callback URL the provider sends it back to."""
    response = await browser.get(authorization_url)
    assert response.status_code in (302, 303), response.text
    callback = response.headers["location"]
    assert callback.startswith(BASE_URL + "/auth/oidc/callback?")
    return callback


async def sign_in(client: httpx.AsyncClient, browser: httpx.AsyncClient, issuer: str) -> httpx.Response:
    """The whole round trip; returns the app's answer at the callback."""
    callback = await at_provider(browser, await start_sign_in(client, issuer))
    return await client.get(callback)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()
