"""The holder over HTTP: nonce, key registration with proof of possession (and every refusal), the
holder's credentials; least privilege of holder routes."""

import datetime as dt
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.auth import Role
from service.passport import presentation, sdjwt
from service.passport.encryption import DataKeyRing
from tests.credentials import factories as cf
from tests.credentials.test_service import NOW, keys_of
from tests.factories import client_headers
from tests.passport import factories as pf
from tests.workforce.factories import Tree

API = "/api/v1"


async def holder(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> tuple[pf.World, dict[str, str]]:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW)
    user = await cf.holder_user(session, world.doctor, NOW)
    await session.commit()
    return world, cf.holder_headers(app, user)


async def nonce(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post(f"{API}/holder/nonce", headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["proof_typ"] == cf.PROOF_TYP
    assert body["audience"] == cf.BASE_URL
    return str(body["nonce"])


async def register(client: httpx.AsyncClient, headers: dict[str, str], proof: str) -> httpx.Response:
    return await client.post(f"{API}/holder/keys", headers=headers, json={"proof": proof})


@pytest.mark.parametrize("key_kind", ["P-256", "Ed25519"])
async def test_registering_a_key_issues_credentials_bound_to_it(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing, key_kind: str
) -> None:
    _, headers = await holder(session, app, data_keys)
    key: jws.PrivateKey = cf.new_key() if key_kind == "P-256" else ed25519.Ed25519PrivateKey.generate()
    response = await register(client, headers, cf.proof(key, await nonce(client, headers)))
    assert response.status_code == 201, response.text
    assert response.json()["credentials_issued"] == 4
    listed = await client.get(f"{API}/holder/credentials", headers=headers)
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    items = listed.json()["items"]
    assert sorted(i["kind"] for i in items) == [
        "core_skills",
        "identity_link",
        "occupational_health",
        "training_placement",
    ]
    for item in items:
        held = sdjwt.HeldCredential.parse(item["credential"])
        assert held.payload["cnf"]["jwk"] == jws.public_jwk(key.public_key())
        report = presentation.verify_credential(
            item["credential"], issuer_keys=keys_of(app), now=int(dt.datetime.now(dt.UTC).timestamp())
        )
        assert report.valid


async def _refusal(client: httpx.AsyncClient, headers: dict[str, str], proof: str) -> dict[str, Any]:
    response = await register(client, headers, proof)
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["errors"][0]["field"] == "body.proof"
    return body


async def test_proofs_of_possession_that_do_not_prove_are_refused(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    _, headers = await holder(session, app, data_keys)
    key, other = cf.new_key(), cf.new_key()
    n = await nonce(client, headers)
    # signed by another key than the one in the header
    bad = cf.proof(other, n, jwk=jws.public_jwk(key.public_key()))
    assert (await _refusal(client, headers, bad))["code"] == "proof_bad_signature"
    # alg none
    header = jws.b64url_encode(
        jws.canonical_json({"alg": "none", "typ": cf.PROOF_TYP, "jwk": jws.public_jwk(key.public_key())})
    )
    claims = jws.b64url_encode(
        jws.canonical_json({"nonce": n, "aud": cf.BASE_URL, "iat": int(NOW.timestamp())})
    )
    assert (await _refusal(client, headers, f"{header}.{claims}."))["code"] == "proof_unsupported_alg"
    # HS256 "signed" with the public key
    import hashlib
    import hmac

    h256 = jws.b64url_encode(
        jws.canonical_json({"alg": "HS256", "typ": cf.PROOF_TYP, "jwk": jws.public_jwk(key.public_key())})
    )
    mac = hmac.new(
        jws.canonical_json(jws.public_jwk(key.public_key())), f"{h256}.{claims}".encode(), hashlib.sha256
    )
    forged = f"{h256}.{claims}.{jws.b64url_encode(mac.digest())}"
    assert (await _refusal(client, headers, forged))["code"] == "proof_unsupported_alg"
    # wrong typ, stale iat, wrong audience, no key in the header, not a JWS
    assert (await _refusal(client, headers, cf.proof(key, n, typ="JWT")))["code"] == "proof_wrong_typ"
    stale = int((NOW - dt.timedelta(minutes=10)).timestamp())
    assert (await _refusal(client, headers, cf.proof(key, n, iat=stale)))["code"] == "proof_stale"
    assert (await _refusal(client, headers, cf.proof(key, n, aud="https://elsewhere.example")))[
        "code"
    ] == "proof_wrong_audience"
    nokey = jws.sign({"nonce": n, "aud": cf.BASE_URL, "iat": int(NOW.timestamp())}, key, typ=cf.PROOF_TYP)
    assert (await _refusal(client, headers, nokey))["code"] == "proof_no_key"
    assert (await _refusal(client, headers, "not-a-jws"))["code"] == "proof_malformed"
    # unknown nonce; then a good proof, then its nonce again
    assert (await _refusal(client, headers, cf.proof(key, "made-up-nonce")))["code"] == "proof_nonce_unknown"
    assert (await register(client, headers, cf.proof(key, n))).status_code == 201
    assert (await _refusal(client, headers, cf.proof(key, n)))["code"] == "proof_nonce_used"


async def test_another_holders_nonce_is_unknown(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await holder(session, app, data_keys)
    other_user = await cf.holder_user(session, world.other, NOW)
    await session.commit()
    theirs = await nonce(client, cf.holder_headers(app, other_user))
    assert (await _refusal(client, headers, cf.proof(cf.new_key(), theirs)))["code"] == "proof_nonce_unknown"


async def test_a_holder_client_not_linked_to_a_person_is_refused(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await pf.create_world(session)
    headers = await client_headers(session, app, Role.HOLDER, Tree().trust)
    response = await client.get(f"{API}/holder/credentials", headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_linked_holder"


async def test_a_new_key_supersedes_the_credentials_of_the_old_one(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    _, headers = await holder(session, app, data_keys)
    first, second = cf.new_key(), cf.new_key()
    assert (await register(client, headers, cf.proof(first, await nonce(client, headers)))).status_code == 201
    old = {
        i["kind"]: i for i in (await client.get(f"{API}/holder/credentials", headers=headers)).json()["items"]
    }
    assert (
        await register(client, headers, cf.proof(second, await nonce(client, headers)))
    ).status_code == 201
    new = {
        i["kind"]: i for i in (await client.get(f"{API}/holder/credentials", headers=headers)).json()["items"]
    }
    assert set(new) == set(old)
    for kind, item in new.items():
        assert item["id"] != old[kind]["id"]
        assert sdjwt.HeldCredential.parse(item["credential"]).payload["cnf"]["jwk"] == jws.public_jwk(
            second.public_key()
        )
