"""Issue 3, part 2, "Signed ES256 by default, EdDSA supported": with ``PASSPORT_CREDENTIAL_ALG=EdDSA`` the
registry issues EdDSA credentials and signs its status lists with EdDSA, publishes that key in
``/.well-known/jwt-vc-issuer``, and its verifier accepts them over HTTP with every check passed.

The existing tests reach EdDSA issuance only by setting the issuer object's ``alg`` attribute after the app
is built (tests/credentials/test_service.py, test_interop.py), never through the setting an operator uses.
"""

import secrets

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from service import jws
from service.config import Settings
from service.credentials import service as credentials
from tests.audit.helpers import present, published_keys, register_and_fetch, served_status_list, verify
from tests.verification.factories import API, Scene


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, credential_alg="EdDSA")


async def test_the_eddsa_setting_signs_credentials_and_status_lists_that_verify_over_http(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    key = ed25519.Ed25519PrivateKey.generate()  # an EdDSA holder key too
    texts = await register_and_fetch(client, scene.holder, key)
    assert len(texts) == 4
    eddsa = {k["kid"] for k in await published_keys(client) if k.get("crv") == "Ed25519"}
    assert len(eddsa) == 1
    for text in texts.values():
        header = jws.unverified_header(text.split("~", 1)[0])
        assert (header["alg"], header["typ"]) == ("EdDSA", "dc+sd-jwt")
        assert header["kid"] in eddsa

    listed = await client.get(
        f"{API}/credentials", params={"person_id": str(scene.doctor.id)}, headers=scene.issuer
    )
    items = [i for i in listed.json()["items"] if i["state"] == "valid"]
    assert {i["alg"] for i in items} == {"EdDSA"}
    response, token = await served_status_list(client, items[0]["status_list_uri"])
    assert jws.unverified_header(response.text)["alg"] == "EdDSA"
    assert token.status_list.bits == 2

    nonce = secrets.token_urlsafe(16)
    result = await verify(
        client, scene, present(scene, texts, key, nonce=nonce, aud=scene.verifier_id), nonce
    )
    assert result["verdict"] == "valid", result["summary"]
    assert all(p["valid"] for p in result["presentations"])
