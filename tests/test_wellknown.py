"""Published keys (service/wellknown.py) and what the API accepts across a key rotation."""

import base64
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from litestar import Litestar, get
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth
from service.app import create_app
from service.config import Settings
from service.db import Database
from service.keys import KeyMeta, KeyRing, KeyStore
from tests.conftest import BASE_URL, asgi_transport
from tests.factories import TEST_PASSPHRASE, create_client, create_organisation

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
PUBLIC_MEMBERS = {
    "EC": {"kty", "crv", "x", "y", "kid", "alg", "use"},
    "OKP": {"kty", "crv", "x", "kid", "alg", "use"},
}
REQUIRED_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def rfc7638(jwk: dict[str, str]) -> str:
    members = {name: jwk[name] for name in REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Rotated:
    """A keys folder after some rotations; every time is relative to the real clock."""

    store: KeyStore
    before_rotation: KeyRing
    token_old: KeyMeta
    credential_old: KeyMeta
    credential_expired: KeyMeta

    def ring(self, now: dt.datetime = NOW) -> KeyRing:
        return self.store.load(now)

    def active(self, purpose: str, alg: str) -> KeyMeta:
        return next(m for m in self.store.metas() if (m.purpose, m.alg, m.status) == (purpose, alg, "active"))


@pytest.fixture
def rotated(tmp_path: Path) -> Rotated:
    store = KeyStore(tmp_path / "keys", TEST_PASSPHRASE)
    store.init(NOW - 10 * DAY)
    before = store.load(NOW - 10 * DAY)
    expired = before.signer("credential", "EdDSA").meta
    store.rotate("credential", "EdDSA", NOW - 9 * DAY, DAY)  # published until NOW - 8 days
    store.rotate("credential", "ES256", NOW - 5 * DAY, 10 * DAY)  # published until NOW + 5 days
    store.rotate("token", "ES256", NOW - DAY / 2, DAY)  # published until NOW + 12 hours
    return Rotated(
        store=store,
        before_rotation=before,
        token_old=store.find(before.signer("token").kid),
        credential_old=store.find(before.signer("credential", "ES256").kid),
        credential_expired=store.find(expired.kid),
    )


def app_for(settings: Settings, ring: KeyRing, database: Database | None = None) -> Litestar:
    """The registry with one extra route that any authenticated caller may use."""

    @get("/test-only/whoami", guards=[auth.requires(*auth.ALL_ROLES)], sync_to_thread=False)
    def whoami(principal: auth.CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject}

    app = create_app(settings, keyring=ring, database=database)
    app.register(whoami)
    return app


@asynccontextmanager
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def published(settings: Settings, rotated: Rotated, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to a registry that never touches its (unused) database."""
    own = msgspec.structs.replace(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    app = create_app(own, keyring=rotated.ring())
    try:
        async with http(app) as client:
            yield client
    finally:
        await app.state.database.dispose()


def real_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def kids(document: dict[str, Any]) -> set[str]:
    return {key["kid"] for key in document["keys"]}


async def test_credential_jwks_lists_active_and_still_published_credential_keys(
    published: httpx.AsyncClient, rotated: Rotated
) -> None:
    response = await published.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age=" in response.headers["cache-control"]
    assert kids(response.json()) == {
        rotated.active("credential", "ES256").kid,
        rotated.active("credential", "EdDSA").kid,
        rotated.credential_old.kid,
    }
    assert rotated.credential_expired.kid not in kids(response.json())


async def test_token_keys_are_published_apart_from_credential_keys(
    published: httpx.AsyncClient, rotated: Rotated
) -> None:
    credential = (await published.get("/.well-known/jwks.json")).json()
    token = await published.get("/oauth/jwks.json")
    assert token.status_code == 200
    assert "max-age=" in token.headers["cache-control"]
    assert kids(token.json()) == {rotated.active("token", "ES256").kid, rotated.token_old.kid}
    assert not kids(token.json()) & kids(credential)
    metadata = (await published.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["jwks_uri"] == BASE_URL + "/oauth/jwks.json"


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/oauth/jwks.json"])
async def test_published_keys_carry_only_public_members_and_their_thumbprint(
    published: httpx.AsyncClient, path: str
) -> None:
    keys = (await published.get(path)).json()["keys"]
    assert keys
    for jwk in keys:
        assert set(jwk) == PUBLIC_MEMBERS[jwk["kty"]], jwk
        assert jwk["use"] == "sig"
        assert jwk["kid"] == rfc7638(jwk)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_a_credential_signed_now_verifies_with_the_published_key(
    published: httpx.AsyncClient, rotated: Rotated, alg: str
) -> None:
    signer = rotated.ring().signer("credential", "ES256" if alg == "ES256" else "EdDSA")
    claims = {"iss": BASE_URL, "sub": "person"}
    token = jwt.encode(claims, signer.private_key, algorithm=alg, headers={"kid": signer.kid})
    jwks = (await published.get("/.well-known/jwks.json")).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"])
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]]) == claims


async def test_token_of_a_retired_key_works_while_published_and_is_refused_after(
    settings: Settings, database: Database, session: AsyncSession, rotated: Rotated
) -> None:
    await create_organisation(session, "RRK")
    created = await create_client(session, auth.Role.ISSUER, "RRK")
    principal = auth.Principal(
        subject=created.client_id, kind="client", role=auth.Role.ISSUER, organisation="RRK"
    )

    def token_from(ring: KeyRing, clock: Callable[[], dt.datetime] = real_clock) -> dict[str, str]:
        # A long lifetime, so a token issued before the rotation (12 hours ago) is still unexpired.
        tokens = auth.TokenService(
            ring, issuer=settings.issuer, lifetime=86400, session_lifetime=600, clock=clock
        )
        return {"Authorization": f"Bearer {tokens.issue_access_token(principal)}"}

    assert rotated.token_old.retired_at is not None
    retired_at = rotated.token_old.retired_at
    old_token = token_from(rotated.before_rotation, lambda: retired_at - dt.timedelta(minutes=1))
    new_token = token_from(rotated.ring())
    assert rotated.token_old.publish_until is not None
    # A server still holding the ring from before the rotation signs with the retired key: refused, since
    # the token was issued after the key's retirement.
    stale_server_token = token_from(rotated.before_rotation)
    async with http(app_for(settings, rotated.ring(), database)) as client:
        refused = await client.get("/test-only/whoami", headers=stale_server_token)
        assert refused.status_code == 401, refused.text
        assert refused.json()["detail"] == "The token is signed with a key that is no longer accepted."

    async with http(app_for(settings, rotated.ring(), database)) as client:
        for headers in (old_token, new_token):
            response = await client.get("/test-only/whoami", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == {"subject": created.client_id}

    after = rotated.ring(rotated.token_old.publish_until)
    async with http(app_for(settings, after, database)) as client:
        refused = await client.get("/test-only/whoami", headers=old_token)
        assert refused.status_code == 401, refused.text
        assert (await client.get("/test-only/whoami", headers=new_token)).status_code == 200
        assert rotated.token_old.kid not in kids((await client.get("/oauth/jwks.json")).json())
