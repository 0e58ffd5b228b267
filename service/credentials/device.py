"""OAuth 2.0 Device Authorization Grant (RFC 8628) for the holder's wallet.

1. The wallet posts ``client_id=passport-wallet`` to ``POST /oauth/device_authorization`` and gets a
   device code, a user code (``BCDF-GHJK``: 8 letters without vowels, about 34 bits, case-insensitive),
   ``verification_uri`` (``/device``), ``expires_in`` (600 s) and ``interval`` (5 s).
2. The doctor opens ``/device``, signed in as a holder, enters the user code and approves or denies.
3. The wallet polls ``POST /oauth/token`` with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``
   and gets ``authorization_pending``, ``slow_down`` (it polled sooner than ``interval``; the interval
   grows by 5 s), ``access_denied``, ``expired_token``, or, once, an access token of the holder (role
   holder, linked to their person) that lives ``PASSPORT_ACCESS_TOKEN_LIFETIME`` seconds.

Device codes are stored only as their SHA-256. Services never commit.
"""

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import OAuthError, Principal, Role, TokenService, User
from service.credentials import repository
from service.credentials.models import DeviceAuthorization
from service.credentials.schemas import DeviceAuthorizationResponse

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:device_code"
PUBLIC_CLIENTS: Final = frozenset({"passport-wallet"})
"""Public clients allowed to use the device grant (no secret: RFC 8628 section 5.6)."""
LIFETIME: Final = 600
INTERVAL: Final = 5
ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
"""RFC 8628 section 6.1: consonants only (no words, no 0/O or 1/I confusion)."""


def _hash(device_code: str) -> str:
    return hashlib.sha256(device_code.encode("utf-8")).hexdigest()


def new_user_code() -> str:
    letters = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(text: str) -> str | None:
    """``bcdf ghjk`` or ``BCDFGHJK`` -> ``BCDF-GHJK``; None when it cannot be a user code."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(letters) != 8 or any(ch not in ALPHABET for ch in letters):
        return None
    return f"{letters[:4]}-{letters[4:]}"


async def authorize(
    session: AsyncSession, client_id: str, base_url: str, *, now: dt.datetime
) -> DeviceAuthorizationResponse:
    """Start a device authorization (RFC 8628 section 3.1-3.2)."""
    if client_id not in PUBLIC_CLIENTS:
        raise OAuthError(
            "invalid_client", "Unknown client: the device grant is for the registry's wallet.", 401
        )
    device_code = secrets.token_urlsafe(32)
    user_code = new_user_code()
    while await repository.device_by_user_code(session, user_code) is not None:
        user_code = new_user_code()  # pragma: no cover - 20^8 codes
    session.add(
        DeviceAuthorization(
            device_code_hash=_hash(device_code),
            user_code=user_code,
            client_id=client_id,
            state="pending",
            created_at=now,
            expires_at=now + dt.timedelta(seconds=LIFETIME),
            interval=INTERVAL,
        )
    )
    await session.flush()
    page = base_url.rstrip("/") + "/device"
    return DeviceAuthorizationResponse(
        device_code=device_code,
        user_code=user_code,
        verification_uri=page,
        verification_uri_complete=f"{page}?user_code={user_code}",
        expires_in=LIFETIME,
        interval=INTERVAL,
    )


async def pending(session: AsyncSession, user_code: str, *, now: dt.datetime) -> DeviceAuthorization | None:
    """The pending, unexpired authorization of a user code (what the /device page approves)."""
    code = normalise_user_code(user_code)
    found = await repository.device_by_user_code(session, code) if code else None
    if found is None or found.state != "pending" or found.expires_at <= now:
        return None
    return found


async def decide(
    session: AsyncSession, principal: Principal, user_code: str, approve: bool, *, now: dt.datetime
) -> bool:
    """The signed-in holder approves or denies; False when the code is unknown, used or expired."""
    found = await pending(session, user_code, now=now)
    if found is None or principal.kind != "user":
        return False
    found.state = "approved" if approve else "denied"
    found.user_id = uuid.UUID(principal.subject)
    found.decided_at = now
    await session.flush()
    return True


async def token(
    session: AsyncSession, tokens: TokenService, device_code: str, client_id: str, *, now: dt.datetime
) -> str | OAuthError:
    """Poll with a device code: the holder's access token, or the RFC 8628 section 3.5 error to send.

    Errors are returned, not raised, so the poll's time is committed (``slow_down`` depends on it)."""
    found = await repository.device_by_code(session, _hash(device_code)) if device_code else None
    if found is None or found.client_id != client_id or found.state == "used":
        return OAuthError("invalid_grant", "Unknown or already used device code.")
    if found.expires_at <= now:
        return OAuthError("expired_token", "The device code has expired: start again.")
    previous, found.last_polled_at = found.last_polled_at, now
    if previous is not None and (now - previous).total_seconds() < found.interval:
        found.interval += 5
        return OAuthError("slow_down", f"Poll at most every {found.interval} seconds.")
    if found.state == "pending":
        return OAuthError("authorization_pending", "The holder has not approved this device yet.")
    if found.state == "denied":
        return OAuthError("access_denied", "The holder denied this device.")
    user = await session.get(User, found.user_id) if found.user_id is not None else None
    if (
        user is None
        or user.disabled_at is not None
        or user.role != Role.HOLDER.value
        or user.person_id is None
    ):
        found.state = "used"
        return OAuthError("access_denied", "The approving account can no longer hold credentials.")
    found.state = "used"
    principal = Principal(
        subject=str(user.id),
        kind="user",
        role=Role.HOLDER,
        organisation=user.organisation_code,
        person_id=str(user.person_id),
        name=user.display_name,
    )
    return tokens.issue_access_token(principal)
