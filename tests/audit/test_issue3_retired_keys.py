"""Issue 3, part 6, "signature with an allowed algorithm and a known key, retired keys included": after
the credential key is rotated (``passport keys rotate``), a credential the registry signed with the key it
retired still verifies over HTTP, that key stays in ``/.well-known/jwt-vc-issuer``, and new credentials are
signed with the new key.

The existing tests check retired keys in the pure verifier (tests/passport/test_presentation.py, a lookup
built by hand) and in the published JWKS (tests/test_wellknown.py); none verifies, through the API, a
credential signed by a key the registry has rotated out.
"""

import datetime as dt
import secrets
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.credentials import service as credentials
from service.keys import KeyRing, KeyStore
from service.passport import sdjwt
from tests.audit.helpers import present, published_keys, register_and_fetch, verify
from tests.factories import TEST_PASSPHRASE
from tests.verification.factories import Scene, issue


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyRing, KeyRing]:
    """A key folder whose ES256 credential key was rotated: (folder, the ring before, the ring after)."""
    folder = tmp_path_factory.mktemp("rotated-keys")
    store = KeyStore(folder, TEST_PASSPHRASE)
    now = dt.datetime.now(dt.UTC)
    store.init(now)
    before = store.load(now)
    store.rotate("credential", "ES256", now, publish_for=dt.timedelta(days=400))
    return folder, before, store.load(now)


@pytest.fixture(scope="module")
def keys_dir(rotated: tuple[Path, KeyRing, KeyRing]) -> Path:
    return rotated[0]


@pytest.fixture(scope="module")
def keyring(rotated: tuple[Path, KeyRing, KeyRing]) -> KeyRing:
    return rotated[2]


async def test_a_credential_signed_by_a_retired_key_verifies_over_http(
    client: httpx.AsyncClient, scene: Scene, rotated: tuple[Path, KeyRing, KeyRing]
) -> None:
    _, before, after = rotated
    old, new = before.signer("credential").kid, after.signer("credential").kid
    assert old != new
    assert {old, new} <= {k["kid"] for k in await published_keys(client)}

    kind = "core_skills"
    text = issue(before, scene.claim_sets[kind], scene.holder_key, scene.indexes[kind])
    held = sdjwt.HeldCredential.parse(text)
    assert held.header["kid"] == old
    nonce = secrets.token_urlsafe(16)
    shown = held.present(
        scene.paths(kind),
        holder_key=scene.holder_key,
        aud=scene.verifier_id,
        nonce=nonce,
        iat=int(time.time()),
    )
    result = await verify(client, scene, [shown], nonce)
    signature = {c["name"]: c["code"] for c in result["presentations"][0]["checks"]}["signature"]
    assert signature == "ok", result["presentations"]
    assert result["verdict"] != "invalid", result["summary"]

    # what the registry issues from now on is signed with the new key, and verifies too
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    key = ec.generate_private_key(ec.SECP256R1())
    texts = await register_and_fetch(client, scene.holder, key)
    assert {sdjwt.HeldCredential.parse(t).header["kid"] for t in texts.values()} == {new}
    nonce = secrets.token_urlsafe(16)
    fresh = await verify(client, scene, present(scene, texts, key, nonce=nonce, aud=scene.verifier_id), nonce)
    assert fresh["verdict"] == "valid", fresh["summary"]
