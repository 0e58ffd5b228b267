"""Wire structs of the credentials domain (msgspec): credential metadata, actions, holder keys, the
device grant, lifecycle results. Metadata never carries the credential or its claims."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

CredentialKind = Literal["core_skills", "occupational_health", "training_placement", "identity_link"]
CredentialState = Literal["valid", "suspended", "revoked"]
KINDS: tuple[CredentialKind, ...] = (
    "core_skills",
    "occupational_health",
    "training_placement",
    "identity_link",
)

REASON_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f]*$(?!\n)"
"""No control characters but tabs and line feeds: a reason is shown to the holder and read in the audit."""
Reason = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=500, pattern=REASON_PATTERN, description="Why (recorded, audited)"),
]


class CredentialRead(msgspec.Struct, frozen=True, kw_only=True):
    """A credential's metadata: never the credential itself, never its claims."""

    id: uuid.UUID
    person_id: uuid.UUID
    kind: CredentialKind
    vct: str
    alg: str
    kid: str
    status_list_uri: str
    status_idx: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    state: CredentialState
    state_reason: str | None
    state_changed_at: dt.datetime | None
    superseded_by: uuid.UUID | None
    origins: list[str]


class CredentialPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CredentialRead]


class CredentialAction(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Reason


class HolderCredential(msgspec.Struct, frozen=True, kw_only=True):
    """One of the holder's current credentials: the compact SD-JWT VC with every disclosure."""

    id: uuid.UUID
    kind: CredentialKind
    vct: str
    state: CredentialState
    issued_at: dt.datetime
    expires_at: dt.datetime
    credential: str


class HolderCredentials(msgspec.Struct, frozen=True, kw_only=True):
    items: list[HolderCredential]


class HolderCredentialSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One credential ever issued to the holder, for their own list: metadata, the key it is bound to and
    what it states in words (the names of its records: a subject, an item, a site), never a claim value."""

    id: uuid.UUID
    kind: CredentialKind
    issued_at: dt.datetime
    expires_at: dt.datetime
    state: CredentialState
    state_reason: str | None
    state_changed_at: dt.datetime | None
    superseded_by: uuid.UUID | None
    holder_key_thumbprint: str
    """RFC 7638 thumbprint of the holder key in ``cnf`` (the wallet key it is bound to)."""
    holder_key_registered: bool
    """The key is the holder's registered key now (not replaced, not one of an OpenID4VCI batch)."""
    records: list[str]
    """What each stated record is, in claim order (e.g. "Fire safety (level 1)")."""


class NonceRead(msgspec.Struct, frozen=True, kw_only=True):
    nonce: str
    expires_at: dt.datetime
    proof_typ: str
    audience: str


class HolderKeyRegistration(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    proof: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    """A compact JWS (``typ: holder-key-proof+jwt``) with ``jwk`` in its header, signed by that key,
    whose claims are ``nonce`` (from ``POST /holder/nonce``), ``aud`` (the registry) and ``iat``."""


class HolderKeyRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    thumbprint: str
    alg: str
    registered_at: dt.datetime
    credentials_issued: int


class IssueResult(msgspec.Struct, frozen=True, kw_only=True):
    issued: int = 0
    revoked: int = 0
    unchanged: int = 0
    without_key: int = 0
    notified: int = 0
    copies_revoked: int = 0
    """Of ``revoked``: OpenID4VCI wallet copies (and credentials of replaced keys) that no longer state
    the records (decision 0040)."""
    held: int = 0
    """(person, type) pairs not issued because their issuer revoked the type (decision 0046)."""


class LifecycleResult(msgspec.Struct, frozen=True, kw_only=True):
    changes: IssueResult
    lapses: IssueResult
    feed_cursor: int
    lapsed_through: dt.date | None
    lists_refreshed: int


class DeviceAuthorizationResponse(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 8628 section 3.2."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceAuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str = ""
    scope: str | None = None


class IssuerMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc): the issuer and its keys, by value (the
    draft allows ``jwks`` or ``jwks_uri``, not both; the same keys are at ``/.well-known/jwks.json``)."""

    issuer: str
    jwks: dict[str, Any]
