"""The demo doctor's wallet, outside the browser, for the provider HR browser test: credentials issued
over HTTP by OpenID4VCI (an offer the demo operator's client makes), then an answer to a presentation
request by OpenID4VP ``direct_post``, with the independent test wallet (``tests/oid4vc/wallet.py``)."""

import asyncio
import concurrent.futures
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.auth import Role
from service.db import Database, make_engine
from service.web import service as web
from tests.browser.harness import DemoServer
from tests.oid4vc import wallet as w

KINDS = ("core_skills", "occupational_health", "training_placement", "identity_link")


def client_token(server: DemoServer, role: str) -> str:
    clients = json.loads((Path(server.env["PASSPORT_VAR_DIR"]) / "demo-clients.json").read_text())["clients"]
    found = clients[role]
    response = httpx.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(found["client_id"], found["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def _doctor(url: str) -> uuid.UUID:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            # the demo doctor: the first holder the demo sign-in page lists (the demo colleagues follow)
            user = (await web.demo_users(session))[Role.HOLDER][0]
            assert user.person_id is not None, "the demo doctor's account is linked to a person"
            return user.person_id
    finally:
        await database.dispose()


def demo_doctor(server: DemoServer) -> uuid.UUID:
    """The person of the demo doctor's account (read in a thread: Playwright runs this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _doctor(server.env["PASSPORT_DATABASE_URL"])).result(timeout=30)


@dataclass
class DoctorWallet:
    helds: list[w.Held]
    keys: list[w.HolderKey]

    def answer(self, deep_link: str) -> dict[str, object]:
        """Answer the OpenID4VP request of ``deep_link``, disclosing what its DCQL query asks for."""
        wallet = w.HttpWallet(scheme="http")
        try:
            request = wallet.fetch_request(deep_link, now=int(time.time()))
            vp_token = w.answer(request, self.helds, self.keys, iat=int(time.time()))
            posted = wallet.post_response(request, vp_token)
            assert posted.status_code == 200, posted.text
            body: dict[str, object] = posted.json()
            return body
        finally:
            wallet.close()


def doctor_wallet(server: DemoServer) -> DoctorWallet:
    """The demo doctor's four credentials, issued by the demo registry to fresh holder keys."""
    admin = {"Authorization": f"Bearer {client_token(server, 'admin')}"}
    made = httpx.post(
        server.base_url + "/api/v1/credential-offers",
        json={"person_id": str(demo_doctor(server)), "credential_configuration_ids": list(KINDS)},
        headers=admin,
        timeout=20,
    )
    assert made.status_code == 201, made.text
    wallet = w.HttpWallet(scheme="http")
    try:
        offer = wallet.fetch_offer(made.json()["deep_link"])
        metadata = wallet.issuer_metadata(offer)
        algorithms = w.check_issuer_metadata(metadata, offer)
        token = wallet.token(metadata, offer, made.json()["tx_code"])
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        helds, keys = [], []
        for kind in KINDS:
            key = w.HolderKey.generate(algorithms[kind])
            proof = w.key_proof(
                key, issuer=offer["credential_issuer"], nonce=wallet.nonce(metadata), iat=int(time.time())
            )
            issued = wallet.request_credentials(metadata, access, kind, [proof])
            assert issued.status_code == 200, issued.text
            ((_, text),) = w.credentials_from_response(issued.json(), [key])
            helds.append(w.parse_sd_jwt(text))
            keys.append(key)
        return DoctorWallet(helds, keys)
    finally:
        wallet.close()
