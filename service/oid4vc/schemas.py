"""Wire structs of OpenID4VCI issuance: offers made by issuers and admins, and the wallet-facing bodies."""

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

ConfigurationId = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class OfferCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/credential-offers``: offer these credential types to a person's wallet."""

    person_id: uuid.UUID
    credential_configuration_ids: Annotated[list[ConfigurationId], msgspec.Meta(min_length=1, max_length=4)]


class OfferCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new offer. ``tx_code`` is shown once: send it to the doctor by another channel than the QR code."""

    id: str
    credential_offer_uri: str
    deep_link: str
    """``openid-credential-offer://?credential_offer_uri=...``: the link, and what the QR code holds."""
    qr_svg: str
    tx_code: str
    expires_at: dt.datetime
    credential_configuration_ids: list[str]


class PreAuthorizedTokenResponse(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


class NonceResponse(msgspec.Struct, frozen=True, kw_only=True):
    c_nonce: str


class IssuedCredential(msgspec.Struct, frozen=True, kw_only=True):
    credential: str


class CredentialResponse(msgspec.Struct, frozen=True, kw_only=True):
    credentials: list[IssuedCredential]
    notification_id: str


class NotificationRequest(msgspec.Struct, frozen=True, kw_only=True):
    notification_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    event: Literal["credential_accepted", "credential_failure", "credential_deleted"]
    event_description: Annotated[str, msgspec.Meta(max_length=300)] | None = None


class OpenId4VpLinks(msgspec.Struct, frozen=True, kw_only=True):
    """A verifier's presentation request as OpenID4VP: ``openid4vp://?client_id=...&request_uri=...``."""

    request_id: uuid.UUID
    client_id: str
    request_uri: str
    deep_link: str
    """Opened on the phone itself (same device); the QR code holds the same link (cross device)."""
    qr_svg: str
    expires_at: dt.datetime


class WalletIssuance(msgspec.Struct, frozen=True, kw_only=True):
    """How one registry credential reached a wallet through OpenID4VCI: one copy of a batch."""

    credential_id: uuid.UUID
    configuration_id: str
    issued_at: dt.datetime
    copy: int
    """1-based position of this credential in its credential response."""
    copies: int
    """How many credentials (one per key proof) that response carried."""
    event: str | None
    """What the wallet said of them: ``credential_accepted``, ``_failure`` or ``_deleted``; None: nothing."""
