"""The built-in browser wallet's pages in-process: only a doctor opens them; the offer route is CSRF-protected
and offers to the signed-in doctor only, with a transaction code that really redeems the offer; "Share with
a provider" explains a real request (organisation, purpose, policy, rules) and gives its script what to
check; a pasted link is read; unknown, expired and malformed requests get a clear page and a 4xx.

What the script does in a browser (WebCrypto keys, OpenID4VCI, the presentation) is tested with Chromium
in ``tests/browser/test_wallet.py``."""

import base64
import datetime as dt
import hashlib
import html
import json
import re
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import SESSION_COOKIE, Principal, Role, TokenService, User
from service.credentials import service as credentials
from service.credentials.models import Credential
from service.keys import KeyRing
from service.oid4vc.models import CredentialOfferRow
from service.passport.encryption import DataKeyRing
from service.verification.models import PresentationRequest
from service.web import service as web
from service.workforce.models import Organisation
from tests.conftest import BASE_URL
from tests.credentials import factories as cf
from tests.passport import factories as pf
from tests.verification.factories import API, Scene, create_scene
from tests.web.helpers import create_user, csrf_token
from tests.web.pages import count, field_error, sign_in

CLIENT_ID = "decentralized_identifier:did:web:testserver.local"
ADMIN = Principal(subject="admin-test", kind="client", role=Role.ADMIN, organisation=None)


def _data(page: str) -> dict[str, Any]:
    """What the page hands its script (the ``data-wallet`` attribute)."""
    found = re.search(r'data-wallet="([^"]*)"', page)
    assert found is not None, "the page carries the script's data"
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def _as_doctor(client: httpx.AsyncClient, app: Litestar, session: AsyncSession, scene: Scene) -> str:
    """Sign the scene's doctor in on the pages (session cookie); the CSRF token of their forms."""
    user = (await session.scalars(select(User).where(User.person_id == scene.doctor.id))).one()
    tokens: TokenService = app.state.tokens
    client.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
    home = await client.get("/wallet")
    assert home.status_code == 200, home.text
    return csrf_token(home.text)


@pytest.fixture
async def scene(session: AsyncSession, app: Litestar, keyring: KeyRing, data_keys: DataKeyRing) -> Scene:
    return await create_scene(session, app, keyring, data_keys)


async def _request(client: httpx.AsyncClient, scene: Scene, **extra: Any) -> dict[str, Any]:
    body = {"policy": "theatre-surgical-trainee", "purpose": "Theatre list starting Monday", **extra}
    created = await client.post(f"{API}/presentation-requests", json=body, headers=scene.verifier)
    assert created.status_code == 201, created.text
    links = await client.get(
        f"{API}/presentation-requests/{created.json()['id']}/openid4vp", headers=scene.verifier
    )
    assert links.status_code == 200, links.text
    found: dict[str, Any] = links.json()
    return found


def _share(client_id: str, request_uri: str) -> str:
    return "/wallet/share?" + urlencode({"client_id": client_id, "request_uri": request_uri})


# ---------------------------------------------------------------- the wallet page and its offer route


async def test_only_a_doctor_opens_the_wallet_and_it_loads_its_script_under_a_strict_policy(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for role in (Role.ISSUER, Role.VERIFIER, Role.ADMIN):
        client.cookies.clear()
        csrf = await sign_in(client, app, session, role)
        for method, path in (("GET", "/wallet"), ("GET", "/wallet/share"), ("POST", "/wallet/offer")):
            response = await client.request(method, path, data={"csrf_token": csrf})
            assert response.status_code == 403, (role, path)
    assert await count(session, CredentialOfferRow) == 0
    client.cookies.clear()
    await sign_in(client, app, session, Role.HOLDER)
    page = await client.get("/wallet")
    assert page.status_code == 200
    assert '<script src="/static/web/wallet.js" defer></script>' in page.text
    assert "<script>" not in page.text, "no inline script"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'; connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "This wallet needs JavaScript" in _text(page.text)
    assert _text(page.text).count("Credentials in this browser") == 1, "one heading, no repeated caption"
    assert '<div class="wallet-status" id="wallet-status"' in page.text or 'aria-live="polite"' in page.text
    script = await client.get("/static/web/wallet.js")
    assert script.status_code == 200
    assert "generateKey(ECDSA, false" in script.text, "holder keys are made not extractable"
    others = await client.get("/records")
    assert "script-src" not in others.headers["content-security-policy"], "only the wallet pages run a script"


async def test_the_offer_route_needs_the_csrf_token_and_offers_to_the_doctor_only(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await _as_doctor(client, app, session, scene)
    for data, headers in (
        ({}, {}),
        ({"csrf_token": "x" * 43}, {}),
        ({"csrf_token": csrf}, {"Origin": "https://evil.example"}),
        ({"csrf_token": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        refused = await client.post("/wallet/offer", data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "csrf_failed"
    assert await count(session, CredentialOfferRow) == 0, "nothing is offered without the token"

    made = await client.post("/wallet/offer", data={"csrf_token": csrf}, headers={"Origin": BASE_URL})
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    assert set(body) == {"credential_offer_uri", "tx_code", "expires_at", "credential_configuration_ids"}
    assert body["credential_configuration_ids"] == [
        "core_skills",
        "occupational_health",
        "training_placement",
        "identity_link",
    ]
    row = (await session.scalars(select(CredentialOfferRow))).one()
    assert row.person_id == scene.doctor.id, "a doctor's offer is always for themselves"
    # The code is the offer's own: the pre-authorized code flow goes through with it, as the script runs it.
    offer = await client.get(body["credential_offer_uri"].removeprefix(BASE_URL))
    assert offer.status_code == 200
    grant = offer.json()["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": grant["pre-authorized_code"],
            "tx_code": body["tx_code"],
        },
    )
    assert token.status_code == 200, token.text


async def test_a_signed_out_browser_gets_a_problem_saying_to_sign_in(client: httpx.AsyncClient) -> None:
    refused = await client.post("/wallet/offer", data={"csrf_token": "x" * 43})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "You are signed out: sign in again, then add your credentials."


# ---------------------------------------------------------------- share with a provider


async def test_the_share_page_shows_who_asks_why_and_each_rule_and_hands_the_script_its_checks(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    start = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    links = await _request(client, scene, evaluate_on=start.isoformat())
    await _as_doctor(client, app, session, scene)
    page = await client.get("/wallet/share?" + links["deep_link"].split("?", 1)[1])
    assert page.status_code == 200, page.text
    site = await session.get(Organisation, scene.tree.site)
    assert site is not None
    text = _text(page.text)
    assert f"Share with {site.name}" in text
    # The words and date format of provider HR's page for the same request ("Judged on", YYYY-MM-DD).
    answer_by = dt.datetime.fromisoformat(links["expires_at"]).strftime("%Y-%m-%d %H:%M")
    assert f"Judged on {start.isoformat()} Answer by {answer_by} UTC" in text
    assert "Checked on" not in text
    assert "Theatre list starting Monday" in text
    assert "Independent sector theatre list, surgical trainee (version 1)" in text
    assert "In date on the day: Fire safety, Resuscitation (level 2 or above)" in text
    assert "Core skills training, the Fire safety record: subject, level, date to" in text
    assert "Occupational health clearance, the Hepatitis B immunity record: item, outcome" in text
    assert "Identity link with GMC number Identity link: GMC number" in text
    assert "Sharing from this browser's wallet needs JavaScript" in text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    data = _data(page.text)
    request_id = links["request_id"]
    assert data["client_id"] == CLIENT_ID == links["client_id"]
    assert data["request_uri"] == f"{BASE_URL}/oid4vp/requests/{request_id}"
    assert data["response_uri"] == f"{BASE_URL}/oid4vp/responses/{request_id}"
    stored = await session.get(PresentationRequest, uuid.UUID(request_id))
    assert stored is not None
    assert data["nonce"] == stored.nonce
    labels = {need["label"] for need in data["needs"]}
    assert {"Fire safety in date", "Resuscitation in date"} <= labels
    fire = [n for n in data["needs"] if n["label"] == "Fire safety in date"]
    assert {tuple(n["path"]) for n in fire} == {
        ("core_skills", None, "subject"),
        ("core_skills", None, "level"),
        ("core_skills", None, "date_to"),
    }
    assert all(n["where"] == {"subject": "fire_safety"} for n in fire)


async def test_a_pasted_link_of_either_form_opens_the_request(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    links = await _request(client, scene)
    await _as_doctor(client, app, session, scene)
    form = await client.get("/wallet/share")
    assert form.status_code == 200
    assert 'name="link"' in form.text
    expected = "/wallet/share?" + urlencode(
        {"client_id": links["client_id"], "request_uri": links["request_uri"]}
    )
    for pasted in (links["deep_link"], BASE_URL + "/wallet/share?" + links["deep_link"].split("?", 1)[1]):
        opened = await client.get("/wallet/share", params={"link": pasted})
        assert opened.status_code == 303, opened.text
        assert opened.headers["location"] == expected
    refused = await client.get("/wallet/share", params={"link": "https://example.org/?q=1"})
    assert refused.status_code == 400
    assert html.unescape(field_error(refused.text, "link") or "") == (
        "Is not a provider's request link: it has no client_id and request_uri (or has them twice)"
    )
    assert "<title>Error: Share with a provider" in refused.text


MALFORMED: list[tuple[str, str | None, str, str]] = [
    (CLIENT_ID, "https://evil.example/oid4vp/requests/{id}", "request_uri", "Is on another site"),
    (CLIENT_ID, "not a url", "request_uri", "Is not a web address"),
    (CLIENT_ID, BASE_URL + "/api/v1/people", "request_uri", "Is not the address of a presentation"),
    (CLIENT_ID, BASE_URL + "/oid4vp/requests/{id}/x", "request_uri", "Is not the address of a presentation"),
    (
        "decentralized_identifier:did:web:evil.example",
        BASE_URL + "/oid4vp/requests/{id}",
        "client_id",
        "Is not this registry",
    ),
    (CLIENT_ID, None, "request_uri", "Is missing from the link"),
]
"""A provider link's parameters that are not this registry's request: (client_id, request_uri, the
parameter named, the start of the reason shown)."""


async def test_a_malformed_link_gets_a_clear_page_and_a_4xx(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    links = await _request(client, scene)
    await _as_doctor(client, app, session, scene)
    for client_id, request_uri, field, reason in MALFORMED:
        params = {"client_id": client_id}
        if request_uri is not None:
            params["request_uri"] = request_uri.replace("{id}", links["request_id"])
        page = await client.get("/wallet/share", params=params)
        assert page.status_code == 400, (params, page.text)
        message = html.unescape(field_error(page.text, "link") or "")
        assert message.startswith(f"{field}: {reason}"), (params, message)
        assert "data-wallet" not in page.text, "nothing is handed to the script"


async def test_an_unknown_another_doctors_or_expired_request_gets_a_clear_page(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    await _as_doctor(client, app, session, scene)
    unknown = await client.get(_share(CLIENT_ID, f"{BASE_URL}/oid4vp/requests/{uuid.uuid4()}"))
    assert unknown.status_code == 404
    assert "There is no such request" in unknown.text
    assert "data-wallet" not in unknown.text

    others = await _request(client, scene, subject_hint=scene.other.gmc_number)
    hidden = await client.get(_share(others["client_id"], others["request_uri"]))
    assert hidden.status_code == 404, "a request naming another doctor is not shown"

    links = await _request(client, scene)
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(links["request_id"]))
        .values(expires_at=(gone := dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    )
    await session.commit()
    expired = await client.get(_share(links["client_id"], links["request_uri"]))
    assert expired.status_code == 410
    assert "This request has expired" in expired.text
    assert "ask them for a new link" in _text(expired.text)
    assert f"expired on {gone:%Y-%m-%d} at {gone:%H:%M} UTC" in _text(expired.text)


async def test_the_share_link_query_is_read_exactly_as_the_provider_page_builds_it(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    links = await _request(client, scene)
    await _as_doctor(client, app, session, scene)
    query = (
        f"client_id={quote(links['client_id'], safe='')}&request_uri={quote(links['request_uri'], safe='')}"
    )
    assert links["deep_link"] == "openid4vp://?" + query
    page = await client.get("/wallet/share?" + query)
    assert page.status_code == 200


def _rfc7638(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint computed as the wallet's script does (members in order, no spaces)."""
    members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()


async def test_the_wallet_learns_when_its_copies_were_revoked_or_suspended_and_nothing_else(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    later = now + dt.timedelta(days=1)
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, now)
    await cf.submit(session, data_keys, [pf.core_skill(world.other)], world.tree.trust, now)
    issuer = cf.issuer_of(app)
    first = await cf.add_holder_key(session, world.doctor.id, cf.new_key(), now)
    theirs = await cf.add_holder_key(session, world.other.id, cf.new_key(), now)
    await credentials.issue(
        session, issuer, [(world.doctor.id, "core_skills"), (world.other.id, "core_skills")], now=now
    )
    second = await cf.add_holder_key(session, world.doctor.id, cf.new_key(), now + dt.timedelta(seconds=1))
    await credentials.issue(session, issuer, [(world.doctor.id, "identity_link")], now=now)
    rows = (await session.scalars(select(Credential))).all()
    mine = {row.kind: row for row in rows if row.person_id == world.doctor.id}
    other = next(row for row in rows if row.person_id == world.other.id)
    await credentials.change_state(
        session, issuer, ADMIN, mine["core_skills"].id, "revoke", "a reason", now=later
    )
    await credentials.change_state(
        session, issuer, ADMIN, mine["identity_link"].id, "suspend", "fitness for work", now=later
    )
    await credentials.change_state(session, issuer, ADMIN, other.id, "revoke", "their reason", now=later)
    await session.commit()

    user = await create_user(
        session, "dr@doctor.example", role=Role.HOLDER, name="Dr", person_id=world.doctor.id
    )
    tokens: TokenService = app.state.tokens
    client.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
    page = await client.get("/wallet")
    assert _data(page.text)["changes_url"] == "/wallet/changes"

    answer = await client.get("/wallet/changes")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    items = {item["thumbprint"]: item for item in answer.json()["items"]}
    day = later.date().isoformat()  # as every page writes a day
    assert items == {
        first.thumbprint: {
            "thumbprint": first.thumbprint,
            "state": "revoked",
            "changed_on": day,
            "superseded": False,
        },
        second.thumbprint: {
            "thumbprint": second.thumbprint,
            "state": "suspended",
            "changed_on": day,
            "superseded": False,
        },
    }, "my withdrawn credentials by key, with the day; another doctor's are not there"
    assert theirs.thumbprint not in items
    assert first.thumbprint == _rfc7638(first.jwk), "the script can find its copy by its own key"
    assert "reason" not in answer.text, "never the reason"
    assert "fitness" not in answer.text, "never the reason"

    client.cookies.clear()
    assert (await client.get("/wallet/changes")).headers["location"] == "/signin"
