"""``passport wallet present``'s choice of disclosures: what the request needs and nothing more, plus what
the holder adds; the presentations it builds pass verification."""

import time
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.wallet import cli as wallet_cli
from service.wallet import present
from service.wallet.status import StatusChecker
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


def stored(scene: Scene, kind: str, credential: str) -> StoredCredential:
    vct = scene.claim_sets[kind].vct
    return StoredCredential(
        id=kind, kind=kind, vct=vct, state="valid", issued_at="", expires_at="", credential=credential
    )


def test_a_copy_whose_status_cannot_be_checked_is_presented_with_a_warning(
    scene: Scene, tmp_path: Path
) -> None:
    wallet = wallet_of(scene, tmp_path / "wallet")
    now = int(time.time())
    with StatusChecker(wallet) as checker:
        copies, notes = present.pick(wallet, list(KINDS), checker, now=now)
    assert sorted(copies) == sorted(KINDS)
    assert notes[0].startswith("core_skills: status not checked (")
    assert "issuer-jwks.json: not a readable JWKS file: run `passport wallet fetch`" in notes[0]
    assert notes[0].endswith("); presenting it anyway")
    wallet.save_jwks(scene.keyring.jwks("credential"))
    with httpx.Client(timeout=5) as http, StatusChecker(wallet, client=http) as checker:
        copies, notes = present.pick(wallet, list(KINDS), checker, now=now)
    assert sorted(copies) == sorted(KINDS)
    assert len(notes) == len(KINDS)
    assert all("the status list could not be fetched: ConnectError" in note for note in notes), notes


def test_expired_copies_and_copies_of_another_key_are_passed_over(scene: Scene, tmp_path: Path) -> None:
    wallet = wallet_of(scene, tmp_path / "wallet")
    key = wallet.key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = int(time.time())
    claim_set, index = scene.claim_sets["core_skills"], scene.indexes["core_skills"]
    expired = issue(scene.keyring, claim_set, key, index, iat=now - 400 * 86400, exp=now - 86400)
    foreign = issue(scene.keyring, claim_set, ec.generate_private_key(ec.SECP256R1()), index)
    good = wallet.credential("core_skills")
    wallet.save_credentials([stored(scene, "core_skills", expired), stored(scene, "core_skills", foreign)])
    with StatusChecker(wallet) as checker, pytest.raises(WalletError) as refused:
        present.pick(wallet, ["core_skills"], checker, now=now)
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 86400))
    assert f"core_skills (expired on {day}, bound to another wallet's key)" in str(refused.value)
    wallet.save_credentials(
        [stored(scene, "core_skills", expired), stored(scene, "core_skills", foreign), good]
    )
    with StatusChecker(wallet) as checker:
        copies, _ = present.pick(wallet, ["core_skills"], checker, now=now)
    assert copies["core_skills"].credential == good.credential


def test_list_says_when_a_status_could_not_be_checked(
    scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wallet = wallet_of(scene, tmp_path / "wallet")
    wallet.save_jwks(scene.keyring.jwks("credential"))
    capsys.readouterr()
    wallet_cli.list_credentials(wallet.folder, check_status=True)
    listed = capsys.readouterr().out
    unchecked = "status valid as fetched, not checked: the status list could not be fetched: ConnectError;"
    assert listed.count(unchecked) == len(KINDS), listed


def test_fetch_keeps_the_copies_bound_to_the_wallet_key_valid_and_newest_first(
    scene: Scene, tmp_path: Path
) -> None:
    wallet = wallet_of(scene, tmp_path / "wallet")
    key = wallet.key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    claim_set, index = scene.claim_sets["core_skills"], scene.indexes["core_skills"]
    mine = stored(scene, "core_skills", issue(scene.keyring, claim_set, key, index))
    other_key = ec.generate_private_key(ec.SECP256R1())
    listed = [
        msgspec.structs.replace(mine, id="old", issued_at="2026-01-01T00:00:00Z"),
        stored(scene, "core_skills", issue(scene.keyring, claim_set, other_key, index)),
        msgspec.structs.replace(mine, id="suspended", state="suspended", issued_at="2026-03-01T00:00:00Z"),
        msgspec.structs.replace(mine, id="new", issued_at="2026-02-01T00:00:00Z"),
    ]
    assert [c.id for c in wallet_cli._own_copies(wallet, listed)] == ["new", "old", "suspended"]
