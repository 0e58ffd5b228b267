"""Verdicts of the presentation verifier on a corpus, as JSON: run once compiled, once as Python.

``python -m tests.passport.native_parity < corpus.json`` verifies every presentation and status list
token of the corpus (made by :func:`corpus`) and prints what came out. The native build test runs it
with ``PASSPORT_NATIVE=false`` in a subprocess and compares with the same run in the test's own process
(compiled): the compiled modules must give every input the same report, field for field.
"""

import json
import random
import sys
from typing import Any

from service import jws, native
from service.passport import presentation, status_list
from tests.passport import credential_helpers as h

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.=+/ é"
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"now": h.NOW + 400},  # the key-binding JWT is stale
    {"now": h.NOW + 2 * 365 * 86400},  # the credential has expired
    {"now": h.NOW - 7200},  # not yet valid
    {"nonce": "another-nonce"},
    {"audience": "https://elsewhere.example"},
    {"revoked": True},
    {"no_nonce_hook": True},
)


def _mutants(text: str, rng: random.Random, count: int) -> list[str]:
    found = []
    for _ in range(count):
        at = rng.randrange(len(text))
        found.append(text[:at] + rng.choice(ALPHABET) + text[at + 1 :])
    for _ in range(count // 4):
        found.append(text[: rng.randrange(len(text))])
    parts = text.split("~")
    for index in range(1, len(parts) - 1):
        found.append("~".join(parts[:index] + parts[index + 1 :]))  # a disclosure left out
        found.append("~".join([*parts[: index + 1], parts[index], *parts[index + 1 :]]))  # twice
    found.append("~".join([parts[0], *reversed(parts[1:-1]), parts[-1]]))
    found.append("~".join(parts[:-1]) + "~")  # no key-binding JWT
    found.append(text + "~junk")
    return found


def corpus(seed: int = 9901, mutants: int = 60) -> dict[str, Any]:
    """Presentations and status list tokens, good and damaged, with what a verifier needs."""
    rng = random.Random(seed)
    wallet = h.Wallet()
    bases = [
        wallet.present(("records/0",)),
        wallet.present(("records/0", "holder/legal_name")),
        wallet.present(("records/0", "records/1", "records/2")),
        wallet.present(()),
    ]
    presentations = [text for base in bases for text in (base, *_mutants(base, rng, mutants))]
    lst = status_list.StatusList(status_list.MIN_LIST_SIZE)
    lst[1234] = status_list.Status.INVALID
    token = status_list.sign_token(
        lst, key=wallet.issuer, kid=h.kid_of(wallet.issuer), uri=h.LIST_URI, iat=h.NOW, ttl=3600
    )
    return {
        "issuer_jwk": {**jws.public_jwk(wallet.issuer.public_key()), "kid": h.kid_of(wallet.issuer)},
        "presentations": presentations,
        "tokens": [token, *_mutants(token, rng, mutants)],
    }


def _report(report: presentation.VerificationReport) -> Any:
    reference = report.status_reference
    return {
        "checks": [list(check) for check in report.checks],
        "valid": report.valid,
        "code": report.code,
        "claims": report.claims,
        "disclosed": [list(path) for path in report.disclosed],
        "header": report.header,
        "issuer": report.issuer,
        "vct": report.vct,
        "status_reference": None if reference is None else [reference.uri, reference.idx],
        "nonce": report.nonce,
    }


def _valid(reference: status_list.StatusReference) -> status_list.CredentialStatus:
    return status_list.CredentialStatus.VALID


def _revoked(reference: status_list.StatusReference) -> status_list.CredentialStatus:
    return status_list.CredentialStatus.INVALID


def verdicts(data: dict[str, Any]) -> dict[str, Any]:
    """Every presentation under every variant of the verifier's inputs, and every token."""
    key = jws.key_from_jwk(data["issuer_jwk"])
    keys = presentation.keys_by_kid([key])
    results = []
    for number, text in enumerate(data["presentations"]):
        for variant in VARIANTS:
            report = presentation.verify_presentation(
                text.encode("utf-8") if number % 5 == 0 else text,  # bytes too, as the HTTP layer gives
                issuer_keys=keys,
                status=_revoked if "revoked" in variant else _valid,
                audience=variant.get("audience", h.AUDIENCE),
                nonce=variant.get("nonce", h.NONCE),
                now=variant.get("now", h.NOW),
                nonce_unused=None if "no_nonce_hook" in variant else (lambda nonce: True),
            )
            results.append(_report(report))
    tokens: list[list[Any]] = []
    for token in data["tokens"]:
        try:
            verified = status_list.verify_token(token, key, uri=h.LIST_URI, now=h.NOW + 60)
        except (status_list.StatusListError, jws.JWSError) as error:
            tokens.append(["error", type(error).__name__, error.code, str(error)])
        else:
            statuses = [verified.status_list.status_of(index) for index in (0, 1234, 4321)]
            tokens.append(["ok", verified.uri, verified.iat, verified.exp, verified.ttl, statuses])
    return {"native": native.state().active, "presentations": results, "tokens": tokens}


def main() -> None:
    json.dump(verdicts(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
