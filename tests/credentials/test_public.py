"""Public documents over HTTP: status lists (media type, ttl, cache headers, ETag, changes visible), type
metadata at the vct URLs, JWT VC issuer metadata."""

import datetime as dt

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import service
from service.passport import sdjwt
from service.passport.encryption import DataKeyRing
from service.passport.status_list import CredentialStatus, verify_token
from tests.credentials import factories as cf
from tests.credentials.test_service import NOW, doctor_with_key, keys_of
from tests.passport import factories as pf


async def test_status_list_is_served_signed_with_ttl_cache_headers_and_etag(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    await service.issue(session, issuer, [(world.doctor.id, "core_skills")], now=NOW)
    await session.commit()
    held = (await service.holder_credentials(session, issuer, world.doctor.id))[0]
    ref = sdjwt.HeldCredential.parse(held.credential).payload["status"]["status_list"]
    path = ref["uri"].removeprefix(cf.BASE_URL)
    first = await client.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/statuslist+jwt")
    assert first.headers["cache-control"] == f"public, max-age={service.STATUS_TTL}"
    token = verify_token(first.text, keys_of(app), uri=ref["uri"], now=int(NOW.timestamp()), iss=cf.BASE_URL)
    assert token.ttl == service.STATUS_TTL
    assert token.status_list.size >= 131_072
    assert token.status_list.status_of(ref["idx"]) is CredentialStatus.VALID
    etag = first.headers["etag"]
    unchanged = await client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304

    await service.change_state(
        session,
        issuer,
        pf.issuer_principal(world.tree.trust),
        held.id,
        "revoke",
        "left",
        now=NOW + dt.timedelta(seconds=1),
    )
    await session.commit()
    after = await client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    revoked = verify_token(after.text, keys_of(app), uri=ref["uri"], now=int(NOW.timestamp()) + 2)
    assert revoked.status_list.status_of(ref["idx"]) is CredentialStatus.INVALID


async def test_unknown_status_list_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/status-lists/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "status_list_not_found"


async def test_type_metadata_is_served_at_each_vct(client: httpx.AsyncClient) -> None:
    for slug in ("core-skills", "occupational-health", "training-placement", "identity-link"):
        response = await client.get(f"/vct/{slug}/v1")
        assert response.status_code == 200
        assert response.json()["vct"] == f"{cf.BASE_URL}/vct/{slug}/v1"
        assert response.headers["cache-control"].startswith("public")
    assert (await client.get("/vct/core-skills/v9")).status_code == 404
    assert (await client.get("/vct/passwords/v1")).status_code == 404


async def test_jwt_vc_issuer_metadata_names_the_issuer_and_its_keys(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    response = await client.get("/.well-known/jwt-vc-issuer")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == cf.BASE_URL
    kids = {k["kid"] for k in body["jwks"]["keys"]}
    assert kids == {k.kid for k in app.state.keyring.published if k.meta.purpose == "credential"}
    assert all(jws.key_from_jwk({k: v for k, v in key.items() if k != "use"}) for key in body["jwks"]["keys"])
