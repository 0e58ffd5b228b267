"""The built-in browser wallet (for doctors without a wallet app) and "share with a provider".

- ``GET /wallet``: the wallet page. Its script (``static/wallet.js``) makes the holder keys with WebCrypto
  (ECDSA P-256, not extractable), keeps them and the credentials in the browser's IndexedDB, and lists
  them. The registry never sees a private key.
- ``POST /wallet/offer``: a small JSON route for that script: an OpenID4VCI offer of every credential
  type to the signed-in doctor (always themselves), with its transaction code (decision 0033: the
  doctor's signed-in session is the second channel). CSRF-protected like a form (the script posts the
  page's token as the ``csrf_token`` form field); refusals are problem details, as for the API. The script
  then runs the pre-authorized code flow against the public endpoints, as any wallet does.
- ``GET /wallet/changes``: JSON for that script: the signed-in doctor's revoked and suspended credentials
  by holder key, with the day of the change, asked for only once a status list shows a copy withdrawn
  (the script checks every copy against its status list itself).
- ``GET /wallet/share?client_id=...&request_uri=...``: "Share with a provider": the query of the
  ``openid4vp://`` link of a provider's request. The page says who asks, why, under which policy and what
  each rule needs (:func:`service.verification.service.holder_view`); the script fetches the signed
  request object, checks it, lets the doctor choose what to disclose and answers by ``direct_post``.
  Without parameters (or with ``?link=...``) it reads a pasted link.

Only holders may open these pages (``docs/web.md``).
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec
from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Response

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Principal, Role, requires
from service.credentials import service as credentials
from service.credentials.controllers import issuer_of
from service.errors import EXCEPTION_HANDLERS, NotFound, ServiceError, Unauthorized
from service.errors import handle_service_error as problem_for
from service.oid4vc import authorization, metadata
from service.oid4vc import service as oid4vc
from service.oid4vc.schemas import OfferCreate
from service.passport.claims import HOLDER_ID, SPECS
from service.passport.cstf import SUBJECTS, subject_name
from service.passport.policy import OUTCOME_LABELS, RuleRequirement
from service.passport.schemas import OH_ITEM_NAMES
from service.verification import service as verification
from service.verification.schemas import HolderRequestView
from service.web.pages import csrf_guard, now_of, redirect, render, settings_of
from service.web.views import FormErrors

HOLDERS: Final = (Role.HOLDER,)
SCRIPTS: Final = ["wallet.js"]
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_LINK: Final = 2048
"""Longest pasted link or query parameter read (a real one is under 200 characters)."""
CHECKS_PAGE: Final = "/passport/checks"
CHANGES_URL: Final = "/wallet/changes"
KIND_NAMES: Final = {kind: spec.name for kind, spec in SPECS.items()}
LABELS: Final = {
    kind: {HOLDER_ID.name: HOLDER_ID.label, spec.container: spec.container_label}
    | {f.name: f.label for f in spec.fields}
    for kind, spec in SPECS.items()
}
"""The words of each claim, by credential type, for the script's lists and checkboxes."""

VALUE_WORDS: Final = {
    "subject": {code: subject.name for code, subject in SUBJECTS.items()},
    "item": dict(OH_ITEM_NAMES),
    "outcome": {code: words[:1].upper() + words[1:] for code, words in OUTCOME_LABELS.items()},
    "learning_method": {
        "e_learning": "e-learning",
        "face_to_face": "Face to face",
        "blended": "Blended",
        "assessment": "Assessment",
    },
}
"""The words of coded values ("fire_safety" is "Fire safety"), by field, for the share page's checkboxes."""


def _person(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.person_id or "")
    except ValueError:  # holders are provisioned with their person record; never otherwise
        raise NotFound(
            "Your account is not linked to a person record: ask your registry administrator."
        ) from None


def _json(data: Mapping[str, Any]) -> str:
    """Data for the page's script, put in a ``data-`` attribute (escaped by the template)."""
    return msgspec.json.encode(data).decode("utf-8")


# ---------------------------------------------------------------- the wallet


@get("/wallet", name="web_wallet", guards=[requires(*HOLDERS)])
async def wallet_page(request: Request[Any, Any, Any], principal: CurrentPrincipal) -> Response[str]:
    person = _person(principal)
    data = {
        "holder": str(person),
        "offer_url": "/wallet/offer",
        "changes_url": CHANGES_URL,
        "kind_names": KIND_NAMES,
        "labels": LABELS,
    }
    return await render(request, "wallet/index.html", scripts=SCRIPTS, wallet_data=_json(data))


def _script_refusal(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    """Problem details for the wallet's script; a signed-out doctor is told to sign in again."""
    if isinstance(exc, Unauthorized):
        exc = Unauthorized("You are signed out: sign in again, then add your credentials.", code=exc.code)
    return problem_for(request, exc)


SCRIPT_HANDLERS: Final = {**EXCEPTION_HANDLERS, ServiceError: _script_refusal}
"""The offer route answers the wallet's script: problem details (RFC 9457), never an HTML page."""


class WalletOffer(msgspec.Struct, frozen=True, kw_only=True):
    """What the built-in wallet needs to start the pre-authorized code flow (decision 0033)."""

    credential_offer_uri: str
    tx_code: str
    """The offer's transaction code, for the doctor's own browser only: never shown, never stored."""
    expires_at: dt.datetime
    credential_configuration_ids: list[str]


@post(
    "/wallet/offer",
    name="web_wallet_offer",
    guards=[requires(*HOLDERS), csrf_guard],
    status_code=201,
    exception_handlers=SCRIPT_HANDLERS,
)
async def wallet_offer(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[WalletOffer]:
    """An offer of every credential type to the signed-in doctor, as ``POST /api/v1/credential-offers``
    does for a holder (themselves only), answered to their own page with its transaction code."""
    person = _person(principal)
    audit.set_subject(request, f"person:{person}")
    created = await oid4vc.create_offer(
        db_session,
        issuer_of(request),
        principal,
        OfferCreate(person_id=person, credential_configuration_ids=metadata.configuration_ids()),
        now=now_of(request),
    )
    body = WalletOffer(
        credential_offer_uri=created.credential_offer_uri,
        tx_code=created.tx_code,
        expires_at=created.expires_at,
        credential_configuration_ids=created.credential_configuration_ids,
    )
    return Response(body, status_code=201, headers=NO_STORE)


class WalletChange(msgspec.Struct, frozen=True, kw_only=True):
    """A credential of the signed-in doctor that is no longer valid, named by the key it is bound to (each
    copy in the browser wallet has its own): the script says when its copy was revoked or suspended."""

    thumbprint: str
    """RFC 7638 thumbprint of the holder key in the credential's ``cnf``."""
    state: str
    changed_on: str | None
    """The day of the change, as pages write a day ("2026-12-01"); never the reason (it may be health)."""
    superseded: bool
    """Revoked because a newer credential replaced it (a record changed)."""


class WalletChanges(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WalletChange]


def _day(at: dt.datetime | None) -> str | None:
    return None if at is None else at.date().isoformat()


@get(
    "/wallet/changes",
    name="web_wallet_changes",
    guards=[requires(*HOLDERS)],
)
async def wallet_changes(db_session: DbSession, principal: CurrentPrincipal) -> Response[WalletChanges]:
    """The signed-in doctor's revoked and suspended credentials, by holder key, with the day of the change:
    asked for by the script only once a status list shows a copy withdrawn (the status list itself says
    nothing of when), read without opening any credential (``credentials.holder_withdrawn``)."""
    person = _person(principal)
    found: dict[str, WalletChange] = {}
    withdrawn = await credentials.holder_withdrawn(db_session, person)
    for thumbprint, state, changed_at, superseded_by in withdrawn:
        if thumbprint not in found:  # the latest change of each key (they come latest first)
            found[thumbprint] = WalletChange(
                thumbprint=thumbprint,
                state=state,
                changed_on=_day(changed_at),
                superseded=superseded_by is not None,
            )
    return Response(WalletChanges(items=list(found.values())), headers=NO_STORE)


# ---------------------------------------------------------------- share with a provider


class LinkProblem(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def read_link(text: str) -> tuple[str, str]:
    """``client_id`` and ``request_uri`` of a pasted provider link: ``openid4vp://?...``, this page's
    address (``.../wallet/share?...``), or just the query; :class:`LinkProblem` otherwise."""
    text = text.strip()
    if not text:
        raise LinkProblem("link", "Paste the link the provider gave you")
    if len(text) > MAX_LINK:
        raise LinkProblem("link", f"Is longer than {MAX_LINK} characters: it is not a provider's link")
    query = urlsplit(text).query if "?" in text else text
    params = parse_qs(query, keep_blank_values=True)
    client_id, request_uri = params.get("client_id", []), params.get("request_uri", [])
    if len(client_id) != 1 or len(request_uri) != 1:
        raise LinkProblem(
            "link",
            "Is not a provider's request link: it has no client_id and request_uri (or has them twice)",
        )
    return client_id[0], request_uri[0]


def request_id_of(base_url: str, client_id: str, request_uri: str) -> uuid.UUID:
    """The presentation request a provider's link names, once it is shown to be one of this registry's:
    ``client_id`` is the registry's client identifier and ``request_uri`` its request object address."""
    expected_client = authorization.client_id(base_url)
    if len(client_id) > MAX_LINK or client_id != expected_client:
        raise LinkProblem(
            "client_id",
            f"Is not this registry ({expected_client}): the built-in wallet answers only this registry's "
            "requests",
        )
    if len(request_uri) > MAX_LINK:
        raise LinkProblem("request_uri", "Is too long to be a request address")
    parts = urlsplit(request_uri)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise LinkProblem("request_uri", "Is not a web address")
    ours = urlsplit(base_url.rstrip("/"))
    if (parts.scheme, parts.netloc) != (ours.scheme, ours.netloc):
        raise LinkProblem(
            "request_uri", f"Is on another site ({parts.scheme}://{parts.netloc}), not on this registry"
        )
    prefix = ours.path + oid4vc.REQUESTS_PATH + "/"
    tail = parts.path.removeprefix(prefix) if parts.path.startswith(prefix) else ""
    try:
        found = uuid.UUID(tail) if tail and "/" not in tail else None
    except ValueError:
        found = None
    if found is None or parts.query or parts.fragment or request_uri != oid4vc.request_uri(base_url, found):
        raise LinkProblem("request_uri", "Is not the address of a presentation request of this registry")
    return found


def need_groups(requirements: list[RuleRequirement]) -> list[dict[str, Any]]:
    """Each rule's needs with the words the page shows next to a claim ("needed for: Fire safety in
    date"): a core skills rule per subject, any other rule by its description."""
    found: list[dict[str, Any]] = []
    for requirement in requirements:
        for need in requirement.needs:
            subject = (need.where or {}).get("subject")
            if requirement.type == "core_skills" and subject is not None:
                label = f"{subject_name(subject)} in date"
            else:
                label = requirement.description
            found.append(
                {
                    "rule": requirement.index,
                    "label": label,
                    "credential_type": need.credential_type,
                    "path": need.path,
                    "where": need.where,
                }
            )
    return found


def _where_text(where: Mapping[str, str] | None) -> str:
    """``{"subject": "fire_safety"}`` -> ``Fire safety``: which record a need picks, in words."""
    names = []
    for key, value in (where or {}).items():
        if key == "subject":
            names.append(subject_name(value))
        elif key == "item":
            names.append(OH_ITEM_NAMES.get(value, value))
        else:
            names.append(value)
    return ", ".join(names)


def _rule_rows(requirements: list[RuleRequirement]) -> list[dict[str, Any]]:
    """The rules as the page lists them: what each needs, in words."""
    rows = []
    for requirement in requirements:
        wanted: dict[str, list[str]] = {}
        for need in requirement.needs:
            labels = LABELS.get(need.credential_type, {})
            field = str(need.path[-1])
            kind = KIND_NAMES.get(need.credential_type, need.credential_type)
            where = _where_text(need.where)
            key = f"{kind}, the {where} record" if where else kind
            label = labels.get(field, field)
            wanted.setdefault(key, []).append(label if label[1:2].isupper() else label.lower())
        rows.append(
            {
                "index": requirement.index,
                "description": requirement.description,
                "needs": [f"{where}: {', '.join(fields)}" for where, fields in wanted.items()],
            }
        )
    return rows


async def _paste_form(
    request: Request[Any, Any, Any], *, link: str = "", errors: FormErrors | None = None, status: int = 200
) -> Response[str]:
    return await render(request, "wallet/share_link.html", status=status, link=link, errors=errors)


def _link_errors(problem: LinkProblem) -> FormErrors:
    errors = FormErrors()
    reason = problem.reason if problem.field == "link" else f"{problem.field}: {problem.reason}"
    errors.add("link", reason)
    return errors


@get("/wallet/share", name="web_wallet_share", guards=[requires(*HOLDERS)])
async def share(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    client_id: FromQuery[str | None] = None,
    request_uri: FromQuery[str | None] = None,
    link: FromQuery[str | None] = None,
) -> Response[Any]:
    """The provider's request, checked and explained; the script does the rest (module docstring)."""
    person = _person(principal)
    settings = settings_of(request)
    base = settings.public_base_url
    if client_id is None and request_uri is None:
        if link is None:
            return await _paste_form(request)
        try:
            client_id, request_uri = read_link(link)
            request_id_of(base, client_id, request_uri)
        except LinkProblem as exc:
            return await _paste_form(request, link=link[:MAX_LINK], errors=_link_errors(exc), status=400)
        return redirect("/wallet/share?" + urlencode({"client_id": client_id, "request_uri": request_uri}))
    try:
        if client_id is None or request_uri is None:
            missing = "client_id" if client_id is None else "request_uri"
            raise LinkProblem(missing, "Is missing from the link")
        request_id = request_id_of(base, client_id, request_uri)
    except LinkProblem as exc:
        shown = "&".join(f"{k}={v}" for k, v in (("client_id", client_id), ("request_uri", request_uri)) if v)
        return await _paste_form(request, link=shown[:MAX_LINK], errors=_link_errors(exc), status=400)
    runtime: verification.Runtime = request.app.state.verification
    try:
        view = await verification.holder_view(db_session, runtime, principal, request_id, now_of(request))
    except NotFound:
        return await render(
            request,
            "wallet/share_closed.html",
            status=404,
            heading="There is no such request",
            detail="No provider's request has this link, or it is for another doctor. Check the link, or ask "
            "the provider to send it again.",
        )
    if view.state != "pending":
        return await _closed(request, view)
    data = {
        "holder": str(person),
        "request_id": str(view.id),
        "client_id": client_id,
        "request_uri": request_uri,
        "response_uri": oid4vc.response_uri(base, view.id),
        "nonce": view.nonce,
        "organisation": view.verifier_organisation_name,
        "needs": need_groups(view.requirements),
        "kind_names": KIND_NAMES,
        "labels": LABELS,
        "values": VALUE_WORDS,
        "checks_url": CHECKS_PAGE,
        "changes_url": CHANGES_URL,
    }
    return await render(
        request,
        "wallet/share.html",
        scripts=SCRIPTS,
        view=view,
        rules=_rule_rows(view.requirements),
        kind_names=KIND_NAMES,
        wallet_data=_json(data),
    )


async def _closed(request: Request[Any, Any, Any], view: HolderRequestView) -> Response[str]:
    who = view.verifier_organisation_name
    if view.state == "expired":
        heading, status = "This request has expired", 410
        detail = (
            f"The request from {who} expired on {view.expires_at:%Y-%m-%d} at {view.expires_at:%H:%M} UTC: "
            "ask them for a new link."
        )
    else:
        heading, status = "This request has already been answered", 409
        detail = (
            f"The request from {who} has been answered; a request is answered once. "
            "See who checked your passport."
        )
    return await render(request, "wallet/share_closed.html", status=status, heading=heading, detail=detail)


WALLET_PAGES: Final = [wallet_page, wallet_offer, wallet_changes, share]
