"""OpenID4VCI batch issuance over HTTP: one wallet receives 10 credentials bound to 10 keys.

A real server (``passport serve``, 1 worker, SQLite in a temporary folder, as ``tests/live.py`` starts it)
and the independent test wallet (``tests/oid4vc/wallet.py``, httpx). Per round, with an offer made in
advance (offers are single use): the token request with the transaction code, the nonce request, 10 key
proofs signed by the wallet (ES256) and the credential request carrying them; the server checks the 10
proofs, allocates 10 status list entries, signs 10 SD-JWT VCs and re-signs the status list. Timed from
the token request to the parsed response ("end to end"), and the credential request alone.

    python bench/oid4vci_batch.py [--rounds 30] [--batch 10]
"""

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_MS = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()

    import httpx

    from service.passport.encryption import DataKeyStore
    from tests.factories import TEST_PASSPHRASE
    from tests.live import live_server
    from tests.oid4vc import wallet as w
    from tests.oid4vc.test_live import _seed

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        DataKeyStore(tmp / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
        with live_server(tmp) as live:
            seeded = asyncio.run(_seed(live.env["PASSPORT_DATABASE_URL"]))
            api = httpx.Client(base_url=live.base_url + "/api/v1", timeout=30)
            issuer = {"Authorization": f"Bearer {live.token(seeded['issuer'])}"}
            api.post("/records", json=seeded["records"], headers=issuer).raise_for_status()
            admin = {"Authorization": f"Bearer {live.token()}"}
            wallet = w.HttpWallet(scheme="http")
            offers = []
            for _ in range(args.rounds + 3):
                made = api.post(
                    "/credential-offers",
                    json={
                        "person_id": str(seeded["doctor"]),
                        "credential_configuration_ids": ["core_skills"],
                    },
                    headers=admin,
                )
                made.raise_for_status()
                offer = wallet.fetch_offer(made.json()["deep_link"])
                offers.append((offer, made.json()["tx_code"]))
            metadata = wallet.issuer_metadata(offers[0][0])
            total, credential_only = [], []
            for round_no, (offer, tx_code) in enumerate(offers):
                keys = [w.HolderKey.generate("ES256") for _ in range(args.batch)]
                started = time.perf_counter()
                token = wallet.token(metadata, offer, tx_code)
                token.raise_for_status()
                nonce = wallet.nonce(metadata)
                proofs = [
                    w.key_proof(k, issuer=offer["credential_issuer"], nonce=nonce, iat=int(time.time()))
                    for k in keys
                ]
                asked = time.perf_counter()
                response = wallet.request_credentials(
                    metadata, token.json()["access_token"], "core_skills", proofs
                )
                response.raise_for_status()
                bound = w.credentials_from_response(response.json(), keys)
                ended = time.perf_counter()
                if len(bound) != args.batch:
                    raise SystemExit(f"{len(bound)} credentials, not {args.batch}")
                if round_no >= 3:  # warm-up rounds are not counted
                    total.append((ended - started) * 1000)
                    credential_only.append((ended - asked) * 1000)
            wallet.close()
            api.close()

    def describe(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return f"median {statistics.median(values):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"

    print(f"batch of {args.batch}, {len(total)} rounds (after 3 warm-up rounds), 1 worker, SQLite")
    print(f"end to end (token, nonce, {args.batch} proofs, credential request): {describe(total)}")
    print(f"credential request alone: {describe(credential_only)}")
    verdict = "met" if statistics.median(total) < GOAL_MS else "NOT met"
    print(f"goal: end to end under {GOAL_MS:.0f} ms: {verdict} (median)")


if __name__ == "__main__":
    main()
