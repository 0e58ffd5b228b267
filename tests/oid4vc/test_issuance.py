"""OpenID4VCI issuance through the app on both databases, driven by the independent wallet's messages:
offer -> token (tx_code) -> nonce -> a batch of credentials -> notification, and every refusal a wallet
or an attacker meets: a reused, expired or re-fetched offer, wrong transaction codes up to the attempt
limit, proofs with a wrong nonce or audience, an unknown token or notification id."""

import datetime as dt
import json
import time
import zlib
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.oid4vc.models import CredentialOfferRow
from service.passport.encryption import DataKeyRing
from tests.credentials import factories as cf
from tests.factories import client_headers
from tests.oid4vc import wallet as w
from tests.passport import factories as pf

API = "/api/v1"
ISSUER = cf.BASE_URL


async def _world(session: AsyncSession, app: Litestar, data_keys: DataKeyRing) -> tuple[Any, dict[str, str]]:
    world = await pf.create_world(session)
    now = dt.datetime.now(dt.UTC)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, now)
    headers = await client_headers(session, app, Role.ADMIN, None)
    await session.commit()
    return world, headers


async def _offer(
    client: httpx.AsyncClient, headers: dict[str, str], person: Any, ids: list[str]
) -> dict[str, Any]:
    made = await client.post(
        f"{API}/credential-offers",
        headers=headers,
        json={"person_id": str(person.id), "credential_configuration_ids": ids},
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def _fetch(client: httpx.AsyncClient, made: dict[str, Any]) -> dict[str, Any]:
    url = w.read_offer_link(made["deep_link"])
    assert isinstance(url, str)
    response = await client.get(url.removeprefix(ISSUER))
    assert response.status_code == 200, response.text
    return w.check_offer(response.json())


async def _token(client: httpx.AsyncClient, offer: dict[str, Any], tx_code: str | None) -> httpx.Response:
    return await client.post("/oauth/token", data=w.token_request(offer, tx_code))


async def _nonce(client: httpx.AsyncClient) -> str:
    response = await client.post("/oid4vci/nonce")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return str(response.json()["c_nonce"])


def _status(token: str, index: int) -> int:
    """The 2-bit status at ``index`` of a status list token (read as a wallet would, without the registry)."""
    claims = json.loads(w.b64u_decode(token.split(".")[1]))
    bits = zlib.decompress(w.b64u_decode(claims["status_list"]["lst"]))
    return (bits[index * 2 // 8] >> (index * 2 % 8)) & 0b11


async def test_a_batch_of_three_credentials_each_bound_to_its_own_key(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["core_skills"])
    assert made["deep_link"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert made["qr_svg"].startswith("<svg")
    assert len(made["tx_code"]) == 6
    offer = await _fetch(client, made)
    assert made["tx_code"] not in json.dumps(offer)
    metadata = (await client.get("/.well-known/openid-credential-issuer")).json()
    assert w.check_issuer_metadata(metadata, offer) == {"core_skills": "ES256"}
    server = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert w.PRE_AUTHORIZED in server["grant_types_supported"]

    token = await _token(client, offer, made["tx_code"])
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    access = token.json()["access_token"]
    keys = [w.HolderKey.generate("ES256"), w.HolderKey.generate("EdDSA"), w.HolderKey.generate("ES256")]
    nonce = await _nonce(client)
    proofs = [w.key_proof(k, issuer=ISSUER, nonce=nonce, iat=int(time.time())) for k in keys]
    bearer = {"Authorization": f"Bearer {access}"}
    issued = await client.post(
        "/oid4vci/credential", json=w.credential_request("core_skills", proofs), headers=bearer
    )
    assert issued.status_code == 200, issued.text
    bound = w.credentials_from_response(issued.json(), keys)
    assert len(bound) == 3
    helds = [w.parse_sd_jwt(text) for _, text in bound]
    jwks = (await client.get("/.well-known/jwt-vc-issuer")).json()["jwks"]["keys"]
    for held in helds:
        signer = next(k for k in jwks if k["kid"] == held.header["kid"])
        w.verify_jws(held.jwt, signer)
        assert held.claims["vct"].endswith("/core-skills/1") or "core" in held.claims["vct"]
    # unlinkable: different holder keys and unrelated status entries
    assert len({json.dumps(h.payload["cnf"], sort_keys=True) for h in helds}) == 3
    assert len({h.payload["status"]["status_list"]["idx"] for h in helds}) == 3
    # they are registry credentials: listed, and revocable like any other
    listed = await client.get(
        f"{API}/credentials", params={"person_id": str(world.doctor.id)}, headers=headers
    )
    core = [c for c in listed.json()["items"] if c["kind"] == "core_skills" and c["state"] == "valid"]
    assert len(core) >= 3

    # an issuer's revocation of one copy revokes the holder's type: every copy's entry (decision 0046)
    revoked_idx = helds[0].payload["status"]["status_list"]["idx"]
    row = next(c for c in core if c["status_idx"] == revoked_idx)
    revoked = await client.post(
        f"{API}/credentials/{row['id']}/revoke", json={"reason": "left the trust"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    uri = helds[0].payload["status"]["status_list"]["uri"]
    token_text = (await client.get(uri.removeprefix(ISSUER))).text
    assert [_status(token_text, h.payload["status"]["status_list"]["idx"]) for h in helds] == [1, 1, 1]

    accepted = await client.post(
        "/oid4vci/notification",
        json=w.notification_request(issued.json()["notification_id"]),
        headers=bearer,
    )
    assert accepted.status_code == 204, accepted.text
    unknown = await client.post("/oid4vci/notification", json=w.notification_request("nope"), headers=bearer)
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_notification_id"

    # the offer is single use: the code again, the offer object again, the same type again
    again = await _token(client, offer, made["tx_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "already been used" in again.json()["detail"]
    url = w.read_offer_link(made["deep_link"])
    assert isinstance(url, str)
    assert (await client.get(url.removeprefix(ISSUER))).status_code == 404
    nonce = await _nonce(client)
    proof = w.key_proof(w.HolderKey.generate(), issuer=ISSUER, nonce=nonce, iat=int(time.time()))
    twice = await client.post(
        "/oid4vci/credential", json=w.credential_request("core_skills", [proof]), headers=bearer
    )
    assert twice.status_code == 400
    assert twice.json()["error"] == "invalid_credential_request"


async def test_wrong_transaction_codes_are_counted_and_the_fifth_cancels_the_offer(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["identity_link"])
    offer = await _fetch(client, made)
    wrong = "0000000" if made["tx_code"] != "000000" else "111111"
    for left in (4, 3, 2, 1):
        refused = await _token(client, offer, wrong[:6])
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert f"({left} attempt(s) left)" in refused.json()["detail"]
        assert refused.json()["errors"][0]["field"] == "tx_code"
    last = await _token(client, offer, wrong[:6])
    assert "cancelled" in last.json()["detail"]
    right = await _token(client, offer, made["tx_code"])
    assert right.status_code == 400
    assert right.json()["error"] == "invalid_grant"
    missing = await client.post("/oauth/token", data={"grant_type": w.PRE_AUTHORIZED})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert missing.json()["errors"][0]["field"] == "pre-authorized_code"


async def test_an_expired_offer_is_refused(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["core_skills"])
    offer = await _fetch(client, made)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await session.execute(
        update(CredentialOfferRow).where(CredentialOfferRow.id == made["id"]).values(expires_at=past)
    )
    await session.commit()
    refused = await _token(client, offer, made["tx_code"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert "expired" in refused.json()["detail"]


async def test_proofs_with_a_wrong_nonce_or_audience_are_refused(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["core_skills"])
    offer = await _fetch(client, made)
    access = (await _token(client, offer, made["tx_code"])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    key = w.HolderKey.generate()
    now = int(time.time())

    async def ask(proof: str) -> httpx.Response:
        return await client.post(
            "/oid4vci/credential", json=w.credential_request("core_skills", [proof]), headers=bearer
        )

    bad_nonce = await ask(w.key_proof(key, issuer=ISSUER, nonce="not-a-nonce-of-ours", iat=now))
    assert bad_nonce.status_code == 400
    assert bad_nonce.json()["error"] == "invalid_nonce"
    assert bad_nonce.json()["errors"][0]["field"] == "proofs.jwt[0]"
    nonce = await _nonce(client)
    wrong_aud = await ask(w.key_proof(key, issuer="https://elsewhere.example", nonce=nonce, iat=now))
    assert wrong_aud.status_code == 400
    assert wrong_aud.json()["error"] == "invalid_proof"
    assert "aud" in wrong_aud.json()["detail"]
    other = await client.post(
        "/oid4vci/credential",
        json=w.credential_request(
            "occupational_health", [w.key_proof(key, issuer=ISSUER, nonce=nonce, iat=now)]
        ),
        headers=bearer,
    )
    assert other.status_code == 400
    assert other.json()["error"] == "unknown_credential_configuration"
    no_token = await client.post("/oid4vci/credential", json=w.credential_request("core_skills", []))
    assert no_token.status_code == 401
    assert no_token.json()["error"] == "invalid_token"
    # the refusals consumed nothing: the nonce still works
    fine = await ask(w.key_proof(key, issuer=ISSUER, nonce=nonce, iat=now))
    assert fine.status_code == 200, fine.text
    reused = await ask(w.key_proof(w.HolderKey.generate(), issuer=ISSUER, nonce=nonce, iat=now))
    assert reused.status_code == 400


async def test_malformed_wallet_requests_are_4xx_naming_the_field(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["core_skills"])
    offer = await _fetch(client, made)
    access = (await _token(client, offer, made["tx_code"])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    bodies: list[Any] = [
        [],
        {"credential_configuration_id": 7},
        {"credential_configuration_id": "core_skills"},
        {"credential_configuration_id": "core_skills", "proofs": {"ldp_vp": ["x"]}},
        {"credential_configuration_id": "core_skills", "proofs": {"jwt": "not-a-list"}},
        {"credential_configuration_id": "core_skills", "proofs": {"jwt": ["a.b.c", 5]}},
        {"credential_configuration_id": "core_skills", "proofs": {"jwt": ["x"] * 11}},
        {"credential_identifier": "abc", "proofs": {"jwt": ["x"]}},
    ]
    for body in bodies:
        response = await client.post("/oid4vci/credential", json=body, headers=bearer)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["errors"][0]["field"], body
    forms = [
        {"grant_type": w.PRE_AUTHORIZED, "pre-authorized_code": "é" * 10},
        {"grant_type": w.PRE_AUTHORIZED, "pre-authorized_code": "x" * 300, "tx_code": "1"},
        {"grant_type": "urn:example:unknown", "pre-authorized_code": "x"},
    ]
    for form in forms:
        response = await client.post("/oauth/token", data=form)
        assert response.status_code == 400, (form, response.text)
        assert response.json()["error"] in ("invalid_request", "invalid_grant", "unsupported_grant_type")
    for form in [{"vp_token": "[1]", "state": "s"}, {"state": "s"}, {"vp_token": "{", "state": "s"}]:
        response = await client.post(f"/oid4vp/responses/{world.doctor.id}", data=form)
        assert response.status_code == 422, (form, response.text)
    unknown = await client.get(f"/oid4vp/requests/{world.doctor.id}")
    assert unknown.status_code == 404
    not_mine = await client.post(
        f"{API}/credential-offers",
        json={"person_id": str(world.doctor.id), "credential_configuration_ids": ["no_such_type"]},
        headers=headers,
    )
    assert not_mine.status_code == 422
    assert not_mine.json()["errors"][0]["field"] == "body.credential_configuration_ids"
