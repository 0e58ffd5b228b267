"""Conformance over real HTTP: a real server (``passport serve``) and the independent wallet's HTTP driver.

Issuance: an admin offers the four credential types; the wallet follows the QR link (offer by reference),
reads the issuer and authorization server metadata, redeems the pre-authorized code with the transaction
code, takes a c_nonce and receives a batch of 3 core skills credentials bound to 3 keys, then one of each
other type, and notifies. Presentation: a verifier opens a request; the wallet fetches the signed request
object, checks it against the did:web document and the JWKS, selects by DCQL from the credentials it was
just issued and answers by direct_post; the verifier reads a valid result."""

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from service import auth
from service.db import Database, make_engine
from service.passport import service as passport
from service.passport.encryption import DataKeyStore
from service.passport.schemas import PolicyCreate
from tests.factories import TEST_PASSPHRASE
from tests.live import live_server
from tests.oid4vc import wallet as w
from tests.passport.factories import TODAY, core_skill, health, identity, placement
from tests.verification.factories import THEATRE_POLICY
from tests.workforce.factories import create_person, create_tree

pytestmark = pytest.mark.slow
KINDS = ("core_skills", "occupational_health", "training_placement", "identity_link")


async def _seed(url: str) -> dict[str, Any]:
    database = Database(make_engine(url, pool_size=1))
    now = dt.datetime.now(dt.UTC)
    try:
        async with database.session() as session:
            tree = await create_tree(session)
            doctor = await create_person(
                session, grade="CT2", specialty="general surgery", family_name="Okafor"
            )
            issuer = await auth.create_client(
                session, name="live issuer", role=auth.Role.ISSUER, organisation_code=tree.trust, now=now
            )
            verifier = await auth.create_client(
                session, name="live verifier", role=auth.Role.VERIFIER, organisation_code=tree.site, now=now
            )
            admin = auth.Principal(
                subject="admin-test", kind="client", role=auth.Role.ADMIN, organisation=None
            )
            await passport.create_policy(session, admin, msgspec.convert(THEATRE_POLICY, PolicyCreate), now)
            await session.commit()
            records = [
                core_skill(doctor),
                core_skill(doctor, subject="resuscitation", level=2),
                health(
                    doctor,
                    item="epp_clearance",
                    outcome="cleared",
                    review_date=(TODAY + dt.timedelta(days=365)).isoformat(),
                ),
                health(doctor),
                placement(doctor, tree),
                identity(doctor),
            ]
            return {"doctor": doctor.id, "issuer": issuer, "verifier": verifier, "records": records}
    finally:
        await database.dispose()


def test_issuance_and_presentation_end_to_end_over_http(tmp_path: Path) -> None:
    DataKeyStore(tmp_path / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    with live_server(tmp_path) as live:
        seeded = asyncio.run(_seed(live.env["PASSPORT_DATABASE_URL"]))
        api = httpx.Client(base_url=live.base_url + "/api/v1", timeout=20)
        issuer = {"Authorization": f"Bearer {live.token(seeded['issuer'])}"}
        posted = api.post("/records", json=seeded["records"], headers=issuer)
        assert posted.status_code == 201, posted.text
        admin = {"Authorization": f"Bearer {live.token()}"}
        made = api.post(
            "/credential-offers",
            json={"person_id": str(seeded["doctor"]), "credential_configuration_ids": list(KINDS)},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        link, tx_code = made.json()["deep_link"], made.json()["tx_code"]

        wallet = w.HttpWallet(scheme="http")
        try:
            offer = wallet.fetch_offer(link)
            metadata = wallet.issuer_metadata(offer)
            algorithms = w.check_issuer_metadata(metadata, offer)
            assert set(algorithms) == set(KINDS)
            token = wallet.token(metadata, offer, tx_code)
            assert token.status_code == 200, token.text
            access = token.json()["access_token"]

            batch = [w.HolderKey.generate(algorithms["core_skills"]) for _ in range(3)]
            nonce = wallet.nonce(metadata)
            proofs = [
                w.key_proof(k, issuer=offer["credential_issuer"], nonce=nonce, iat=int(time.time()))
                for k in batch
            ]
            issued = wallet.request_credentials(metadata, access, "core_skills", proofs)
            assert issued.status_code == 200, issued.text
            bound = w.credentials_from_response(issued.json(), batch)
            helds = [w.parse_sd_jwt(text) for _, text in bound]
            assert len({h.payload["status"]["status_list"]["idx"] for h in helds}) == 3
            assert len({str(h.payload["cnf"]) for h in helds}) == 3
            # the status list each points to is served and says valid (0) for all three
            for held in helds:
                reference = held.payload["status"]["status_list"]
                listed = httpx.get(reference["uri"], timeout=10)
                assert listed.status_code == 200
                assert listed.headers["content-type"].startswith("application/statuslist+jwt")
            accepted = wallet.notify(
                metadata, access, issued.json()["notification_id"], "credential_accepted"
            )
            assert accepted.status_code == 204, accepted.text

            wallet_helds, wallet_keys = [helds[0]], [batch[0]]
            for kind in KINDS[1:]:
                key = w.HolderKey.generate(algorithms[kind])
                proof = w.key_proof(
                    key, issuer=offer["credential_issuer"], nonce=wallet.nonce(metadata), iat=int(time.time())
                )
                one = wallet.request_credentials(metadata, access, kind, [proof])
                assert one.status_code == 200, one.text
                ((_, text),) = w.credentials_from_response(one.json(), [key])
                wallet_helds.append(w.parse_sd_jwt(text))
                wallet_keys.append(key)

            reused = wallet.token(metadata, offer, tx_code)
            assert reused.status_code == 400
            assert reused.json()["error"] == "invalid_grant"

            # presentation: the verifier asks, the wallet answers by direct_post
            verifier = {"Authorization": f"Bearer {live.token(seeded['verifier'])}"}
            created = api.post(
                "/presentation-requests",
                json={"policy": "theatre-surgical-trainee", "purpose": "Theatre list on Monday"},
                headers=verifier,
            )
            assert created.status_code == 201, created.text
            links = api.get(f"/presentation-requests/{created.json()['id']}/openid4vp", headers=verifier)
            assert links.status_code == 200, links.text
            request = wallet.fetch_request(links.json()["deep_link"], now=int(time.time()))
            vp_token = w.answer(request, wallet_helds, wallet_keys, iat=int(time.time()))
            answered = wallet.post_response(request, vp_token)
            assert answered.status_code == 200, answered.text
            read = api.get(f"/presentation-requests/{created.json()['id']}", headers=verifier).json()
            assert read["state"] == "answered"
            assert read["result"]["verdict"] == "valid", read["result"]["summary"]
            replayed = wallet.post_response(request, vp_token)
            assert replayed.status_code == 409
        finally:
            wallet.close()
            api.close()
