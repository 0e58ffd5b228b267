"""Access tokens and sessions (service/auth.py TokenService), and how long a revoked caller stays trusted.

Tokens are signed and checked with real keys; every time check uses the injected clock. One test per
attack (RFC 8725): wrong ``typ``, ``alg: none``, HS256 keyed with the public key, unknown ``kid``, a
foreign key behind a known ``kid``, a tampered payload, wrong ``aud`` or ``iss``, missing claims,
expired, issued in the future, a retired key.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar, get
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth, jws
from service.app import create_app
from service.config import Settings
from service.db import Database
from service.errors import Unauthorized
from service.keys import KeyRing, KeyStore
from tests.conftest import BASE_URL, asgi_transport
from tests.factories import TEST_PASSPHRASE, create_client, create_organisation, load_test_key

ISSUER = "https://registry.test"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
CLIENT = auth.Principal(subject="issuer-rrk-1", kind="client", role=auth.Role.ISSUER, organisation="RRK")
USER = auth.Principal(
    subject="6f1c2b6e-0d5c-4c83-9a0e-3f0f3c6a9b10",
    kind="user",
    role=auth.Role.HOLDER,
    organisation=None,
    person_id="p-1",
    name="Dr A",
)


class SteppedClock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def token_service(keyring: KeyRing, clock: SteppedClock, lifetime: int = 300) -> auth.TokenService:
    return auth.TokenService(keyring, issuer=ISSUER, lifetime=lifetime, session_lifetime=3600, clock=clock)


def refusal(tokens: auth.TokenService, token: str, typ: str = auth.TOKEN_TYP) -> str:
    with pytest.raises(Unauthorized) as caught:
        tokens.verify(token, typ=typ)
    assert caught.value.code == "invalid_token"
    return str(caught.value.detail)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(tokens: auth.TokenService, clock: SteppedClock, **changes: Any) -> dict[str, Any]:
    now = int(clock().timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": CLIENT.subject,
        "aud": tokens.audience,
        "iat": now,
        "exp": now + 300,
        "jti": "j-1",
        "roles": ["issuer"],
        "org": "RRK",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def tokens(keyring: KeyRing, clock: SteppedClock) -> auth.TokenService:
    return token_service(keyring, clock)


# ---------------------------------------------------------------- round trips


def test_an_access_token_carries_the_client_and_is_an_es256_at_jwt(
    tokens: auth.TokenService, keyring: KeyRing
) -> None:
    token = tokens.issue_access_token(CLIENT)
    header = jws.unverified_header(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": keyring.signer("token").kid}
    claims = tokens.verify(token, typ=auth.TOKEN_TYP)
    assert (claims["sub"], claims["client_id"], claims["roles"], claims["org"]) == (
        CLIENT.subject,
        CLIENT.subject,
        ["issuer"],
        "RRK",
    )
    assert (claims["iss"], claims["aud"]) == (ISSUER, ISSUER + "/api")
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] == int(T0.timestamp()), "the injected clock, not the machine's"


def test_a_session_carries_the_person(tokens: auth.TokenService) -> None:
    claims = tokens.verify(tokens.issue_session(USER), typ=auth.SESSION_TYP)
    assert (claims["sub"], claims["person"], claims["name"], claims["aud"]) == (
        USER.subject,
        "p-1",
        "Dr A",
        ISSUER + "/web",
    )
    assert claims["exp"] - claims["iat"] == 3600


def test_changing_the_returned_claims_does_not_change_the_next_answer(tokens: auth.TokenService) -> None:
    token = tokens.issue_access_token(CLIENT)
    first = tokens.verify(token, typ=auth.TOKEN_TYP)
    first["roles"].append("admin")
    first["org"] = None
    again = tokens.verify(token, typ=auth.TOKEN_TYP)
    assert (again["roles"], again["org"]) == (["issuer"], "RRK")


@settings(max_examples=40, deadline=None)
@given(
    subject=st.text(min_size=1, max_size=60),
    organisation=st.none() | st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=3, max_size=6),
    position=st.integers(min_value=0),
    replacement=st.sampled_from("AQgw-_0.x"),
)
def test_any_principal_round_trips_and_any_changed_character_is_refused(
    keyring: KeyRing, subject: str, organisation: str | None, position: int, replacement: str
) -> None:
    tokens = token_service(keyring, SteppedClock())
    principal = auth.Principal(
        subject=subject, kind="client", role=auth.Role.ANALYST, organisation=organisation
    )
    token = tokens.issue_access_token(principal)
    claims = tokens.verify(token, typ=auth.TOKEN_TYP)
    assert (claims["sub"], claims["org"], claims["roles"]) == (subject, organisation, ["analyst"])
    index = position % len(token)
    if token[index] == replacement:
        return
    changed = token[:index] + replacement + token[index + 1 :]
    with pytest.raises(Unauthorized):
        tokens.verify(changed, typ=auth.TOKEN_TYP)


# ---------------------------------------------------------------- one test per attack


def test_a_session_never_passes_as_an_access_token_nor_the_reverse(tokens: auth.TokenService) -> None:
    access, session = tokens.issue_access_token(CLIENT), tokens.issue_session(USER)
    # Checked once with the right kind first, so the remembered result must not skip the typ check.
    tokens.verify(access, typ=auth.TOKEN_TYP)
    tokens.verify(session, typ=auth.SESSION_TYP)
    assert refusal(tokens, access, auth.SESSION_TYP) == "The token is not of the expected type."
    assert refusal(tokens, session, auth.TOKEN_TYP) == "The token is not of the expected type."


def test_alg_none_is_refused(tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keyring.signer("token").kid}
    payload = json.dumps(claims_of(tokens, clock)).encode()
    token = f"{b64(json.dumps(header).encode())}.{b64(payload)}."
    assert refusal(tokens, token) == "The token is signed with an unknown key."


def test_hs256_keyed_with_the_public_key_is_refused(
    tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock
) -> None:
    signer = keyring.signer("token")
    public_pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": signer.kid}).encode())
    payload = b64(json.dumps(claims_of(tokens, clock)).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert refusal(tokens, f"{header}.{payload}.{b64(mac)}") == "The token is signed with an unknown key."


def test_an_unknown_kid_is_refused(tokens: auth.TokenService, clock: SteppedClock) -> None:
    stranger = load_test_key("es256-test.pem")
    token = jws.sign(claims_of(tokens, clock), stranger, typ="at+jwt", kid="not-one-of-ours")
    assert refusal(tokens, token) == "The token is signed with an unknown key."


def test_a_foreign_key_behind_our_kid_is_refused(
    tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jws.sign(claims_of(tokens, clock), stranger, typ="at+jwt", kid=keyring.signer("token").kid)
    assert refusal(tokens, token) == "The token is invalid."


def test_a_credential_key_cannot_sign_access_tokens(
    tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock
) -> None:
    credential = keyring.signer("credential", "ES256")
    token = jws.sign(claims_of(tokens, clock), credential.private_key, typ="at+jwt", kid=credential.kid)
    assert refusal(tokens, token) == "The token is signed with an unknown key."


def test_a_tampered_payload_is_refused(tokens: auth.TokenService, clock: SteppedClock) -> None:
    header, _, signature = tokens.issue_access_token(CLIENT).split(".")
    admin = b64(json.dumps(claims_of(tokens, clock, roles=["admin"], org=None)).encode())
    assert refusal(tokens, f"{header}.{admin}.{signature}") == "The token is invalid."


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": ISSUER + "/web"}, id="session-audience"),
        pytest.param({"aud": "https://elsewhere.test/api"}, id="other-audience"),
        pytest.param({"iss": "https://elsewhere.test"}, id="other-issuer"),
        pytest.param({"jti": None}, id="no-jti"),
        pytest.param({"sub": None}, id="no-sub"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": "yesterday"}, id="iat-not-a-number"),
        pytest.param({"exp": True}, id="exp-a-boolean"),
    ],
)
def test_claims_that_do_not_hold_are_refused(
    tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock, changes: dict[str, Any]
) -> None:
    signer = keyring.signer("token")
    token = jws.sign(claims_of(tokens, clock, **changes), signer.private_key, typ="at+jwt", kid=signer.kid)
    refusal(tokens, token)


def test_an_audience_list_naming_the_api_is_accepted(
    tokens: auth.TokenService, keyring: KeyRing, clock: SteppedClock
) -> None:
    signer = keyring.signer("token")
    claims = claims_of(tokens, clock, aud=["https://other.test", tokens.audience])
    token = jws.sign(claims, signer.private_key, typ="at+jwt", kid=signer.kid)
    assert tokens.verify(token, typ=auth.TOKEN_TYP)["aud"] == claims["aud"]


def test_expiry_follows_the_injected_clock_even_for_a_token_checked_before(
    tokens: auth.TokenService, clock: SteppedClock
) -> None:
    token = tokens.issue_access_token(CLIENT)
    tokens.verify(token, typ=auth.TOKEN_TYP)
    clock.advance(300 + auth.LEEWAY - 1)
    tokens.verify(token, typ=auth.TOKEN_TYP)  # within the leeway
    clock.advance(1)
    assert refusal(tokens, token) == "The token has expired."


def test_a_token_issued_in_the_future_is_refused_until_its_time(
    keyring: KeyRing, tokens: auth.TokenService, clock: SteppedClock
) -> None:
    ahead = SteppedClock(T0 + dt.timedelta(seconds=60))
    token = token_service(keyring, ahead).issue_access_token(CLIENT)
    assert refusal(tokens, token) == "The token is not valid yet."
    clock.advance(60 - auth.LEEWAY)
    assert tokens.verify(token, typ=auth.TOKEN_TYP)["sub"] == CLIENT.subject


def test_remembered_tokens_are_bounded_and_all_still_verify(
    tokens: auth.TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "VERIFIED_CACHE_SIZE", 3)
    issued = [tokens.issue_access_token(CLIENT) for _ in range(5)]
    for token in issued + issued:
        assert tokens.verify(token, typ=auth.TOKEN_TYP)["sub"] == CLIENT.subject
    assert len(tokens._checked) == 3


# ---------------------------------------------------------------- retired token keys


@pytest.fixture
def rotation(tmp_path: Path) -> tuple[KeyStore, KeyRing]:
    """Keys made at T0 - 1 h; the ring as a server started at T0 - 1 h holds it (before any rotation)."""
    store = KeyStore(tmp_path / "keys", TEST_PASSPHRASE)
    store.init(T0 - dt.timedelta(hours=1))
    return store, store.load(T0 - dt.timedelta(hours=1))


def test_a_retired_key_verifies_what_it_signed_before_retirement_until_its_window_ends(
    rotation: tuple[KeyStore, KeyRing], clock: SteppedClock
) -> None:
    store, before = rotation
    issued_before = SteppedClock(T0 - dt.timedelta(minutes=1))
    old_token = token_service(before, issued_before, lifetime=3600).issue_access_token(CLIENT)
    store.rotate("token", "ES256", T0, dt.timedelta(minutes=10))  # the old key is published until T0 + 10 min
    ring = store.load(T0)  # loaded once, as a server started at T0 would
    tokens = token_service(ring, clock, lifetime=3600)
    assert tokens.verify(old_token, typ=auth.TOKEN_TYP)["sub"] == CLIENT.subject
    clock.advance(10 * 60 - 1)
    tokens.verify(old_token, typ=auth.TOKEN_TYP)
    clock.advance(1)
    assert refusal(tokens, old_token) == "The token is signed with a key that is no longer accepted."
    assert tokens.verify(tokens.issue_access_token(CLIENT), typ=auth.TOKEN_TYP)["sub"] == CLIENT.subject


def test_a_retired_key_does_not_verify_a_token_issued_after_its_retirement(
    rotation: tuple[KeyStore, KeyRing], clock: SteppedClock
) -> None:
    store, before = rotation
    old = before.signer("token")
    store.rotate("token", "ES256", T0, dt.timedelta(minutes=10))
    tokens = token_service(store.load(T0), clock)
    clock.advance(60)
    later = claims_of(tokens, clock)  # iat one minute after the retirement, signed with the old key
    token = jws.sign(later, old.private_key, typ="at+jwt", kid=old.kid)
    assert refusal(tokens, token) == "The token is signed with a key that is no longer accepted."
    earlier = claims_of(tokens, SteppedClock(T0 - dt.timedelta(seconds=1)))
    tokens.verify(jws.sign(earlier, old.private_key, typ="at+jwt", kid=old.kid), typ=auth.TOKEN_TYP)


# ---------------------------------------------------------------- revoked clients and disabled users


def app_with_whoami(
    settings: Settings, database: Database, keyring: KeyRing, clock: SteppedClock
) -> Litestar:
    @get("/test-only/whoami", guards=[auth.requires(*auth.ALL_ROLES)], sync_to_thread=False)
    def whoami(principal: auth.CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject}

    app = create_app(settings, database=database, keyring=keyring, clock=clock)
    app.register(whoami)
    return app


@pytest.fixture
def real_time_clock() -> SteppedClock:
    return SteppedClock(dt.datetime.now(dt.UTC))


async def whoami(app: Litestar, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as http:
        return await http.get("/test-only/whoami", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def issuer(session: AsyncSession) -> auth.ClientCreated:
    await create_organisation(session, "RRK")
    return await create_client(session, auth.Role.ISSUER, "RRK")


async def revoke(session: AsyncSession, client_id: str) -> None:
    await auth.revoke_client(session, client_id, dt.datetime.now(dt.UTC))
    await session.commit()


def token_for(app: Litestar, client: auth.ClientCreated) -> str:
    principal = auth.Principal(
        subject=client.client_id, kind="client", role=auth.Role.ISSUER, organisation="RRK"
    )
    token: str = app.state.tokens.issue_access_token(principal)
    return token


async def test_a_revoked_client_is_refused_within_the_cache_window(
    settings: Settings,
    database: Database,
    keyring: KeyRing,
    session: AsyncSession,
    issuer: auth.ClientCreated,
    real_time_clock: SteppedClock,
) -> None:
    assert settings.auth_cache_seconds == 5
    app = app_with_whoami(settings, database, keyring, real_time_clock)
    token = token_for(app, issuer)
    assert (await whoami(app, token)).status_code == 200
    await revoke(session, issuer.client_id)
    real_time_clock.advance(4.9)
    assert (await whoami(app, token)).status_code == 200, "trusted for up to 5 s after the last check"
    real_time_clock.advance(0.1)
    refused = await whoami(app, token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"] == "The client has been revoked."
    real_time_clock.advance(60)
    assert (await whoami(app, token)).status_code == 401, "a refusal is remembered, then checked again"


async def test_with_no_cache_window_a_revoked_client_is_refused_at_once(
    settings: Settings,
    database: Database,
    keyring: KeyRing,
    session: AsyncSession,
    issuer: auth.ClientCreated,
    real_time_clock: SteppedClock,
) -> None:
    app = app_with_whoami(
        msgspec.structs.replace(settings, auth_cache_seconds=0), database, keyring, real_time_clock
    )
    token = token_for(app, issuer)
    assert (await whoami(app, token)).status_code == 200
    await revoke(session, issuer.client_id)
    assert (await whoami(app, token)).status_code == 401


async def test_a_token_claiming_another_role_than_the_client_has_is_refused(
    settings: Settings,
    database: Database,
    keyring: KeyRing,
    issuer: auth.ClientCreated,
    real_time_clock: SteppedClock,
) -> None:
    app = app_with_whoami(settings, database, keyring, real_time_clock)
    assert (await whoami(app, token_for(app, issuer))).status_code == 200
    principal = auth.Principal(
        subject=issuer.client_id, kind="client", role=auth.Role.ADMIN, organisation=None
    )
    admin_token = app.state.tokens.issue_access_token(principal)
    assert (await whoami(app, admin_token)).status_code == 401, "the cached answer is per role"


def test_the_status_cache_forgets_a_subject_and_ignores_a_clock_that_went_back() -> None:
    clock = SteppedClock()
    cache = auth.StatusCache(5, clock)
    cache.put(CLIENT, True)
    cache.put(USER, False)
    assert (cache.get(CLIENT), cache.get(USER)) == (True, False)
    cache.forget(CLIENT.subject)
    assert (cache.get(CLIENT), cache.get(USER)) == (None, False)
    clock.advance(-1)
    assert cache.get(USER) is None, "an answer from the future is not trusted"
    off = auth.StatusCache(0, clock)
    off.put(CLIENT, True)
    assert off.get(CLIENT) is None


# ---------------------------------------------------------------- one status look-up per caller at a time


async def test_requests_in_flight_when_the_window_ends_make_one_look_up(
    settings: Settings,
    database: Database,
    keyring: KeyRing,
    session: AsyncSession,
    issuer: auth.ClientCreated,
    real_time_clock: SteppedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = app_with_whoami(settings, database, keyring, real_time_clock)
    token = token_for(app, issuer)
    assert (await whoami(app, token)).status_code == 200
    looked_up: list[str] = []
    real_still_allowed = auth._still_allowed

    async def counting(session: AsyncSession, principal: auth.Principal) -> bool:
        looked_up.append(principal.subject)
        return await real_still_allowed(session, principal)

    monkeypatch.setattr(auth, "_still_allowed", counting)
    real_time_clock.advance(5)
    answers = await asyncio.gather(*(whoami(app, token) for _ in range(16)))
    assert [answer.status_code for answer in answers] == [200] * 16
    assert looked_up == [issuer.client_id], "one look-up for the 16 requests"

    await revoke(session, issuer.client_id)
    real_time_clock.advance(5)
    refused = await asyncio.gather(*(whoami(app, token) for _ in range(16)))
    assert [answer.status_code for answer in refused] == [401] * 16, "revoked: refused 5 s after the check"
    assert looked_up == [issuer.client_id] * 2


async def settle() -> None:
    """Let every task ready to run take its turn (a few passes of the event loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_waiting_request_shares_the_look_up_its_error_and_not_its_cancellation() -> None:
    clock = SteppedClock()
    cache = auth.StatusCache(5, clock)
    release = asyncio.Event()
    calls: list[int] = []

    async def look_up() -> bool:
        calls.append(1)
        await release.wait()
        return True

    first = asyncio.ensure_future(cache.refresh(CLIENT, look_up))
    waiting = [asyncio.ensure_future(cache.refresh(CLIENT, look_up)) for _ in range(3)]
    await asyncio.sleep(0)
    first.cancel()  # the request that started it goes away: the others still get the answer
    release.set()
    assert await asyncio.gather(*waiting) == [True, True, True]
    assert len(calls) == 1
    assert cache.get(CLIENT) is True

    async def failing() -> bool:
        calls.append(1)
        await asyncio.sleep(0)
        raise OSError("database unavailable")

    clock.advance(5)
    results = await asyncio.gather(
        *(cache.refresh(CLIENT, failing) for _ in range(3)), return_exceptions=True
    )
    assert [type(result) for result in results] == [OSError] * 3
    assert len(calls) == 2
    assert cache.get(CLIENT) is None, "a failed look-up is not remembered"


async def test_a_look_up_older_than_the_window_is_not_joined_and_a_forgotten_one_not_remembered() -> None:
    clock = SteppedClock()
    cache = auth.StatusCache(5, clock)
    releases: list[asyncio.Event] = []

    async def look_up() -> bool:
        releases.append(event := asyncio.Event())
        await event.wait()
        return True

    slow = asyncio.ensure_future(cache.refresh(CLIENT, look_up))
    await settle()
    clock.advance(5)  # still in flight 5 s later: its answer may predate a revocation by 5 s
    fresh = asyncio.ensure_future(cache.refresh(CLIENT, look_up))
    await settle()
    assert len(releases) == 2, "a new look-up, not the old one"
    cache.forget(CLIENT.subject)  # revoked in this process meanwhile
    for event in releases:
        event.set()
    assert (await slow, await fresh) == (True, True)
    assert cache.get(CLIENT) is None, "what was in flight when it was forgotten is not remembered"


async def test_a_client_secret_is_stored_as_argon2id_at_the_rfc_9106_low_memory_parameters(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's own hasher, not the cheap one the other tests use: 64 MiB, 3 passes, 4 lanes
    (RFC 9106's second recommended option), and the secret itself nowhere in the row."""
    monkeypatch.undo()  # the conftest's fast_hashing
    created = await create_client(session, auth.Role.ADMIN)
    stored = await session.get(auth.ApiClient, created.client_id)
    assert stored is not None
    assert stored.secret_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert created.client_secret not in stored.secret_hash
    assert await auth.authenticate_client(session, created.client_id, created.client_secret) is not None
    assert await auth.authenticate_client(session, created.client_id, created.client_secret + "x") is None
