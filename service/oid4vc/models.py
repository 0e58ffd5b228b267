"""Tables of OpenID4VCI issuance: credential offers (their codes only as digests), the access tokens the
pre-authorized code grant gives, the ``c_nonce`` values of the nonce endpoint, and each credential
response with its ``notification_id`` and the wallet's notification event.

No secret is stored as given: an offer keeps SHA-256 of its pre-authorized code and an HMAC of its
transaction code (:mod:`service.oid4vc.offers`); an access token is kept as its SHA-256.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class CredentialOfferRow(Base):
    """An offer of credentials to a person: single use, short lived, cancelled after wrong codes."""

    __tablename__ = "oid4vc_offers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tx_code_digest: Mapped[str | None] = mapped_column(String(64))
    sealed_code: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The pre-authorized code sealed with a data key, until the offer object is served (then erased)."""
    sealed_key_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    configuration_ids: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    fetched_at: Mapped[dt.datetime | None]
    redeemed_at: Mapped[dt.datetime | None]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


class AccessTokenRow(Base):
    """An access token of the pre-authorized code grant: the credential endpoint's bearer token."""

    __tablename__ = "oid4vc_access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("oid4vc_offers.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    configuration_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class IssuerNonce(Base):
    """A ``c_nonce`` of the nonce endpoint: a key proof may carry it once, before it expires."""

    __tablename__ = "oid4vc_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


class IssuanceRow(Base):
    """One credential response: the registry credentials it carried and what the wallet said of them."""

    __tablename__ = "oid4vc_issuances"

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    configuration_id: Mapped[str] = mapped_column(String(40))
    credential_ids: Mapped[list[Any]] = mapped_column(JSON)
    issued_at: Mapped[dt.datetime]
    event: Mapped[str | None] = mapped_column(String(30))
    event_description: Mapped[str | None] = mapped_column(String(300))
    event_at: Mapped[dt.datetime | None]
