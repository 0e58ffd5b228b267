"""Signing in to web pages, through the app: OpenID Connect against a real provider, and the demo page."""

import base64
import html
import socket
import time

import httpx
import pytest
from litestar import Litestar, Router, get
from litestar.response import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.auth import ALL_ROLES, Role, requires
from service.web.pages import WEB_EXCEPTION_HANDLERS
from service.web.service import disable_user
from tests.conftest import BASE_URL, asgi_transport
from tests.web.helpers import (
    at_provider,
    attributes,
    create_person,
    create_user,
    csrf_token,
    has_session,
    hidden_fields,
    now,
    set_cookie,
    sign_in,
    start_sign_in,
    with_query,
)
from tests.web.idp import Account, IdentityProvider

DEMO = pytest.mark.parametrize("settings", [{"demo_mode": True}], indirect=True, ids=["demo"])
NOTHING_CONFIGURED = {"oidc_issuer": None, "oidc_client_id": None, "oidc_client_secret": None}


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- OpenID Connect: success


async def test_first_sign_in_by_verified_email_then_by_bound_subject(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    user = await create_user(session, "asha.patel@trust.example", name="Asha Patel", organisation="RWEB")
    idp.account = Account(sub="idp-user-1", email="Asha.Patel@Trust.example", name="A. Patel")

    response = await sign_in(client, browser, idp.issuer)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    session_header = set_cookie(response, "passport_session")
    assert session_header is not None
    cookie = attributes(session_header)
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == "28800"
    assert "secure" not in cookie, "the test registry is on http"
    state_header = set_cookie(response, "passport_oidc")
    assert state_header is not None
    assert attributes(state_header)["max-age"] == "0", "the state is used once"
    await session.refresh(user)
    assert user.oidc_subject == f"{idp.issuer} idp-user-1"

    home = await client.get("/")
    assert "Asha Patel" in home.text, "the name is the registry's, not the provider's"
    assert "Provider HR (verifier)" in home.text
    assert "Test organisation RWEB (RWEB)" in home.text

    # The second time the bound subject decides, whatever the provider now says about the email.
    client.cookies.clear()
    idp.account = Account(sub="idp-user-1", email="someone.else@elsewhere.example", email_verified=False)
    again = await sign_in(client, browser, idp.issuer)
    assert again.status_code == 303, again.text
    assert "Asha Patel" in (await client.get("/")).text
    assert idp.hits["discovery"] == 1, "the discovery document is cached"
    assert idp.hits["jwks"] == 1, "the provider's keys are cached"


async def test_the_code_exchange_uses_pkce_and_the_registered_redirect(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "pkce@trust.example")
    idp.account = Account(sub="pkce", email="pkce@trust.example")
    authorization = await start_sign_in(client, idp.issuer)
    assert "code_challenge_method=S256" in authorization
    assert "scope=openid+email+profile" in authorization
    response = await client.get(await at_provider(browser, authorization))
    assert response.status_code == 303, response.text
    (form,) = idp.token_requests
    assert form["redirect_uri"] == BASE_URL + "/auth/oidc/callback"
    assert len(form["code_verifier"]) >= 43


async def test_a_rotated_provider_key_is_fetched_again(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "rotate@trust.example")
    idp.account = Account(sub="rotate", email="rotate@trust.example")
    assert (await sign_in(client, browser, idp.issuer)).status_code == 303
    idp.rotate_key()
    client.cookies.clear()
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 303, response.text
    assert idp.hits["jwks"] == 2


# ---------------------------------------------------------------- OpenID Connect: refusals


async def test_a_person_without_an_account_gets_a_friendly_refusal(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    idp.account = Account(sub="stranger", email="stranger@trust.example")
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "ask your administrator" in response.text
    assert set_cookie(response, "passport_session") is None
    assert not has_session(client)


@pytest.mark.parametrize("verified", [False, "true", None], ids=["false", "string-true", "missing"])
async def test_an_unverified_email_is_not_matched(
    verified: object,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    idp: IdentityProvider,
    session: AsyncSession,
) -> None:
    user = await create_user(session, "unverified@trust.example")
    idp.account = Account(sub="unverified", email="unverified@trust.example", email_verified=verified)
    if verified is None:
        idp.claims = {"email_verified": None}
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 403
    assert "not verified your email" in response.text
    assert not has_session(client)
    await session.refresh(user)
    assert user.oidc_subject is None


async def test_a_disabled_user_is_refused(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "gone@trust.example")
    await disable_user(session, "gone@trust.example", now())
    await session.commit()
    idp.account = Account(sub="gone", email="gone@trust.example")
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 403
    assert "disabled" in response.text
    assert not has_session(client)


async def test_an_account_bound_to_another_identity_is_not_taken_over(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "bound@trust.example", name="Bound Person")
    idp.account = Account(sub="original", email="bound@trust.example")
    assert (await sign_in(client, browser, idp.issuer)).status_code == 303
    client.cookies.clear()
    idp.account = Account(sub="impostor", email="bound@trust.example")
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 403
    assert "different identity-provider account" in response.text
    assert not has_session(client)


async def test_a_wrong_state_is_refused_before_the_code_is_used(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "state@trust.example")
    idp.account = Account(sub="state", email="state@trust.example")
    callback = await at_provider(browser, await start_sign_in(client, idp.issuer))
    response = await client.get(with_query(callback, state="forged-state"))
    assert response.status_code == 400
    assert "start again" in response.text
    assert idp.hits["token"] == 0
    assert not has_session(client)


async def test_a_callback_in_another_browser_is_refused(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "csrf-login@trust.example")
    idp.account = Account(sub="attacker", email="csrf-login@trust.example")
    callback = await at_provider(browser, await start_sign_in(client, idp.issuer))
    client.cookies.clear()  # the victim's browser never started this sign-in
    response = await client.get(callback)
    assert response.status_code == 400
    assert idp.hits["token"] == 0
    assert not has_session(client)


async def test_a_callback_cannot_be_replayed(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    await create_user(session, "replay@trust.example")
    idp.account = Account(sub="replay", email="replay@trust.example")
    callback = await at_provider(browser, await start_sign_in(client, idp.issuer))
    assert (await client.get(callback)).status_code == 303
    client.cookies.delete("passport_session")
    replayed = await client.get(callback)
    assert replayed.status_code == 400, "the state cookie was cleared by the first use"
    assert not has_session(client)


async def test_the_provider_refusing_is_shown(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider
) -> None:
    idp.account = Account(sub="x", email="x@trust.example")
    callback = await at_provider(browser, await start_sign_in(client, idp.issuer))
    response = await client.get(with_query(callback, code="", error="access_denied"))
    assert response.status_code == 403
    assert "access_denied" in response.text


ATTACKS = {
    "wrong-nonce": ({"claims": {"nonce": "not-the-nonce-we-sent"}}, "nonce"),
    "signed-by-another-key": ({"signing": "other_key"}, "bad signature"),
    "unknown-kid": ({"signing": "unknown_kid"}, "not in the provider's JWKS"),
    "alg-none": ({"signing": "none"}, "algorithm we do not accept"),
    "hs256-with-public-key": ({"signing": "hs256"}, "algorithm we do not accept"),
    "expired": ({"claims": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}}, "expired"),
    "wrong-audience": ({"claims": {"aud": "another-client"}}, "wrong audience"),
    "wrong-issuer": ({"claims": {"iss": "https://evil.example"}}, "wrong issuer"),
    "issued-long-ago": ({"claims": {"iat": int(time.time()) - 3600}}, "iat"),
    "issued-in-the-future": ({"claims": {"iat": int(time.time()) + 3600}}, "iat"),
    "another-authorized-party": (
        {"claims": {"aud": ["passport-registry", "another-client"], "azp": "another-client"}},
        "azp",
    ),
    "no-nonce": ({"claims": {"nonce": None}}, "no nonce claim"),
}


@pytest.mark.parametrize(("knobs", "reason"), ATTACKS.values(), ids=ATTACKS.keys())
async def test_a_bad_id_token_is_refused(
    knobs: dict[str, object],
    reason: str,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    idp: IdentityProvider,
    session: AsyncSession,
) -> None:
    user = await create_user(session, "target@trust.example")
    idp.account = Account(sub="target", email="target@trust.example")
    for name, value in knobs.items():
        setattr(idp, name, value)
    response = await sign_in(client, browser, idp.issuer)
    assert response.status_code == 403, response.text
    assert reason in html.unescape(response.text)
    assert set_cookie(response, "passport_session") is None
    assert not has_session(client)
    await session.refresh(user)
    assert user.oidc_subject is None


async def test_callbacks_are_audited(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: IdentityProvider, session: AsyncSession
) -> None:
    user = await create_user(session, "audited@trust.example")
    idp.account = Account(sub="nobody", email="nobody@trust.example")
    assert (await sign_in(client, browser, idp.issuer)).status_code == 403
    idp.account = Account(sub="audited", email="audited@trust.example")
    assert (await sign_in(client, browser, idp.issuer)).status_code == 303
    refused, accepted = await _events(session, "GET web_oidc_callback")
    assert (refused.actor, refused.outcome) == ("anonymous", "denied 403")
    assert (accepted.actor, accepted.outcome) == (str(user.id), "success")
    assert accepted.subject == f"user:{user.id}"
    assert accepted.organisation == "RWEB"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "settings", [{"oidc_issuer": f"http://127.0.0.1:{_closed_port()}"}], indirect=True, ids=["unreachable"]
)
async def test_an_unreachable_provider_is_a_friendly_502(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/oidc/login")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "could not be reached" in response.text


@pytest.mark.parametrize("settings", [NOTHING_CONFIGURED], indirect=True, ids=["not-configured"])
async def test_oidc_routes_are_404_pages_when_not_configured(client: httpx.AsyncClient) -> None:
    for path in ("/auth/oidc/login", "/auth/oidc/callback?code=a&state=b"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "not configured" in response.text


# ---------------------------------------------------------------- the sign-in page


async def test_the_sign_in_page_offers_the_provider_and_no_demo_users(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_user(session, "demo.verifier@demo.example", name="Demo Verifier", demo=True)
    page = await client.get("/signin")
    assert page.status_code == 200
    assert 'href="/auth/oidc/login"' in page.text
    assert "Demo Verifier" not in page.text
    assert "Demo only" not in page.text
    assert not [name for name, _ in hidden_fields(page.text) if name == "user_id"]


@pytest.mark.parametrize("settings", [NOTHING_CONFIGURED], indirect=True, ids=["not-configured"])
async def test_the_sign_in_page_says_when_nothing_is_configured(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    assert page.status_code == 200
    assert "not configured" in page.text
    assert "/auth/oidc/login" not in page.text


# ---------------------------------------------------------------- demo sign-in


async def _demo_users(session: AsyncSession) -> dict[str, str]:
    """A demo holder, a demo verifier and a real (non-demo) account: name -> user id (and ``person``)."""
    person = await create_person(session)
    holder = await create_user(
        session,
        "demo.holder@demo.example",
        role=Role.HOLDER,
        name="Demo Doctor",
        demo=True,
        person_id=person.id,
    )
    verifier = await create_user(session, "demo.hr@demo.example", name="Demo HR", demo=True)
    real = await create_user(session, "real.person@trust.example", name="Real Person")
    ids = {"holder": holder.id, "verifier": verifier.id, "real": real.id, "person": person.id}
    return {name: str(value) for name, value in ids.items()}


@DEMO
async def test_demo_sign_in_lists_demo_users_by_role_and_signs_in(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    users = await _demo_users(session)
    person_id = users["person"]
    page = await client.get("/signin")
    assert "Demo only: not available in production" in page.text
    assert page.text.index("Doctor (passport holder)") < page.text.index("Provider HR (verifier)")
    offered = {value for name, value in hidden_fields(page.text) if name == "user_id"}
    assert offered == {users["holder"], users["verifier"]}, "only demo users are offered"

    response = await client.post(
        "/signin/demo", data={"csrf_token": csrf_token(page.text), "user_id": users["holder"]}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    home = await client.get("/")
    assert "Demo Doctor" in home.text
    assert "Doctor (passport holder)" in home.text
    cookie = client.cookies.get("passport_session")
    assert cookie is not None
    claims = app.state.tokens.verify(cookie, typ="session+jwt")
    assert claims["person"] == person_id, "a holder's session carries their person id"
    (event,) = await _events(session, "POST web_demo_sign_in")
    assert (event.actor, event.outcome) == (users["holder"], "success")


@DEMO
async def test_demo_sign_in_refuses_a_real_account(client: httpx.AsyncClient, session: AsyncSession) -> None:
    users = await _demo_users(session)
    page = await client.get("/signin")
    form = {"csrf_token": csrf_token(page.text), "user_id": users["real"]}
    response = await client.post("/signin/demo", data=form)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Only demo accounts" in response.text
    assert not has_session(client)
    (event,) = await _events(session, "POST web_demo_sign_in")
    assert event.outcome == "denied 403"


@DEMO
async def test_signing_in_leads_back_to_the_page_asked_for_and_never_to_another_site(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    users = await _demo_users(session)
    # A doctor scans the provider's browser-wallet QR code on a phone that is not signed in yet.
    wanted = "/wallet/share?client_id=decentralized_identifier%3Adid%3Aweb%3Ax&request_uri=https%3A%2F%2Fx"
    asked = await client.get(wanted, headers={"Accept": "text/html"})
    assert (asked.status_code, asked.headers["location"]) == (303, "/signin")
    page = await client.get("/signin")
    form = {"csrf_token": csrf_token(page.text), "user_id": users["holder"]}
    signed = await client.post("/signin/demo", data=form)
    assert (signed.status_code, signed.headers["location"]) == (303, wanted)
    assert "passport_return" not in client.cookies, "remembered once"

    # Nothing remembered (or a remembered address of another site): home.
    elsewhere = ("//evil.example/", "https://evil.example/", "/\\evil.example", "/signin")
    for planted in (None, "not base64!", *(base64.urlsafe_b64encode(p.encode()).decode() for p in elsewhere)):
        client.cookies.clear()
        if planted is not None:
            client.cookies.set("passport_return", planted)
        page = await client.get("/signin")
        form = {"csrf_token": csrf_token(page.text), "user_id": users["verifier"]}
        signed = await client.post("/signin/demo", data=form)
        assert (signed.status_code, signed.headers["location"]) == (303, "/"), planted


async def test_demo_sign_in_is_refused_outside_demo_mode(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    users = await _demo_users(session)
    page = await client.get("/signin")
    assert "user_id" not in page.text
    # No page offers the form outside demo mode; a hand-made post with a valid CSRF token is still refused.
    token = client.cookies["passport_csrf"]
    response = await client.post("/signin/demo", data={"csrf_token": token, "user_id": users["verifier"]})
    assert response.status_code == 404
    assert "only in demo mode" in response.text
    assert not has_session(client)


HTTPS = {"demo_mode": True, "public_base_url": "https://testserver.local"}


@pytest.mark.parametrize("settings", [HTTPS], indirect=True, ids=["https"])
async def test_the_cookies_are_secure_on_https(app: Litestar, session: AsyncSession) -> None:
    users = await _demo_users(session)
    https = httpx.AsyncClient(transport=asgi_transport(app), base_url="https://testserver.local")
    async with https as client:
        page = await client.get("/signin")
        csrf_header = set_cookie(page, "passport_csrf")
        assert csrf_header is not None
        assert "secure" in attributes(csrf_header)
        response = await client.post(
            "/signin/demo", data={"csrf_token": csrf_token(page.text), "user_id": users["verifier"]}
        )
    assert response.status_code == 303, response.text
    header = set_cookie(response, "passport_session")
    assert header is not None
    assert {"secure", "httponly"} <= attributes(header).keys()


# ---------------------------------------------------------------- CSRF and sign-out


@DEMO
@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("forged-token-forged-token-forged-token-aaaaa", {}),
        ("from-page", {"Origin": "https://evil.example"}),
        ("from-page", {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["no-token", "wrong-token", "foreign-origin", "cross-site-fetch"],
)
async def test_a_forged_form_post_is_refused(
    token: str | None, headers: dict[str, str], client: httpx.AsyncClient, session: AsyncSession
) -> None:
    users = await _demo_users(session)
    page = await client.get("/signin")
    form = {"user_id": users["verifier"]}
    if token is not None:
        form["csrf_token"] = csrf_token(page.text) if token == "from-page" else token
    response = await client.post("/signin/demo", data=form, headers=headers)
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert not has_session(client)


@DEMO
async def test_sign_out_clears_the_session(client: httpx.AsyncClient, session: AsyncSession) -> None:
    users = await _demo_users(session)
    page = await client.get("/signin")
    token = csrf_token(page.text)
    await client.post("/signin/demo", data={"csrf_token": token, "user_id": users["verifier"]})
    home = await client.get("/")
    assert "Signed in as" in home.text

    refused = await client.post("/signout", data={})
    assert refused.status_code == 403, "sign-out is a form post like any other"
    assert has_session(client)

    response = await client.post("/signout", data={"csrf_token": csrf_token(home.text)})
    assert response.status_code == 303
    header = set_cookie(response, "passport_session")
    assert header is not None
    assert attributes(header)["max-age"] == "0"
    assert not has_session(client)
    after = await client.get("/")
    assert "Signed in as" not in after.text
    assert 'href="/signin"' in after.text
    refusal, success = await _events(session, "POST web_sign_out")
    assert refusal.outcome == "denied 403"
    assert (success.actor, success.outcome) == (users["verifier"], "success")


# ---------------------------------------------------------------- pages


async def test_the_landing_page_is_accessible_and_locked_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="en-GB">' in response.text
    assert 'href="/schema"' in response.text
    assert 'href="/signin"' in response.text
    assert "<script" not in response.text
    assert "https://" not in response.text.split("</head>")[0], "no external CDN"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    css = await client.get("/static/web/web.css")
    assert css.status_code == 200
    assert ":focus-visible" in css.text


async def test_errors_are_pages_on_the_web_and_problems_on_the_api(client: httpx.AsyncClient) -> None:
    page = await client.post("/signout", data={})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


@get("/private", opt={}, guards=[requires(*ALL_ROLES)])
async def _private_page() -> Response[str]:
    return Response("private", media_type="text/plain")


@DEMO
async def test_a_guarded_page_sends_a_signed_out_browser_to_sign_in(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # A page of another domain, guarded and placed under a router with the web error handlers.
    router = Router("/web-test", route_handlers=[_private_page], exception_handlers=WEB_EXCEPTION_HANDLERS)
    app.register(router)
    response = await client.get("/web-test/private")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    users = await _demo_users(session)
    page = await client.get("/signin")
    await client.post("/signin/demo", data={"csrf_token": csrf_token(page.text), "user_id": users["holder"]})
    assert (await client.get("/web-test/private")).text == "private"
