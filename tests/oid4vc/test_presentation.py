"""OpenID4VP through the app on both databases with the independent wallet: the verifier's request as a
link and QR code, the signed request object at its request_uri (checked against the DID document and the
JWKS), DCQL selection, direct_post, and the verifier's result; and the refusals: a replayed response, an
expired request, a key-binding JWT for another audience, a DCQL query the wallet cannot satisfy."""

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from service.verification.models import PresentationRequest
from tests.oid4vc import wallet as w
from tests.verification.factories import API, KINDS, Scene, create_scene, issue

CLIENT_ID = "decentralized_identifier:did:web:testserver.local"


@pytest.fixture
async def scene(session: AsyncSession, app: Litestar, keyring: KeyRing, data_keys: DataKeyRing) -> Scene:
    return await create_scene(session, app, keyring, data_keys)


def holdings(scene: Scene, kinds: tuple[str, ...] = KINDS) -> tuple[list[w.Held], list[w.HolderKey]]:
    """The doctor's credentials, as the registry issues them, in the independent wallet, with its keys."""
    helds, keys = [], []
    for kind in kinds:
        key = w.HolderKey.generate("ES256")
        private = key.key.private_key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        helds.append(
            w.parse_sd_jwt(issue(scene.keyring, scene.claim_sets[kind], private, scene.indexes[kind]))
        )
        keys.append(key)
    return helds, keys


async def open_request(client: httpx.AsyncClient, scene: Scene) -> dict[str, Any]:
    body = {"policy": "theatre-surgical-trainee", "purpose": "Theatre list starting Monday"}
    created = await client.post(f"{API}/presentation-requests", json=body, headers=scene.verifier)
    assert created.status_code == 201, created.text
    links = await client.get(
        f"{API}/presentation-requests/{created.json()['id']}/openid4vp", headers=scene.verifier
    )
    assert links.status_code == 200, links.text
    found: dict[str, Any] = {**created.json(), **links.json()}
    return found


async def fetch_request(client: httpx.AsyncClient, link: str) -> dict[str, Any]:
    """What the wallet does with the QR code: fetch the request object, check it against the DID."""
    client_id, uri = w.read_request_link(link)
    assert client_id == CLIENT_ID
    response = await client.get(uri)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/oauth-authz-req+jwt")
    did = client_id.removeprefix(w.DID_PREFIX)
    document = (await client.get(w.did_web_document_url(did))).json()
    jwks = (await client.get("/.well-known/jwt-vc-issuer")).json()["jwks"]
    return w.verify_request_object(
        response.text, client_id=client_id, did_document=document, jwks=jwks, now=int(time.time())
    )


async def test_a_wallet_answers_by_direct_post_and_the_verifier_reads_a_valid_result(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    opened = await open_request(client, scene)
    assert opened["deep_link"].startswith("openid4vp://?client_id=")
    assert opened["qr_svg"].startswith("<svg")
    request = await fetch_request(client, opened["deep_link"])
    assert request["nonce"] == opened["nonce"]
    assert request["response_uri"].endswith(f"/oid4vp/responses/{opened['id']}")
    assert {q["id"] for q in request["dcql_query"]["credentials"]} == set(KINDS)
    helds, keys = holdings(scene)
    vp_token = w.answer(request, helds, keys, iat=int(time.time()))
    posted = await client.post(request["response_uri"], data=w.direct_post_body(vp_token, request["state"]))
    assert posted.status_code == 200, posted.text

    read = await client.get(f"{API}/presentation-requests/{opened['id']}", headers=scene.verifier)
    assert read.json()["state"] == "answered"
    assert read.json()["result"]["verdict"] == "valid", read.json()["result"]["summary"]

    replay = await client.post(request["response_uri"], data=w.direct_post_body(vp_token, request["state"]))
    assert replay.status_code == 409
    assert (await client.get(w.read_request_link(opened["deep_link"])[1])).status_code == 409
    # The verifier no longer gets a wallet link for it: no doctor is sent to a request they cannot answer.
    again = await client.get(f"{API}/presentation-requests/{opened['id']}/openid4vp", headers=scene.verifier)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "request_answered"
    assert "already been answered" in again.json()["detail"]
    assert "deep_link" not in again.json()


async def test_an_expired_request_cannot_be_fetched_or_answered(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    opened = await open_request(client, scene)
    request = await fetch_request(client, opened["deep_link"])
    helds, keys = holdings(scene)
    vp_token = w.answer(request, helds, keys, iat=int(time.time()))
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(opened["id"]))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    await session.commit()
    late = await client.post(request["response_uri"], data=w.direct_post_body(vp_token, request["state"]))
    assert late.status_code == 410
    assert (await client.get(w.read_request_link(opened["deep_link"])[1])).status_code == 410
    links = await client.get(f"{API}/presentation-requests/{opened['id']}/openid4vp", headers=scene.verifier)
    assert links.status_code == 410, links.text
    assert links.json()["code"] == "request_expired"
    assert "expired" in links.json()["detail"]
    assert "deep_link" not in links.json()


async def test_a_key_binding_for_another_audience_or_an_unmet_query_does_not_pass(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    opened = await open_request(client, scene)
    request = await fetch_request(client, opened["deep_link"])
    helds, keys = holdings(scene)
    elsewhere = w.answer(
        {**request, "client_id": "x509_san_dns:verifier.example"}, helds, keys, iat=int(time.time())
    )
    posted = await client.post(request["response_uri"], data=w.direct_post_body(elsewhere, request["state"]))
    assert posted.status_code == 200
    read = (await client.get(f"{API}/presentation-requests/{opened['id']}", headers=scene.verifier)).json()
    assert read["result"]["verdict"] != "valid"
    assert read["result"]["verdict"] == "invalid"
    assert "made for another verifier" in read["result"]["summary"]
    checks = {c["name"]: c["code"] for c in read["result"]["presentations"][0]["checks"]}
    assert checks["kb_audience"] == "kb_wrong_audience"

    opened = await open_request(client, scene)
    request = await fetch_request(client, opened["deep_link"])
    helds, keys = holdings(scene, ("core_skills", "identity_link"))
    with pytest.raises(w.WalletError, match="cannot answer"):
        w.answer(request, helds, keys, iat=int(time.time()))
    partial = {
        q["id"]: w.answer({**request, "dcql_query": {"credentials": [q]}}, helds, keys, iat=int(time.time()))[
            q["id"]
        ]
        for q in request["dcql_query"]["credentials"]
        if q["id"] in ("core_skills", "identity_link")
    }
    posted = await client.post(request["response_uri"], data=w.direct_post_body(partial, request["state"]))
    assert posted.status_code == 200
    result = (await client.get(f"{API}/presentation-requests/{opened['id']}", headers=scene.verifier)).json()[
        "result"
    ]
    assert result["verdict"] != "valid"
    assert result["summary"].startswith("Not compliant")
    assert "Hepatitis B immunity not disclosed" in result["summary"]
    assert "No training placement disclosed" in result["summary"]

    wrong_state = await client.post(
        f"/oid4vp/responses/{opened['id']}", data={"vp_token": "{}", "state": "someone-else"}
    )
    assert wrong_state.status_code in (400, 422)
    assert wrong_state.json()["errors"][0]["field"].startswith("body.")
