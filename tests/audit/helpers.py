"""Helpers of the audit of issue 3: everything through the registry's HTTP API, as its users call it.

A holder registers a key with a proof of possession and fetches what the registry issued; a verifier
posts presentations; anyone reads the published keys and status lists.
"""

import time
from typing import Any

import httpx

from service import jws
from service.passport import policy as policies
from service.passport import sdjwt
from service.passport.claims import kind_of_vct
from service.passport.status_list import StatusListToken, verify_token
from service.wallet.present import leaves
from tests.conftest import BASE_URL
from tests.credentials import factories as cf
from tests.verification.factories import API, Scene


async def register_and_fetch(
    client: httpx.AsyncClient, holder: dict[str, str], key: jws.PrivateKey
) -> dict[str, str]:
    """Register ``key`` with a proof of possession, then fetch the credentials: type -> compact SD-JWT VC."""
    nonce = await client.post(f"{API}/holder/nonce", headers=holder)
    assert nonce.status_code == 201, nonce.text
    proof = cf.proof(key, nonce.json()["nonce"])
    registered = await client.post(f"{API}/holder/keys", headers=holder, json={"proof": proof})
    assert registered.status_code == 201, registered.text
    listed = await client.get(f"{API}/holder/credentials", headers=holder)
    assert listed.status_code == 200, listed.text
    return {item["kind"]: item["credential"] for item in listed.json()["items"]}


def present(scene: Scene, texts: dict[str, str], key: jws.PrivateKey, *, nonce: str, aud: str) -> list[str]:
    """One presentation per credential, disclosing what the scene's policy needs, bound to ``nonce``."""
    needs = [
        n for r in policies.requirements(scene.policy.rules, scene.policy.organisation_code) for n in r.needs
    ]
    out = []
    for text in texts.values():
        held = sdjwt.HeldCredential.parse(text)
        kind = kind_of_vct(BASE_URL, held.payload["vct"])
        assert kind is not None
        paths = leaves(policies.disclosures_for(scene.claim_sets[kind], needs))
        out.append(held.present(paths, holder_key=key, aud=aud, nonce=nonce, iat=int(time.time())))
    return out


async def verify(
    client: httpx.AsyncClient, scene: Scene, presentations: list[str], nonce: str
) -> dict[str, Any]:
    """``POST /api/v1/verifications`` ad hoc against the theatre-list policy: the result (201)."""
    body = {
        "presentations": presentations,
        "policy": scene.policy.name,
        "nonce": nonce,
        "purpose": "Theatre list",
    }
    response = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def checks_by_type(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each presentation's checks, by credential type: check name -> code."""
    return {
        p["credential_type"]: {c["name"]: c["code"] for c in p["checks"]} for p in result["presentations"]
    }


async def published_keys(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The credential keys of ``/.well-known/jwt-vc-issuer`` (what any verifier would fetch)."""
    response = await client.get("/.well-known/jwt-vc-issuer")
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["jwks"]["keys"]
    return keys


async def served_status_list(client: httpx.AsyncClient, uri: str) -> tuple[httpx.Response, StatusListToken]:
    """``GET`` the status list at ``uri`` and verify it against the published keys, as a verifier would."""
    response = await client.get(uri.removeprefix(BASE_URL))
    assert response.status_code == 200, response.text
    published = {
        k["kid"]: jws.key_from_jwk({n: v for n, v in k.items() if n != "use"})
        for k in await published_keys(client)
    }
    token = verify_token(
        response.text,
        lambda header: published.get(header.get("kid")),
        uri=uri,
        now=int(time.time()),
        iss=BASE_URL,
    )
    return response, token
