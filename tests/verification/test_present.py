"""``passport wallet present``'s choice of disclosures: what the request needs and nothing more, plus what
the holder adds; the presentations it builds pass verification."""

import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.wallet import present
from service.wallet.store import StoredCredential, Wallet, WalletError
from tests.verification.factories import API, KINDS, Scene, issue
from tests.verification.test_flow import create_request


def wallet_of(scene: Scene, folder: Path) -> Wallet:
    wallet = Wallet(folder)
    wallet.init()
    key = wallet.key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    wallet.save_credentials(
        [
            StoredCredential(
                id=kind,
                kind=kind,
                vct=scene.claim_sets[kind].vct,
                state="valid",
                issued_at="",
                expires_at="",
                credential=issue(scene.keyring, scene.claim_sets[kind], key, scene.indexes[kind]),
            )
            for kind in KINDS
        ]
    )
    return wallet


async def test_the_wallet_discloses_what_the_request_needs_and_nothing_more(
    client: httpx.AsyncClient, scene: Scene, tmp_path: Path
) -> None:
    wallet = wallet_of(scene, tmp_path / "wallet")
    created = await create_request(client, scene)
    view = (
        await client.get(f"{API}/presentation-requests/{created['id']}/request", headers=scene.holder)
    ).json()
    presentations, shown = present.build(
        wallet, view, extra=present._extra(["identity_link:identity/family_name"]), now=int(time.time())
    )
    assert set(shown) == set(KINDS)
    assert "core_skills/0/date_to" in shown["core_skills"]
    assert not any(name.endswith(("learning_provider", "learning_method")) for name in shown["core_skills"])
    assert "holder_id" not in shown["core_skills"]
    assert sorted(shown["identity_link"]) == ["identity/family_name", "identity/gmc_number"]
    health = shown["occupational_health"]
    assert not any(name.endswith("assessed_on") for name in health)
    answered = await client.post(
        view["response_uri"], json={"presentations": presentations}, headers=scene.holder
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["verdict"] == "valid", answered.json()["summary"]
    assert answered.json()["claims"]["identity_link"]["identity"]["family_name"] == "Okafor"


def test_a_request_link_and_disclose_options_are_checked() -> None:
    with pytest.raises(WalletError, match="not a presentation request link"):
        present._registry_of("https://registry.example/api/v1/presentation-requests/abc")
    assert (
        present._registry_of("https://r.example/api/v1/presentation-requests/x/request")
        == "https://r.example"
    )
    with pytest.raises(WalletError, match="KIND:PATH"):
        present._extra(["identity/family_name"])
