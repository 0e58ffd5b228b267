"""Tables of the credentials domain: issued credentials, status lists, holder keys and nonces, the
notifications outbox, the lifecycle's cursor and the OAuth device authorizations.

A credential's compact SD-JWT is stored as issued; the occupational health credential only sealed
(AES-GCM under a data key of :mod:`service.passport.encryption`, bound to the credential's id and
person). Status lists keep their 2-bit statuses and an allocation bitmap as bytes, and the signed token
last published, so ``GET /status-lists/{id}`` is one primary-key read.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

CREDENTIAL_STATES = ("valid", "suspended", "revoked")


class StatusListRow(Base):
    """A Token Status List: ``size`` entries of ``bits`` bits, which are allocated, the last token."""

    __tablename__ = "credential_status_lists"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bits: Mapped[int] = mapped_column(SmallInteger)
    size: Mapped[int] = mapped_column(Integer)
    statuses: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[bytes] = mapped_column(LargeBinary)
    """Bitmap: bit ``i`` (least significant first) set when entry ``i`` was given to a credential."""
    allocated_count: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(Text)
    """The signed ``statuslist+jwt`` last published (re-signed in the transaction of every change)."""
    etag: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]


class HolderKey(Base):
    """A public key a holder proved they hold; the newest not replaced is the one credentials bind."""

    __tablename__ = "credential_holder_keys"
    __table_args__ = (UniqueConstraint("person_id", "thumbprint"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"), index=True)
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    thumbprint: Mapped[str] = mapped_column(String(64))
    alg: Mapped[str] = mapped_column(String(10))
    registered_at: Mapped[dt.datetime]
    replaced_at: Mapped[dt.datetime | None]


class HolderNonce(Base):
    """A server nonce for a holder's proof of possession: used once, before it expires."""

    __tablename__ = "credential_holder_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class Credential(Base):
    """One issued SD-JWT VC. Never deleted; a re-issue links the old one to its successor."""

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint("state IN ('valid', 'suspended', 'revoked')", name="state"),
        UniqueConstraint("status_list_id", "status_idx"),
        Index("ix_credentials_person_id_kind_superseded_by_id", "person_id", "kind", "superseded_by_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(30))
    vct: Mapped[str] = mapped_column(String(300))
    alg: Mapped[str] = mapped_column(String(10))
    kid: Mapped[str] = mapped_column(String(64))
    holder_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credential_holder_keys.id"))
    status_list_id: Mapped[str] = mapped_column(ForeignKey("credential_status_lists.id"))
    status_idx: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    refresh_on: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12))
    state_reason: Mapped[str | None] = mapped_column(String(500))
    state_changed_at: Mapped[dt.datetime | None]
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credentials.id"))
    origins: Mapped[list[str]] = mapped_column(JSON)
    """ODS codes of the organisations whose records the credential states (least privilege)."""
    claims_digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the claims, vct and holder key: an unchanged credential is not re-issued."""


class CredentialHold(Base):
    """An issuer's suspension or revocation of a holder's credential type (decision 0046): while it
    stands, no re-issue of the type lifts it. Suspended: every credential of the type is issued suspended
    until the issuer reinstates. Revoked: the type is not issued again until a record the revoked
    credential could not state (one not current when it was revoked) is stated."""

    __tablename__ = "credential_holds"
    __table_args__ = (CheckConstraint("state IN ('suspended', 'revoked')", name="state"),)

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="RESTRICT"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(500))
    credential_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credentials.id"))
    """The credential the issuer acted on (reinstating it lifts a suspension even once superseded)."""
    organisation_code: Mapped[str | None] = mapped_column(String(10))
    """The issuer's organisation, which alone (or an admin) may lift it; None: placed by an admin."""
    record_ids: Mapped[list[str]] = mapped_column(JSON)
    """Revoked: the ids of the type's current records when it was revoked; a stated record not among
    them is a new fact and lifts the hold."""
    since: Mapped[dt.datetime]


class CredentialDocument(Base):
    """The compact SD-JWT VC of a credential, as issued; the occupational health one only sealed.

    Its own table: a credential's state changes (revoked, superseded) rewrite only the small metadata
    row, never the 2 to 20 KB document (SQLite rewrites a whole row on update)."""

    __tablename__ = "credential_documents"
    __table_args__ = (
        CheckConstraint(
            "sd_jwt IS NOT NULL OR (sealed IS NOT NULL AND sealed_key_id IS NOT NULL)", name="stored"
        ),
    )

    credential_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credentials.id"), primary_key=True)
    sd_jwt: Mapped[str | None] = mapped_column(Text)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_key_id: Mapped[str | None] = mapped_column(String(64))


class Notification(Base):
    """The outbox: a message to a holder, drained by the mail sender. Never health data."""

    __tablename__ = "credential_notifications"
    __table_args__ = (Index("ix_credential_notifications_sent_at_created_at", "sent_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    """Why the last attempt failed (an error's type name, or no address to send to); None if none did."""
    claimed_at: Mapped[dt.datetime | None]
    """When a sender claimed it to send it (migration 0019); None when no sender is sending it. Another
    sender leaves it alone until the claim is ``worker.CLAIM_LEASE`` old."""


class LifecycleCursor(Base):
    """Where the lifecycle worker is: the change feed cursor and the last day whose lapses it handled."""

    __tablename__ = "credential_lifecycle"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    feed_cursor: Mapped[int] = mapped_column(BigInteger)
    lapsed_through: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime]


class DeviceAuthorization(Base):
    """An OAuth 2.0 device authorization (RFC 8628): a device code (stored hashed) and its user code."""

    __tablename__ = "oauth_device_authorizations"
    __table_args__ = (CheckConstraint("state IN ('pending', 'approved', 'denied', 'used')", name="state"),)

    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    interval: Mapped[int] = mapped_column(Integer)
    last_polled_at: Mapped[dt.datetime | None]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    decided_at: Mapped[dt.datetime | None]
