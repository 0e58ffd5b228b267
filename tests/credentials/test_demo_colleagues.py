"""``passport demo seed`` gives HR more than one doctor to verify: the demo colleagues of the demo doctor
(``DemoCast.colleagues``), each with a web sign-in, a registered holder key, a wallet of credentials and a
case of their own: everything in date, fire safety expired, an occupational health credential suspended."""

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import demo
from service.auth import Role
from service.config import Settings
from service.credentials.demo import SUSPENDED_KIND, colleague_wallet_dir
from service.credentials.models import CredentialHold, HolderKey
from service.keys import KeyStore
from service.passport import presentation
from service.passport import service as passport
from service.passport.demo import changeover_after
from service.passport.encryption import DataKeyStore
from service.passport.policy import evaluate
from service.passport.schemas import RecordKind
from service.wallet.status import issuer_keys
from service.wallet.store import Wallet
from service.web import service as web
from service.workforce.demo import demo_cast
from service.workforce.synthetic import generate
from tests.factories import TEST_PASSPHRASE

SCALE = 0.2  # the smallest scale whose demo trust employs three more doctors
SEED = 0
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
KINDS: tuple[RecordKind, ...] = ("core_skills", "occupational_health", "training_placement", "identity_link")


@pytest.fixture
def demo_settings(settings: Settings, tmp_path: Path) -> Settings:
    keys = tmp_path / "demo-keys"
    KeyStore(keys, TEST_PASSPHRASE).init(NOW)
    DataKeyStore(keys, TEST_PASSPHRASE).init(NOW)
    return msgspec.structs.replace(settings, keys_dir=keys, var_dir=tmp_path / "var")


async def test_hr_gets_a_valid_a_failing_and_a_suspended_doctor(
    session: AsyncSession, demo_settings: Settings
) -> None:
    summary = await demo.seed(session, settings=demo_settings, scale=SCALE, seed=SEED, now=NOW)
    cast = demo_cast(generate(SCALE, SEED, NOW.date()), seed=SEED)
    cases = {case: (person, person_id) for case, person, person_id in cast.colleagues}
    assert list(cases) == ["in_date", "fire_safety_expired", "suspended"]

    listed = (await web.demo_users(session))[Role.HOLDER]
    assert listed[0].person_id == cast.holder_id, "the sign-in page lists the demo doctor first"
    holders = {u.person_id: u for u in listed}
    assert set(holders) == {cast.holder_id, *(person_id for _, person_id in cases.values())}
    keys = DataKeyStore(demo_settings.keys_dir, TEST_PASSPHRASE).load()
    page = await passport.list_policies(
        session,
        organisation=cast.site.code,
        name="theatre-surgical-trainee",
        all_versions=False,
        limit=1,
        offset=0,
    )
    theatre = page.items[0]
    start = changeover_after(NOW.date())

    async def failing(person_id: Any) -> list[str]:
        """The theatre list's rules the doctor's credentials do not meet on the rotation day."""
        claims: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            built = await passport.credential_claims(
                session, [person_id], kind, on=NOW.date(), base_url="https://r.example", keys=keys
            )
            if (claim_set := built[person_id]) is not None:
                claims[kind] = claim_set.claims
        outcome = evaluate(
            theatre.rules, claims, start, organisation_code=theatre.organisation_code, today=NOW.date()
        )
        return [r.reason for r in outcome.rules if not r.passed]

    states: dict[str, dict[str, str]] = {}
    for case, (person, person_id) in cases.items():
        user = holders[person_id]
        assert user.display_name == f"Dr {person.given_name} {person.family_name}"
        assert user.display_name in summary
        assert user.organisation_code == cast.trust.code
        registered = await session.scalar(
            select(func.count()).select_from(HolderKey).where(HolderKey.person_id == person_id)
        )
        assert registered == 1
        wallet = Wallet(colleague_wallet_dir(demo_settings, person.gmc_number or ""))
        assert str(wallet.folder) in summary
        held = wallet.credentials()
        assert sorted(h.kind for h in held) == sorted(KINDS)
        lookup = issuer_keys(wallet.folder / "issuer-jwks.json")
        for item in held:
            report = presentation.verify_credential(
                item.credential, issuer_keys=lookup, now=int(NOW.timestamp())
            )
            assert report.valid, (case, item.kind)
        states[case] = {h.kind: h.state for h in held}
        reasons = await failing(person_id)
        if case == "fire_safety_expired":
            assert len(reasons) == 1, reasons
            assert reasons[0].startswith("Fire safety"), reasons
        else:
            assert reasons == [], (case, reasons)

    valid: dict[str, str] = dict.fromkeys(KINDS, "valid")
    assert states["in_date"] == states["fire_safety_expired"] == valid
    assert states["suspended"] == {**valid, SUSPENDED_KIND: "suspended"}
    suspended_id = cases["suspended"][1]
    hold = await session.get(CredentialHold, (suspended_id, SUSPENDED_KIND))
    assert hold is not None
    assert (hold.state, hold.organisation_code) == ("suspended", cast.trust.code)

    again = await demo.seed(session, settings=demo_settings, scale=SCALE, seed=SEED, now=NOW)
    assert again.startswith("Nothing to do")
