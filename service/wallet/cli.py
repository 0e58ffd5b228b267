"""``passport wallet init|fetch|list|verify``: the reference wallet on the command line.

``fetch --registry URL`` signs in with the OAuth 2.0 device grant (it prints a code to enter at
``URL/device``), registers the wallet key with a proof of possession (a JWS of ``typ
holder-key-proof+jwt`` over the registry's nonce), downloads the holder's credentials and the registry's
credential keys. ``verify`` checks a credential offline against a saved JWKS.
"""

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec

from service import jws
from service.passport import presentation, sdjwt
from service.wallet import present
from service.wallet.status import StatusChecker, issuer_keys
from service.wallet.store import JWKS_FILE, KINDS, StoredCredential, Wallet, WalletError, bound_to

CLIENT_ID: Final = "passport-wallet"
GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
PROOF_TYP: Final = "holder-key-proof+jwt"
DEFAULT_DIR: Final = Path("wallet")


def add_parser(sub: Any, handler: Callable[..., None]) -> None:
    group = sub.add_parser("wallet", help="the reference wallet: holder key and credentials in a folder")
    group.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the wallet folder (./wallet)")
    actions = group.add_subparsers(dest="action", required=True)
    actions.add_parser("init", help="make the folder and a P-256 holder key")
    fetch = actions.add_parser("fetch", help="sign in (device code), register the key, download credentials")
    fetch.add_argument("--registry", required=True, help="the registry's URL, e.g. http://127.0.0.1:8000")
    fetch.add_argument("--timeout", type=int, default=600, help="seconds to wait for the approval (600)")
    listing = actions.add_parser("list", help="each credential: type, claims, expiry, status")
    listing.add_argument("--check-status", action="store_true", help="fetch each status list (online)")
    verify = actions.add_parser("verify", help="check a credential offline against a saved JWKS")
    verify.add_argument(
        "credential", help="a credential type held in the wallet (e.g. core_skills) or a file"
    )
    verify.add_argument("--jwks", type=Path, help="the issuer's JWKS file (default: the one fetch saved)")
    present.add_parser(actions)
    group.set_defaults(func=handler)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(body.get("detail") or body.get("error") or f"HTTP {response.status_code}")


def sign_in(client: httpx.Client, *, timeout: int, on_code: Callable[[dict[str, Any]], None]) -> str:
    """The device grant: an access token of the holder, once they approve at the verification URI."""
    started = client.post("/oauth/device_authorization", data={"client_id": CLIENT_ID})
    if started.status_code != 200:
        raise WalletError(f"the registry refused the sign-in: {_problem(started)}")
    grant = started.json()
    on_code(grant)
    interval = int(grant.get("interval", 5))
    deadline = time.monotonic() + min(timeout, int(grant.get("expires_in", 600)))
    while time.monotonic() < deadline:
        polled = client.post(
            "/oauth/token",
            data={"grant_type": GRANT, "device_code": grant["device_code"], "client_id": CLIENT_ID},
        )
        if polled.status_code == 200:
            token: str = polled.json()["access_token"]
            return token
        error = (
            polled.json().get("error") if polled.headers.get("content-type", "").find("json") >= 0 else None
        )
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise WalletError(f"sign-in ended: {error or _problem(polled)}")
        time.sleep(interval)
    raise WalletError("sign-in timed out: nobody approved the code")


def register_key(client: httpx.Client, wallet: Wallet, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    nonce = client.post("/api/v1/holder/nonce", headers=headers)
    if nonce.status_code != 201:
        raise WalletError(f"no nonce: {_problem(nonce)}")
    body = nonce.json()
    claims = {"nonce": body["nonce"], "aud": body["audience"], "iat": int(time.time())}
    proof = jws.sign(
        claims, wallet.key(), typ=body.get("proof_typ", PROOF_TYP), headers={"jwk": wallet.public_jwk()}
    )
    registered = client.post("/api/v1/holder/keys", headers=headers, json={"proof": proof})
    if registered.status_code != 201:
        raise WalletError(f"the key was not registered: {_problem(registered)}")
    result: dict[str, Any] = registered.json()
    return result


def _own_copies(wallet: Wallet, items: list[StoredCredential]) -> list[StoredCredential]:
    """The copies bound to this wallet's key (the registry also lists those a wallet app holds, which this
    wallet cannot present), valid before suspended and newest first within a type."""
    thumbprint = jws.jwk_thumbprint(wallet.public_jwk())
    own = [i for i in items if bound_to(i.credential, thumbprint)]
    own.sort(key=lambda i: i.issued_at, reverse=True)
    return sorted(own, key=lambda i: i.state != "valid")


def download(client: httpx.Client, wallet: Wallet, token: str) -> list[StoredCredential]:
    listed = client.get("/api/v1/holder/credentials", headers={"Authorization": f"Bearer {token}"})
    if listed.status_code != 200:
        raise WalletError(f"could not download credentials: {_problem(listed)}")
    items = _own_copies(wallet, msgspec.convert(listed.json()["items"], list[StoredCredential]))
    wallet.save_credentials(items)
    issuer = client.get("/.well-known/jwt-vc-issuer")
    if issuer.status_code == 200:
        wallet.save_jwks(issuer.json()["jwks"])
    return items


def fetch(
    folder: Path,
    registry: str,
    *,
    timeout: int = 600,
    on_code: Callable[[dict[str, Any]], None] | None = None,
) -> list[StoredCredential]:
    wallet = Wallet(folder)
    wallet.key()  # refuse early without a key

    def show(grant: dict[str, Any]) -> None:
        _out(f"To sign in, open {grant['verification_uri']} and enter the code {grant['user_code']}")
        _out(f"  (or open {grant['verification_uri_complete']}); waiting for your approval...")

    with httpx.Client(base_url=registry.rstrip("/"), timeout=30) as client:
        token = sign_in(client, timeout=timeout, on_code=on_code or show)
        registered = register_key(client, wallet, token)
        items = download(client, wallet, token)
    meta = wallet.meta()
    meta.update(
        registry=registry.rstrip("/"),
        key_thumbprint=registered["thumbprint"],
        registered_at=registered["registered_at"],
    )
    wallet.save_meta(meta)
    return items


def _claim_names(held: sdjwt.HeldCredential) -> list[str]:
    names: list[str] = []
    for name, value in held.claims.items():
        if name in sdjwt.NEVER_DISCLOSABLE or name in ("cnf", "_sd_alg"):
            continue
        records = value if isinstance(value, list) else [value]
        fields = sorted({f for r in records if isinstance(r, dict) for f in r})
        names.append(f"{name} ({len(records)}: {', '.join(fields)})" if fields else name)
    return names


def list_credentials(folder: Path, *, check_status: bool = False) -> None:
    wallet = Wallet(folder)
    items = wallet.credentials()
    if not items:
        _out("no credentials: run `passport wallet fetch --registry URL`")
        return
    now = dt.datetime.now(dt.UTC)
    with StatusChecker(wallet) as checker:
        for stored in items:
            held = sdjwt.HeldCredential.parse(stored.credential)
            expires = dt.datetime.fromtimestamp(int(held.payload["exp"]), dt.UTC)
            status = stored.state
            if check_status:
                checked = checker.check(held)
                status = checked.status.value
                if checked.reason:
                    status = f"{stored.state} as fetched, not checked: {checked.reason}"
            if expires <= now:
                status += ", expired"
            disclosures = len(held.disclosures)
            _out(f"{stored.kind}  ({held.payload.get('vct')})")
            _out(f"  expires {expires:%Y-%m-%d %H:%M} UTC; status {status}; {disclosures} disclosures")
            for line in _claim_names(held):
                _out(f"  claims: {line}")


def verify(folder: Path, credential: str, jwks: Path | None) -> bool:
    wallet = Wallet(folder)
    if credential in KINDS:
        text = wallet.credential(credential).credential
    else:
        path = Path(credential)
        try:
            raw = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise WalletError(f"{credential}: neither a credential type nor a readable file") from None
        text = json.loads(raw)["credential"] if raw.startswith("{") else raw
    report = presentation.verify_credential(
        text, issuer_keys=issuer_keys(jwks or folder / JWKS_FILE), now=int(time.time())
    )
    for check in report.checks:
        if check.outcome != "skipped":
            reason = f" ({check.code}: {check.reason})" if check.outcome == "failed" else ""
            _out(f"  {check.name}: {check.outcome}{reason}")
    _out(
        "valid: signed by the registry, untampered, in date" if report.valid else f"NOT valid: {report.code}"
    )
    return report.valid


def run(args: argparse.Namespace) -> None:
    folder: Path = args.dir
    if args.action == "init":
        thumbprint = Wallet(folder).init()
        _out(f"wallet ready in {folder}: holder key {thumbprint} (P-256)")
    elif args.action == "fetch":
        items = fetch(folder, args.registry, timeout=args.timeout)
        kinds = ", ".join(i.kind for i in items)
        _out(f"{len(items)} credential(s) saved in {folder / 'credentials'}: {kinds}")
    elif args.action == "list":
        list_credentials(folder, check_status=args.check_status)
    elif args.action == "present":
        present.run(args)
    elif not verify(folder, args.credential, args.jwks):
        raise WalletError("the credential did not verify")
