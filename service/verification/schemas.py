"""Wire structs of the verification domain: presentation requests, submissions, results."""

import datetime as dt
import uuid
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from service.passport.policy import ClaimNeed, PolicyOutcome, RuleRequirement
from service.passport.schemas import PolicyName, Text500
from service.workforce.schemas import GmcNumber

MAX_PRESENTATIONS: Final = 8
MAX_PRESENTATION_BYTES: Final = 131_072
"""Largest presentation accepted (larger: 413), as ``presentation.VerificationPolicy.max_bytes``."""
MAX_BODY_BYTES: Final = MAX_PRESENTATIONS * MAX_PRESENTATION_BYTES + 8192
"""Largest submission body (larger: 413 before it is parsed)."""

Verdict = Literal["valid", "invalid", "not_compliant"]
"""``valid``: every check passed and the policy is met; ``invalid``: a check failed (the presentation
cannot be trusted); ``not_compliant``: the presentations are genuine but the policy is not met."""
RequestState = Literal["pending", "answered", "expired"]
Nonce = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_.~-]{16,128}$(?!\n)",
        description="16 to 128 characters of A-Z a-z 0-9 _ . ~ - (at least 96 bits of randomness)",
    ),
]
Presentation = Annotated[
    str,
    Meta(min_length=1, description="An SD-JWT with its key-binding JWT: <jwt>~<disclosure>~...~<kb-jwt>"),
]
Presentations = Annotated[
    list[Presentation],
    Meta(
        min_length=1,
        max_length=MAX_PRESENTATIONS,
        description="One presentation per credential (core skills, occupational health, ...), same nonce",
    ),
]


class PresentationRequestCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A verifier asks for a presentation meeting one of its organisation's compliance policies."""

    policy: PolicyName
    """The policy's name (the verifier's organisation's, else its parent's)."""
    policy_version: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    """A version of the policy (default: the newest)."""
    purpose: Text500
    """Why the verifier asks, shown to the doctor and in their transparency log."""
    subject_hint: GmcNumber | None = None
    """The GMC number of the doctor asked: only they may read and answer the request."""
    evaluate_on: dt.date | None = None
    """The day the policy is evaluated on, e.g. the placement start (default: the day of the answer)."""


class PolicyRef(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    organisation_code: str
    name: str
    version: int
    title: str


class PresentationSubmission(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The holder's answer to a request: one presentation per credential, each bound to its nonce."""

    presentations: Presentations


class VerificationCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The verifier submits presentations it received: for its own request, or ad hoc with a policy and
    the nonce it gave the holder (then ``policy``, ``nonce`` and ``purpose`` are required)."""

    presentations: Presentations
    request_id: uuid.UUID | None = None
    policy: PolicyName | None = None
    policy_version: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    nonce: Nonce | None = None
    purpose: Text500 | None = None
    evaluate_on: dt.date | None = None


class CheckRead(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    outcome: Literal["passed", "failed", "skipped", "pending"]
    code: str
    reason: str


class PresentationResult(msgspec.Struct, frozen=True, kw_only=True):
    """The checks of one presentation, in order; the claims it disclosed when they can be trusted."""

    index: int
    """Position in the submission, from 0."""
    valid: bool
    credential_type: str | None
    vct: str | None
    checks: list[CheckRead]
    disclosed: list[str]
    """The claim paths the holder disclosed (``core_skills/0/date_to``)."""


class VerificationRead(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a verification: every check, the disclosed claims, the policy rule by rule."""

    id: uuid.UUID
    request_id: uuid.UUID | None
    verdict: Verdict
    summary: str
    """One line: the verdict and why."""
    organisation_code: str
    verifier: str
    submitted_by: Literal["holder", "verifier"]
    purpose: str
    policy: PolicyRef
    evaluated_on: dt.date
    verified_at: dt.datetime
    presentations: list[PresentationResult]
    checks: list[CheckRead]
    """Checks of the submission as a whole (one holder, one credential per type)."""
    claims: dict[str, dict[str, Any]]
    """The disclosed claims of each genuine presentation, by credential type."""
    outcome: PolicyOutcome | None
    """The policy rule by rule; None when no presentation could be trusted."""


class PresentationRequestRead(msgspec.Struct, frozen=True, kw_only=True):
    """A presentation request as its verifier sees it; ``result`` once it is answered."""

    id: uuid.UUID
    state: RequestState
    nonce: str
    audience: str
    """What the key-binding JWT's ``aud`` must be: the verifier's client id."""
    request_uri: str
    """The holder-facing view (the link to give the doctor, e.g. as a QR code)."""
    organisation_code: str
    policy: PolicyRef
    purpose: str
    subject_hint: str | None
    evaluate_on: dt.date | None
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None
    credential_types: list[str]
    """The credential types the policy looks at."""
    needs: list[ClaimNeed]
    """The claims to disclose, by credential type and path (None: every element of that array)."""
    requirements: list[RuleRequirement]
    """The policy's rules in words, each with the claims it needs."""
    result: VerificationRead | None = None


class HolderRequestView(msgspec.Struct, frozen=True, kw_only=True):
    """What the doctor's wallet needs to answer a request (no personal data)."""

    id: uuid.UUID
    state: RequestState
    nonce: str
    audience: str
    response_uri: str
    """Where the wallet posts its presentations."""
    verifier_organisation_code: str
    verifier_organisation_name: str
    policy: PolicyRef
    purpose: str
    evaluate_on: dt.date | None
    expires_at: dt.datetime
    credential_types: list[str]
    needs: list[ClaimNeed]
    requirements: list[RuleRequirement]


class DisclosedNames(msgspec.Struct, frozen=True, kw_only=True):
    """Which claims of a credential were disclosed: names only, never values."""

    credential_type: str
    claims: list[str]
    """Paths with ``*`` for array elements, e.g. ``core_skills/*/date_to``."""


class HolderVerificationRead(msgspec.Struct, frozen=True, kw_only=True):
    """One verification of the holder's credentials, for their transparency log."""

    id: uuid.UUID
    verified_at: dt.datetime
    organisation_code: str
    organisation_name: str
    purpose: str
    policy: PolicyRef
    verdict: Verdict
    submitted_by: Literal["holder", "verifier"]
    disclosed: list[DisclosedNames]


class HolderVerificationPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[HolderVerificationRead]
    limit: int
    offset: int
    next_offset: int | None


class PresentationRequestSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One request of the verifier's organisation in a listing: what it asked, its state, the verdict and
    which claims were disclosed, by name (the values stay in the sealed result of its verifier)."""

    id: uuid.UUID
    state: RequestState
    organisation_code: str
    verifier: str
    """Who made it (client id or user id); only they read its result."""
    policy: PolicyRef
    purpose: str
    subject_hint: str | None
    evaluate_on: dt.date | None
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None
    verdict: Verdict | None
    """None until the request is answered."""
    verification_id: uuid.UUID | None
    evaluated_on: dt.date | None
    disclosed: list[DisclosedNames]


class PresentationRequestPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PresentationRequestSummary]
    limit: int
    offset: int
    next_offset: int | None
