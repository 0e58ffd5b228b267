"""Tables of the verification domain: presentation requests, verifications, used nonces."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class PresentationRequest(Base):
    """A verifier's request for a presentation against one version of a compliance policy.

    ``nonce`` is single use (see :class:`UsedNonce`); ``state`` is ``pending`` until the first response
    (any verdict) makes it ``answered``. A pending request past ``expires_at`` is expired.
    """

    __tablename__ = "presentation_requests"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'answered')", name="state"),
        Index("ix_presentation_requests_verifier_created", "verifier", "created_at"),
        Index("ix_presentation_requests_organisation_created", "organisation_code", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organisation_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    verifier: Mapped[str] = mapped_column(String(200))
    """The subject (client id or user id) of the verifier who made the request: its owner."""
    audience: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compliance_policies.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(String(500))
    subject_hint: Mapped[str | None] = mapped_column(String(7))
    """A GMC number: only that doctor may read and answer the request."""
    evaluate_on: Mapped[dt.date | None]
    """The day the policy is evaluated on (a placement start); None: the day of the answer."""
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(20))
    answered_at: Mapped[dt.datetime | None]


class Verification(Base):
    """One verification of one submission (one or more presentations) with its verdict.

    What a listing needs is plain; the full result (every check, the disclosed claims, the policy's
    reasons, which can name occupational health outcomes) is sealed with the registry's data key.
    """

    __tablename__ = "verifications"
    __table_args__ = (
        CheckConstraint("verdict IN ('valid', 'invalid', 'not_compliant')", name="verdict"),
        CheckConstraint("submitted_by IN ('holder', 'verifier')", name="submitted_by"),
        Index("ix_verifications_holder_id", "holder_id", "created_at"),
        Index("ix_verifications_holder_jkt", "holder_jkt", "created_at"),
        # no index by verifier: no query reads verifications by verifier (migration 0017)
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("presentation_requests.id", ondelete="RESTRICT"), unique=True
    )
    organisation_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    verifier: Mapped[str] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(20))
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compliance_policies.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(String(500))
    evaluated_on: Mapped[dt.date]
    verdict: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[str | None] = mapped_column(String(80))
    """The ``holder_id`` claim the presentations disclosed (links the verification to the holder)."""
    holder_jkt: Mapped[str | None] = mapped_column(String(64))
    """RFC 7638 thumbprint of the holder key (``cnf.jwk``) of the first signed presentation."""
    disclosed: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Claim names disclosed, per credential type: never values."""
    result_key_id: Mapped[str] = mapped_column(String(40))
    result_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]


class UsedNonce(Base):
    """Every nonce a key-binding JWT has been accepted with: a second use is a replay.

    A row may be deleted once ``expires_at`` has passed: a presentation made with that nonce is then
    refused anyway (its key-binding JWT is older than the freshness window).
    """

    __tablename__ = "used_nonces"

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    used_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
