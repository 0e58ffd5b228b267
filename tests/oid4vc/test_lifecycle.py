"""A batch collected over OpenID4VCI by a wallet app follows the records (decision 0040): after a record
is corrected, the lifecycle revokes every copy in the status list the wallet reads, issues nothing to the
wallet keys, and tells the doctor to add their credentials again. The doctor has no key registered with
the reference wallet: the wallet app is their only one."""

import datetime as dt
import time

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.credentials import service as credentials
from service.credentials.models import Credential, Notification
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.models import CoreSkillRecord
from service.passport.schemas import RecordCorrection, RecordCreate
from tests.credentials import factories as cf
from tests.oid4vc import wallet as w
from tests.oid4vc.test_issuance import ISSUER, _fetch, _nonce, _offer, _status, _token, _world
from tests.passport import factories as pf


async def test_a_corrected_record_revokes_the_wallet_apps_copies(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, headers = await _world(session, app, data_keys)
    made = await _offer(client, headers, world.doctor, ["core_skills", "identity_link"])
    offer = await _fetch(client, made)
    access = (await _token(client, offer, made["tx_code"])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    copies: dict[str, list[w.Held]] = {}
    for kind in ("core_skills", "identity_link"):
        keys = [w.HolderKey.generate("ES256"), w.HolderKey.generate("EdDSA")]
        nonce = await _nonce(client)
        proofs = [w.key_proof(k, issuer=ISSUER, nonce=nonce, iat=int(time.time())) for k in keys]
        issued = await client.post(
            "/oid4vci/credential", json=w.credential_request(kind, proofs), headers=bearer
        )
        assert issued.status_code == 200, issued.text
        copies[kind] = [w.parse_sd_jwt(text) for _, text in w.credentials_from_response(issued.json(), keys)]

    async def statuses(kind: str) -> list[int]:
        found = []
        for held in copies[kind]:
            reference = held.payload["status"]["status_list"]
            token = (await client.get(reference["uri"].removeprefix(ISSUER))).text
            found.append(_status(token, reference["idx"]))
        return found

    assert await statuses("core_skills") == [0, 0]

    # the trust corrects the fire safety record (a wrong provider)
    record = await session.scalar(
        select(CoreSkillRecord.id).where(
            CoreSkillRecord.person_id == world.doctor.id, CoreSkillRecord.subject == "fire_safety"
        )
    )
    assert record is not None
    now = dt.datetime.now(dt.UTC)
    fixed = msgspec.convert(pf.core_skill(world.doctor, learning_provider="Fire Ltd"), RecordCreate)
    await passport.correct(
        session,
        pf.issuer_principal(world.tree.trust),
        record,
        RecordCorrection(reason="wrong provider", record=fixed),
        now=now,
        keys=data_keys,
    )
    before = await session.scalar(select(func.count()).select_from(Credential))
    step = await credentials.lifecycle_step(session, cf.issuer_of(app), now=now)
    await session.commit()
    assert (step.changes.issued, step.changes.copies_revoked) == (0, 2)
    assert await session.scalar(select(func.count()).select_from(Credential)) == before  # none to wallet keys
    assert await statuses("core_skills") == [1, 1]
    assert await statuses("identity_link") == [0, 0]  # still what the records say
    (body,) = (
        await session.scalars(select(Notification.body).where(Notification.person_id == world.doctor.id))
    ).all()
    assert "core skills training credential(s) in your wallet app were replaced" in body
    assert body.endswith(f"Add your credentials to your wallet again at {ISSUER}/passport/add.")
