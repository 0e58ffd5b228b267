"""``passport wallet present REQUEST_URL [--disclose KIND:PATH ...] [--submit]``: answer a verifier.

The wallet signs in (the device grant, as ``fetch``), reads the holder view of the presentation request
(nonce, audience, the claims the verifier's policy needs), and for each credential type the request
looks at builds a presentation of the wallet's credential with exactly the disclosures those needs ask
for (the records they pick and the fields they name: ``policy.disclosures_for``), plus any
``--disclose`` the holder adds, and a key-binding JWT (``kb+jwt``) for the request's nonce and audience,
signed with the wallet's key. Before that it checks each copy it would present against its status list
(:func:`pick`, :mod:`service.wallet.status`): a revoked, suspended or expired copy is passed over for
another valid copy of the same type; a type with none stops the answer before anything is sent, naming
each such type; a copy whose list cannot be fetched or checked is presented with a warning ("status not
checked"). It shows which claims each presentation discloses; with ``--submit`` it
posts them to the request's ``response_uri`` and prints the verdict, otherwise it writes the
submission (``{"presentations": [...]}``) to standard output for the holder to pass on.
"""

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import msgspec

from service import jws
from service.passport import policy as policies
from service.passport import sdjwt
from service.passport.claims import ClaimSet
from service.passport.status_list import CredentialStatus
from service.wallet.status import StatusChecker
from service.wallet.store import StoredCredential, Wallet, WalletError, bound_to

ConcretePath = tuple[str | int, ...]
REQUEST_SUFFIX: Final = "/request"


def add_parser(actions: Any) -> None:
    """The ``present`` action of ``passport wallet`` (wired by ``service/wallet/cli.py``)."""
    present = actions.add_parser("present", help="answer a verifier's presentation request")
    present.add_argument(
        "request_url", help="the request's link (.../api/v1/presentation-requests/<id>/request)"
    )
    present.add_argument(
        "--disclose",
        action="append",
        default=[],
        metavar="KIND:PATH",
        help="disclose more than the request needs, e.g. identity_link:identity/family_name (repeatable)",
    )
    present.add_argument("--submit", action="store_true", help="send the presentations to the verifier")
    present.add_argument("--timeout", type=int, default=600, help="seconds to wait for the sign-in (600)")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _registry_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.endswith(REQUEST_SUFFIX):
        raise WalletError(
            f"{url[:200]} is not a presentation request link (…/presentation-requests/<id>/request)"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _extra(disclose: Sequence[str]) -> dict[str, list[sdjwt.PathSpec]]:
    found: dict[str, list[sdjwt.PathSpec]] = {}
    for item in disclose:
        kind, sep, path = item.partition(":")
        if not sep or not path:
            raise WalletError(
                f"--disclose {item!r}: write KIND:PATH, e.g. identity_link:identity/family_name"
            )
        found.setdefault(kind, []).append(path)
    return found


def choose(held: sdjwt.HeldCredential, kind: str, needs: Sequence[policies.ClaimNeed]) -> list[ConcretePath]:
    """The claims of ``held`` that the needs ask for, nothing more, as paths to present."""
    claim_set = ClaimSet(
        credential_type=kind,  # type: ignore[arg-type]
        vct=str(held.payload.get("vct", "")),
        claims=held.claims,
        disclosable=list(held.paths),
        record_ids=[],
        refresh_on=None,
    )
    return leaves(policies.disclosures_for(claim_set, needs))


def leaves(paths: set[ConcretePath]) -> list[ConcretePath]:
    """The deepest of ``paths``: presenting a path shows everything under it, and the disclosures
    enclosing a path come along by themselves, so a record's own path would show all its fields."""
    return sorted(
        (p for p in paths if not any(len(q) > len(p) and q[: len(p)] == p for q in paths)),
        key=lambda p: [str(x) for x in p],
    )


def kinds_of(view: dict[str, Any], extra: Mapping[str, object]) -> list[str]:
    """The credential types to present: those the request looks at, then those the holder adds."""
    return list(dict.fromkeys([*view["credential_types"], *extra]))


def pick(
    wallet: Wallet, kinds: Sequence[str], checker: StatusChecker, *, now: int
) -> tuple[dict[str, StoredCredential], list[str]]:
    """The copy of each type to present, and what the holder should be told about the choice.

    For each type, the first of the wallet's copies (``<kind>.json`` first) that is bound to the wallet's
    key, in date and valid in its status list; failing that, one whose status could not be checked (told:
    "status not checked"); a type with only revoked, suspended or expired copies stops the answer with a
    :class:`WalletError` naming each such type, before anything is sent (the request stays open)."""
    thumbprint = jws.jwk_thumbprint(wallet.public_jwk())
    chosen: dict[str, StoredCredential] = {}
    notes: list[str] = []
    refused: list[str] = []
    for kind in kinds:
        unchecked: tuple[StoredCredential, str] | None = None
        passed: list[str] = []
        for copy in wallet.copies(kind):
            held = sdjwt.HeldCredential.parse(copy.credential)
            exp = held.payload.get("exp")
            if type(exp) is int and exp <= now:
                passed.append(f"expired on {dt.datetime.fromtimestamp(exp, dt.UTC):%Y-%m-%d}")
                continue
            if not bound_to(copy.credential, thumbprint):
                passed.append("bound to another wallet's key")
                continue
            checked = checker.check(held)
            if checked.status is CredentialStatus.VALID:
                chosen[kind] = copy
                break
            if checked.withdrawn:
                passed.append(checked.words)
            elif unchecked is None:
                unchecked = (copy, checked.reason)
        else:
            if unchecked is not None:
                chosen[kind] = unchecked[0]
                notes.append(f"{kind}: status not checked ({unchecked[1]}); presenting it anyway")
            elif passed:
                refused.append(f"{kind} ({', '.join(dict.fromkeys(passed))})")
            else:
                refused.append(f"{kind} (the wallet holds none)")
            continue
        if passed:
            notes.append(f"{kind}: presenting another copy (the wallet's first is {passed[0]})")
    if refused:
        raise WalletError(
            "not presented, nothing was sent: the wallet has no valid copy of "
            + "; ".join(refused)
            + ". Run `passport wallet fetch` for the current credentials (a revoked or suspended one: "
            "ask its issuer), then answer the request again"
        )
    return chosen, notes


def build(
    wallet: Wallet,
    view: dict[str, Any],
    *,
    extra: dict[str, list[sdjwt.PathSpec]],
    now: int,
    copies: Mapping[str, StoredCredential] | None = None,
) -> tuple[list[str], dict[str, list[str]]]:
    """The presentations for a request's holder view, and the claims each discloses (by type). ``copies``:
    the copy of each type to present (:func:`pick`); by default the wallet's first."""
    needs = msgspec.convert(view["needs"], list[policies.ClaimNeed])
    key = wallet.key()
    presentations: list[str] = []
    shown: dict[str, list[str]] = {}
    for kind in kinds_of(view, extra):
        copy = copies[kind] if copies is not None and kind in copies else wallet.credential(kind)
        held = sdjwt.HeldCredential.parse(copy.credential)
        paths: list[sdjwt.PathSpec] = [*choose(held, kind, needs), *extra.get(kind, [])]
        try:
            text = held.present(paths, holder_key=key, aud=view["audience"], nonce=view["nonce"], iat=now)
        except sdjwt.SdJwtError as exc:
            raise WalletError(f"{kind}: {exc}") from None
        presented = sdjwt.HeldCredential.parse(text[: text.rindex("~") + 1])
        shown[kind] = [sdjwt.format_path(p) for p in presented.paths]
        presentations.append(text)
    return presentations, shown


def present(
    folder: Path,
    request_url: str,
    *,
    disclose: Sequence[str] = (),
    submit: bool = False,
    timeout: int = 600,
    on_code: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Answer a request; the verification (``submit``) or the submission. Raises :class:`WalletError`."""
    from service.wallet.cli import sign_in  # the device grant, shared with ``fetch``

    wallet = Wallet(folder)
    wallet.key()
    registry = _registry_of(request_url)
    extra = _extra(disclose)

    def show(grant: dict[str, Any]) -> None:
        _err(f"To sign in, open {grant['verification_uri']} and enter the code {grant['user_code']}")

    with httpx.Client(base_url=registry, timeout=30) as client:
        token = sign_in(client, timeout=timeout, on_code=on_code or show)
        headers = {"Authorization": f"Bearer {token}"}
        read = client.get(request_url, headers=headers)
        if read.status_code != 200:
            raise WalletError(f"the request could not be read: {_problem(read)}")
        view: dict[str, Any] = read.json()
        if view.get("state") != "pending":
            raise WalletError(f"the request is {view.get('state')}: ask the verifier for a new one")
        _err(
            f"{view['verifier_organisation_name']} ({view['verifier_organisation_code']}) asks, for "
            f"{view['policy']['title']}: {view['purpose']}"
        )
        now = int(time.time())
        copies, notes = pick(wallet, kinds_of(view, extra), StatusChecker(wallet, client=client), now=now)
        for note in notes:
            _err(f"  {note}")
        presentations, shown = build(wallet, view, extra=extra, now=now, copies=copies)
        for kind, names in shown.items():
            _err(f"  {kind}: discloses {', '.join(names) or 'nothing but the credential itself'}")
        if not submit:
            return {"presentations": presentations}
        answered = client.post(view["response_uri"], headers=headers, json={"presentations": presentations})
        if answered.status_code != 201:
            raise WalletError(f"the verifier's registry refused the answer: {_problem(answered)}")
        result: dict[str, Any] = answered.json()
        return result


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return f"{body.get('detail') or body.get('error')} (HTTP {response.status_code})"


def run(args: argparse.Namespace) -> None:
    result = present(
        args.dir, args.request_url, disclose=args.disclose, submit=args.submit, timeout=args.timeout
    )
    if not args.submit:
        _out(json.dumps(result))
        return
    _out(f"verdict: {result['verdict']}")
    _out(result["summary"])
    if result["verdict"] == "invalid":
        raise WalletError("the verifier refused the presentation")
