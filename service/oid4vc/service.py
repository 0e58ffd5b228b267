"""Domain verbs of OpenID4VCI issuance: make an offer, serve it, redeem its pre-authorized code for an
access token, hand out ``c_nonce`` values, issue a batch of credentials (one per key proof), and record the
wallet's notification. The pure rules are in :mod:`service.oid4vc.offers` and :mod:`service.oid4vc.proofs`;
the credentials themselves come from :func:`service.credentials.service.issue_to_keys`, so they are
registry credentials (status list entries, listing, revocation, suspension).

Services never commit, except that a refused token request must still count its wrong transaction code:
:class:`Refusal` tells the controller to commit what changed before it answers with the error.
"""

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import OAuthError, Principal, Role
from service.credentials import service as credentials
from service.errors import FieldError, Forbidden, NotFound, Unavailable
from service.oid4vc import authorization, dcql, metadata, offers, proofs, repository
from service.oid4vc.models import AccessTokenRow, CredentialOfferRow, IssuanceRow, IssuerNonce
from service.oid4vc.schemas import (
    CredentialResponse,
    IssuedCredential,
    NotificationRequest,
    OfferCreate,
    OfferCreated,
    OpenId4VpLinks,
    PreAuthorizedTokenResponse,
    WalletIssuance,
)
from service.verification import service as verification
from service.workforce import service as workforce

ACCESS_TOKEN_LIFETIME: Final = 600
"""Seconds the access token of a redeemed offer is usable at the credential endpoint."""
C_NONCE_LIFETIME: Final = 300
BATCH_SIZE: Final = metadata.DEFAULT_BATCH_SIZE


class WalletError(OAuthError):
    """An OpenID4VCI / RFC 6749 error for the wallet: ``error`` plus the field it concerns."""

    def __init__(self, error: str, field: str, detail: str, status: int = 400) -> None:
        headers = None
        if status == 401:
            headers = {"WWW-Authenticate": f'Bearer error="{error}"'}
        super().__init__(error, detail, status=status, headers=headers)
        self.errors = [FieldError(field, detail)]


class Refusal(WalletError):
    """A refused token request whose bookkeeping (a counted wrong code, a burnt offer) must be kept."""


def _seal_context(offer_id: str) -> bytes:
    return f"oid4vc-offer {offer_id}".encode("ascii")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- offers


async def create_offer(
    session: AsyncSession,
    issuer: credentials.Issuer,
    principal: Principal,
    data: OfferCreate,
    *,
    now: dt.datetime,
) -> OfferCreated:
    """An offer of ``data.credential_configuration_ids`` to ``data.person_id``'s wallet, by reference,
    with a fresh transaction code (returned once, never stored as given)."""
    if principal.role is Role.HOLDER:
        if principal.person_id != str(data.person_id):
            raise Forbidden("A holder may make offers only to themselves.", code="not_own_person")
    else:
        await workforce.get_person(session, principal, data.person_id)  # 404 / 403 by the person's scope
    try:
        offers.make_offer(
            issuer.base,
            data.credential_configuration_ids,
            "x",
            tx_code=None,
            known_configurations=metadata.configuration_ids(),
        )
    except offers.OfferError as exc:
        from service.errors import InvalidInput

        raise InvalidInput(
            exc.reason, errors=[FieldError(f"body.{exc.field}", exc.reason)], code="invalid_offer"
        ) from None
    if not issuer.data_keys.usable:
        raise Unavailable(
            "Offers keep their code encrypted and the registry has no data key "
            "(operator: run `passport keys init`).",
            code="data_key_unavailable",
        )
    offer_id = offers.new_offer_id()
    code = offers.new_pre_authorized_code()
    tx_code = offers.new_tx_code()
    sealed = issuer.data_keys.seal(code.encode("ascii"), _seal_context(offer_id))
    expires = now + dt.timedelta(seconds=offers.OFFER_LIFETIME)
    session.add(
        CredentialOfferRow(
            id=offer_id,
            code_hash=offers.code_digest(code),
            tx_code_digest=offers.tx_code_digest(code, tx_code),
            sealed_code=sealed.blob,
            sealed_key_id=sealed.kid,
            person_id=data.person_id,
            configuration_ids=list(data.credential_configuration_ids),
            created_by=principal.subject[:200],
            created_at=now,
            expires_at=expires,
            fetched_at=None,
            redeemed_at=None,
            failed_attempts=0,
        )
    )
    await session.flush()
    url = offers.offer_url(issuer.base, metadata.DEFAULT_ENDPOINTS.offers, offer_id)
    link = offers.by_reference_uri(url)
    return OfferCreated(
        id=offer_id,
        credential_offer_uri=url,
        deep_link=link,
        qr_svg=offers.qr_svg(link, title="Scan with your wallet to add your staff passport credentials"),
        tx_code=tx_code,
        expires_at=expires,
        credential_configuration_ids=list(data.credential_configuration_ids),
    )


async def offer_object(
    session: AsyncSession, issuer: credentials.Issuer, offer_id: str, *, now: dt.datetime
) -> bytes:
    """The offer object served at its ``credential_offer_uri``: once, before it expires (then 404)."""
    gone = NotFound("No such credential offer, or it was already fetched or has expired.", code="no_offer")
    if "\x00" in offer_id:  # no offer's id has one, and PostgreSQL cannot compare it
        raise gone
    row = await repository.offer(session, offer_id[:32], lock=True)
    if row is None or row.sealed_code is None or row.sealed_key_id is None or _utc(row.expires_at) <= now:
        raise gone
    code = issuer.data_keys.open(row.sealed_key_id, row.sealed_code, _seal_context(row.id)).decode("ascii")
    row.sealed_code, row.sealed_key_id, row.fetched_at = None, None, now
    await session.flush()
    offer = offers.make_offer(
        issuer.base,
        row.configuration_ids,
        code,
        tx_code=offers.tx_code_spec() if row.tx_code_digest else None,
    )
    return offers.offer_json(offer)


# ---------------------------------------------------------------- token endpoint


async def redeem(
    session: AsyncSession, form: Mapping[str, str | Sequence[str]], *, now: dt.datetime
) -> PreAuthorizedTokenResponse:
    """The pre-authorized code grant (OpenID4VCI 1.0 section 6): an access token for the offer's person
    and credential types; :class:`WalletError` (nothing changed) or :class:`Refusal` (commit, then answer)."""
    try:
        request = offers.parse_token_request(form)
    except offers.OfferError as exc:
        raise WalletError(exc.error, exc.field, exc.reason) from None
    row = await repository.offer_by_code(session, offers.code_digest(request.pre_authorized_code))
    if row is None:
        raise WalletError(
            "invalid_grant", "pre-authorized_code", "the pre-authorized code is not one this registry issued"
        )
    stored = offers.StoredOffer(
        expires_at=int(_utc(row.expires_at).timestamp()),
        tx_code_digest=row.tx_code_digest,
        redeemed=row.redeemed_at is not None,
        failed_attempts=row.failed_attempts,
    )
    decision = offers.redeem(stored, request, now=int(now.timestamp()))
    if not decision.ok:
        changed = decision.failed_attempts != row.failed_attempts or decision.burn
        row.failed_attempts = decision.failed_attempts
        if decision.burn:
            row.sealed_code, row.sealed_key_id = None, None
        field = (
            "tx_code"
            if "transaction code" in (decision.reason or "") or "tx_code" in (decision.reason or "")
            else "pre-authorized_code"
        )
        error = Refusal if changed else WalletError
        raise error(decision.error or "invalid_grant", field, decision.reason or "refused")
    row.redeemed_at = now
    row.sealed_code, row.sealed_key_id = None, None
    token = secrets.token_urlsafe(32)
    session.add(
        AccessTokenRow(
            token_hash=offers.code_digest(token),
            offer_id=row.id,
            person_id=row.person_id,
            configuration_ids=list(row.configuration_ids),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ACCESS_TOKEN_LIFETIME),
        )
    )
    await session.flush()
    return PreAuthorizedTokenResponse(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the token type, not a secret
        expires_in=ACCESS_TOKEN_LIFETIME,
    )


async def bearer(session: AsyncSession, authorization: str | None, *, now: dt.datetime) -> AccessTokenRow:
    """The access token of an ``Authorization: Bearer`` header; 401 ``invalid_token`` otherwise."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 256:
        raise WalletError("invalid_token", "Authorization", "a Bearer access token is required", status=401)
    row = await repository.access_token(session, offers.code_digest(value.strip()))
    if row is None or _utc(row.expires_at) <= now:
        raise WalletError(
            "invalid_token", "Authorization", "the access token is unknown or has expired", status=401
        )
    return row


# ---------------------------------------------------------------- nonce and credential endpoints


async def new_c_nonce(session: AsyncSession, *, now: dt.datetime) -> str:
    nonce = secrets.token_urlsafe(24)
    session.add(
        IssuerNonce(
            nonce=nonce, created_at=now, expires_at=now + dt.timedelta(seconds=C_NONCE_LIFETIME), used_at=None
        )
    )
    await session.flush()
    return nonce


async def _check_proofs(
    session: AsyncSession, issuer: credentials.Issuer, body: Mapping[str, Any], now: dt.datetime
) -> list[proofs.CheckedProof]:
    seen: list[str] = []

    def remember(nonce: str) -> bool:
        seen.append(nonce)
        return len(nonce) <= 64

    try:
        checked = proofs.check_proofs(
            body.get("proofs"),
            audience=issuer.base,
            now=int(now.timestamp()),
            nonce_valid=remember,
            batch_size=BATCH_SIZE,
            algorithms=metadata.ALGORITHMS,
        )
    except proofs.ProofError as exc:
        raise WalletError(exc.error, exc.field, exc.reason) from None
    current = {n.nonce: n for n in await repository.nonces(session, list(dict.fromkeys(seen)))}
    for index, proof in enumerate(checked):
        found = current.get(proof.nonce)
        if found is None or found.used_at is not None or _utc(found.expires_at) <= now:
            raise WalletError(
                "invalid_nonce",
                f"proofs.jwt[{index}]",
                "the proof's nonce is not a current c_nonce: get a new one from the nonce endpoint",
            )
    return checked


async def issue(
    session: AsyncSession,
    issuer: credentials.Issuer,
    token: AccessTokenRow,
    body: object,
    *,
    now: dt.datetime,
) -> CredentialResponse:
    """The credential endpoint (OpenID4VCI 1.0 section 8): one credential of the requested configuration
    per key proof, each bound to its proof's key; each configuration of the offer once per access token."""
    if not isinstance(body, dict):
        raise WalletError("invalid_credential_request", "body", "the request body is a JSON object")
    configuration = body.get("credential_configuration_id")
    if "credential_identifier" in body:
        raise WalletError(
            "invalid_credential_request",
            "credential_identifier",
            "this issuer gives no credential identifiers: send credential_configuration_id",
        )
    if not isinstance(configuration, str) or not configuration:
        raise WalletError(
            "invalid_credential_request",
            "credential_configuration_id",
            "credential_configuration_id is required",
        )
    if configuration not in token.configuration_ids or metadata.kind_of_configuration(configuration) is None:
        raise WalletError(
            "unknown_credential_configuration",
            "credential_configuration_id",
            f"the access token is not for {configuration[:40]!r}: "
            f"one of {', '.join(token.configuration_ids)}",
        )
    if await repository.issued(session, token.token_hash, configuration) is not None:
        raise WalletError(
            "invalid_credential_request",
            "credential_configuration_id",
            "this offer's credentials of that type were already issued: ask the registry for a new offer",
        )
    checked = await _check_proofs(session, issuer, body, now)
    nonces = list(dict.fromkeys(p.nonce for p in checked))
    if await repository.use_nonces(session, nonces, now) != len(nonces):
        raise WalletError("invalid_nonce", "proofs.jwt", "a nonce was used meanwhile: get a new one")
    made = await credentials.issue_to_keys(
        session, issuer, token.person_id, configuration, [p.jwk for p in checked], now=now
    )
    notification_id = secrets.token_urlsafe(24)
    session.add(
        IssuanceRow(
            notification_id=notification_id,
            token_hash=token.token_hash,
            person_id=token.person_id,
            configuration_id=configuration,
            credential_ids=[str(credential_id) for credential_id, _ in made],
            issued_at=now,
            event=None,
            event_description=None,
            event_at=None,
        )
    )
    await session.flush()
    return CredentialResponse(
        credentials=[IssuedCredential(credential=text) for _, text in made], notification_id=notification_id
    )


async def notify(
    session: AsyncSession, token: AccessTokenRow, data: NotificationRequest, *, now: dt.datetime
) -> uuid.UUID:
    """Record the wallet's notification (OpenID4VCI 1.0 section 11) of a credential response of this
    access token; the person it concerns is returned (for the audit subject)."""
    row = await repository.issuance(session, data.notification_id)
    if row is None or row.token_hash != token.token_hash:
        raise WalletError(
            "invalid_notification_id", "notification_id", "no credential response of this token has that id"
        )
    row.event, row.event_description, row.event_at = data.event, data.event_description, now
    await session.flush()
    return row.person_id


async def wallet_issuances(session: AsyncSession, person_id: uuid.UUID) -> dict[uuid.UUID, WalletIssuance]:
    """The person's credentials that reached a wallet through OpenID4VCI, by registry credential id: which
    copy of how many in its credential response, and the wallet's notification event."""
    found: dict[uuid.UUID, WalletIssuance] = {}
    for row in await repository.issuances_of(session, person_id):
        for position, credential_id in enumerate(row.credential_ids, start=1):
            found[uuid.UUID(str(credential_id))] = WalletIssuance(
                credential_id=uuid.UUID(str(credential_id)),
                configuration_id=row.configuration_id,
                issued_at=row.issued_at,
                copy=position,
                copies=len(row.credential_ids),
                event=row.event,
            )
    return found


# ---------------------------------------------------------------- OpenID4VP: the registry as verifier

REQUESTS_PATH: Final = "/oid4vp/requests"
RESPONSES_PATH: Final = "/oid4vp/responses"


def request_uri(base_url: str, request_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}{REQUESTS_PATH}/{request_id}"


def response_uri(base_url: str, request_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}{RESPONSES_PATH}/{request_id}"


async def wallet_links(
    session: AsyncSession,
    runtime: verification.Runtime,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    now: dt.datetime,
) -> OpenId4VpLinks:
    """The verifier's own request as an OpenID4VP link: QR code (cross-device) and deep link (same device).

    Only while the request is open: a wallet could not answer an answered (409) or expired (410) one, so
    no link is given for it, as the request object and the response endpoints refuse it."""
    from service.verification.errors import RequestAnswered, RequestExpired

    found = await verification.get_request(session, runtime, principal, request_id, now)
    if found.state == "answered":
        raise RequestAnswered(
            "The request has already been answered; a wallet cannot answer it again, so there is no link."
        )
    if found.state == "expired":
        raise RequestExpired(
            "The request has expired, so there is no wallet link; make a new request for the doctor."
        )
    identifier = authorization.client_id(runtime.base_url)
    uri = request_uri(runtime.base_url, found.id)
    link = authorization.request_uri_link(identifier, uri)
    return OpenId4VpLinks(
        request_id=found.id,
        client_id=identifier,
        request_uri=uri,
        deep_link=link,
        qr_svg=offers.qr_svg(link, title="Scan with your wallet to share your staff passport credentials"),
        expires_at=found.expires_at,
    )


async def _open_request(
    runtime: verification.Runtime, request_id: uuid.UUID, now: dt.datetime
) -> verification.WalletRequest:
    from service.verification.errors import RequestAnswered, RequestExpired

    found = await verification.wallet_request(runtime, request_id, now)
    if found is None:
        raise NotFound(f"No presentation request {request_id}.", code="no_presentation_request")
    if found.state == "answered":
        raise RequestAnswered("The request has already been answered; a nonce is used once.")
    if found.state == "expired":
        raise RequestExpired("The request has expired; ask the verifier for a new one.")
    return found


async def request_object(
    runtime: verification.Runtime, request_id: uuid.UUID, *, alg: str, now: dt.datetime
) -> str:
    """The signed request object (``oauth-authz-req+jwt``) of an open presentation request: DCQL from its
    policy, the request's nonce, ``state`` its id, ``direct_post`` to its response URI."""
    found = await _open_request(runtime, request_id, now)
    query = dcql.query_for_policy(
        found.policy.rules, found.policy.organisation_code, base_url=runtime.base_url
    )
    issued = int(now.timestamp())
    claims = authorization.request_claims(
        base_url=runtime.base_url,
        response_uri=response_uri(runtime.base_url, found.id),
        nonce=found.nonce,
        state=str(found.id),
        dcql_query=query,
        now=issued,
        lifetime=max(1, int(_utc(found.expires_at).timestamp()) - issued),
        verifier_name=found.verifier_name,
    )
    key = runtime.keyring.signer("credential", alg)  # type: ignore[arg-type]
    return authorization.sign_request(claims, key, base_url=runtime.base_url)


async def direct_post(
    runtime: verification.Runtime,
    request_id: uuid.UUID,
    form: Mapping[str, str | Sequence[str]],
    *,
    now: dt.datetime,
    http_request_id: str | None,
) -> None:
    """The wallet's ``direct_post`` answer: verified like the registry's own response endpoint; the
    key-binding JWTs must carry the request's nonce and the registry's client identifier as ``aud``."""
    from service.errors import InvalidInput

    try:
        parsed = authorization.parse_direct_post(form)
    except authorization.ResponseError as exc:
        raise InvalidInput(
            f"The authorization response is refused: {exc.field} {exc.reason}.",
            errors=[FieldError(f"body.{exc.field}", exc.reason)],
            code="invalid_authorization_response",
        ) from None
    if parsed.state != str(request_id):
        raise InvalidInput(
            "The authorization response is for another request.",
            errors=[FieldError("body.state", "is not the state of this request")],
            code="invalid_authorization_response",
        )
    if isinstance(parsed, authorization.DirectPostError):
        await _open_request(
            runtime, request_id, now
        )  # nothing is recorded: the verifier's request stays open
        return
    presentations = [text for items in parsed.vp_token.values() for text in items]
    await verification.respond_for_wallet(
        runtime,
        request_id,
        presentations,
        audience=authorization.client_id(runtime.base_url),
        now=now,
        http_request_id=http_request_id,
    )


def did_document(runtime: verification.Runtime) -> dict[str, Any]:
    return authorization.did_document(runtime.base_url, runtime.keyring.jwks("credential"))
