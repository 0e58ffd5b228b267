"""People who sign in to web pages: provisioning, sign-in, the OIDC state kept between redirects.

- A person gets an account only when an administrator provisions it (``passport users create``);
  signing in never creates one.
- An OpenID Connect identity maps to a user by the bound ``<issuer> <sub>`` first; failing that, by
  a verified email address of a provisioned, enabled, unbound, non-demo user, which binds the subject.
- Demo users (``demo=True``) sign in only through the demo page, and only in demo mode.

Services never commit: the request (or the CLI command) owns the transaction.
"""

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import jwt
import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import ALL_ROLES, Principal, Role, User
from service.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from service.keys import KeyRing
from service.web.oidc import Identity, OidcClient, OidcError

# The workforce domain has no service module yet: only the existence of these rows is read here.
from service.workforce.models import Organisation, Person

OIDC_STATE_TYP = "oidc-state+jwt"
OIDC_STATE_LIFETIME = 600
"""Seconds a person has to complete the sign-in at the identity provider."""
_MAX_SUBJECT = 400  # User.oidc_subject


class SignInRefused(ServiceError):
    """A sign-in that cannot go through; ``detail`` is shown to the person."""

    status = 403
    code = "sign_in_refused"
    title = "Sign-in refused"


class ProviderUnavailable(ServiceError):
    """The identity provider cannot be reached or answers nonsense: not the person's fault."""

    status = 502
    code = "provider_unavailable"
    title = "Identity provider unavailable"


class SignInExpired(ServiceError):
    """The callback does not belong to a sign-in started in this browser, or it is too late."""

    status = 400
    code = "sign_in_expired"
    title = "Sign-in expired"


NO_ACCOUNT = (
    "You signed in with the identity provider, but there is no account for you in the registry: "
    "ask your administrator."
)


# ---------------------------------------------------------------- provisioning


def _normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value) or len(value) > 254:
        raise InvalidInput(f"{email!r} is not an email address")
    return value


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: Role,
    organisation_code: str | None,
    now: dt.datetime,
    person_id: uuid.UUID | None = None,
    demo: bool = False,
) -> User:
    """Provision a person's account. Holders are linked to their person record; others are not."""
    address = _normalise_email(email)
    if not name.strip():
        raise InvalidInput("a user needs a name")
    if role is not Role.ADMIN and organisation_code is None:
        raise InvalidInput(f"a {role.value} user needs an organisation")
    if role is Role.HOLDER and person_id is None:
        raise InvalidInput("a holder user needs the id of their person record")
    if role is not Role.HOLDER and person_id is not None:
        raise InvalidInput("only a holder user is linked to a person record")
    await _check_references(session, organisation_code, person_id)
    if await _by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists")
    user = User(
        email=address,
        display_name=name.strip(),
        role=role.value,
        organisation_code=organisation_code,
        person_id=person_id,
        oidc_subject=None,
        demo=demo,
        created_at=now,
        disabled_at=None,
    )
    session.add(user)
    await session.flush()
    return user


async def _check_references(
    session: AsyncSession, organisation_code: str | None, person_id: uuid.UUID | None
) -> None:
    if organisation_code is not None and await session.get(Organisation, organisation_code) is None:
        raise InvalidInput(f"unknown organisation {organisation_code}")
    if person_id is not None and await session.get(Person, person_id) is None:
        raise InvalidInput(f"unknown person {person_id}")


async def _by_email(session: AsyncSession, email: str) -> User | None:
    found: User | None = await session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    return found


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.email))).all()


async def disable_user(session: AsyncSession, email: str, now: dt.datetime) -> User:
    """Disable at once: the next request with an existing session is refused, and sign-in too."""
    user = await _by_email(session, email.strip())
    if user is None:
        raise NotFound(f"no user {email.strip().lower()}")
    if user.disabled_at is None:
        user.disabled_at = now
    return user


async def organisation_name(session: AsyncSession, code: str | None) -> str | None:
    if code is None:
        return None
    organisation = await session.get(Organisation, code)
    return organisation.name if organisation is not None else None


# ---------------------------------------------------------------- signing in


def principal_for(user: User) -> Principal:
    """The principal a user's session carries."""
    return Principal(
        subject=str(user.id),
        kind="user",
        role=Role(user.role),
        organisation=user.organisation_code,
        person_id=str(user.person_id) if user.person_id is not None else None,
        name=user.display_name,
    )


async def user_for_identity(session: AsyncSession, identity: Identity) -> User:
    """The provisioned user an OIDC identity signs in as; binds the subject on first sign-in by email."""
    if len(identity.key) > _MAX_SUBJECT:
        raise SignInRefused("The identity provider's subject identifier is too long.")
    user: User | None = await session.scalar(select(User).where(User.oidc_subject == identity.key))
    if user is None:
        user = await _bind_by_email(session, identity)
    if user.disabled_at is not None:
        raise SignInRefused("Your account in the registry has been disabled: ask your administrator.")
    if user.demo:
        raise SignInRefused("Demo accounts cannot sign in through the identity provider.")
    return user


async def _bind_by_email(session: AsyncSession, identity: Identity) -> User:
    if identity.email is None:
        raise SignInRefused(NO_ACCOUNT + " (The identity provider did not share your email address.)")
    if not identity.email_verified:
        raise SignInRefused(
            "The identity provider has not verified your email address, so it cannot be matched to an "
            "account: verify it with the provider, or ask your administrator."
        )
    user = await _by_email(session, identity.email)
    if user is None or user.demo:
        raise SignInRefused(NO_ACCOUNT)
    if user.oidc_subject is not None:
        # Another identity-provider account already holds this registry account: never rebind silently.
        raise SignInRefused(
            "This account is already linked to a different identity-provider account: ask your administrator."
        )
    if user.disabled_at is None:
        user.oidc_subject = identity.key
        await session.flush()
    return user


async def demo_users(session: AsyncSession) -> dict[Role, list[User]]:
    """Enabled demo users grouped by role, in the order of :data:`ALL_ROLES`."""
    users = (
        await session.scalars(
            select(User).where(User.demo.is_(True), User.disabled_at.is_(None)).order_by(User.display_name)
        )
    ).all()
    grouped: dict[Role, list[User]] = {role: [] for role in ALL_ROLES}
    for user in users:
        grouped.setdefault(Role(user.role), []).append(user)
    return {role: members for role, members in grouped.items() if members}


async def demo_sign_in(session: AsyncSession, user_id: str, *, demo_mode: bool) -> User:
    """The demo user to sign in as; refused outside demo mode and for any account that is not a demo one."""
    if not demo_mode:
        raise NotFound("The demo sign-in is available only in demo mode.")
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        raise InvalidInput("Choose a demo user from the list.") from None
    user = await session.get(User, key)
    if user is None or not user.demo or user.disabled_at is not None:
        raise Forbidden("Only demo accounts can use the demo sign-in.", code="not_a_demo_user")
    return user


# ---------------------------------------------------------------- the state kept between redirects


class OidcState(msgspec.Struct, frozen=True, kw_only=True):
    """What the callback needs from the login redirect: kept in a short-lived signed cookie."""

    state: str
    nonce: str
    code_verifier: str


def _state_audience(issuer: str) -> str:
    return issuer + "/web/oidc-state"


def seal_oidc_state(keyring: KeyRing, value: OidcState, *, issuer: str, now: dt.datetime) -> str:
    """A signed, short-lived token carrying ``value`` (signed with the token key, its own ``typ``)."""
    key = keyring.signer("token", "ES256")
    issued = int(now.timestamp())
    claims = {
        "iss": issuer,
        "aud": _state_audience(issuer),
        "iat": issued,
        "exp": issued + OIDC_STATE_LIFETIME,
        **msgspec.structs.asdict(value),
    }
    headers = {"typ": OIDC_STATE_TYP, "kid": key.kid}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def open_oidc_state(keyring: KeyRing, token: str | None, *, issuer: str, now: dt.datetime) -> OidcState:
    """The state sealed by :func:`seal_oidc_state`; :class:`SignInExpired` when missing, stale or forged."""
    stale = SignInExpired(
        "This sign-in has expired or was started in another browser: start again from the sign-in page."
    )
    if not token:
        raise stale
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = keyring.verification_key("token", kid) if isinstance(kid, str) else None
        if header.get("typ") != OIDC_STATE_TYP or key is None or header.get("alg") != key.alg:
            raise stale
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            audience=_state_audience(issuer),
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud"], "verify_exp": False, "verify_iat": False},
        )
        value = msgspec.convert(claims, OidcState)
    except (jwt.PyJWTError, msgspec.ValidationError):
        raise stale from None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now.timestamp():
        raise stale
    return value


def check_state(expected: OidcState, returned: str | None) -> None:
    """Refuse a callback whose ``state`` is not the one sent with this browser's authorization request."""
    if returned is None or not secrets.compare_digest(expected.state.encode(), returned.encode()):
        raise SignInExpired("This sign-in does not match the one started in this browser: start again.")


# ---------------------------------------------------------------- the OpenID Connect flow


def _refusal(exc: OidcError) -> ServiceError:
    if exc.code in ("provider_unavailable", "provider_misconfigured"):
        return ProviderUnavailable(exc.detail, code=exc.code)
    if exc.code == "code_refused":
        return SignInExpired(exc.detail + " Start again from the sign-in page.", code=exc.code)
    return SignInRefused(exc.detail, code=exc.code)


async def start_oidc_sign_in(
    client: OidcClient, keyring: KeyRing, *, issuer: str, now: dt.datetime
) -> tuple[str, str]:
    """(where to send the browser, the sealed state to keep in a cookie until the callback)."""
    try:
        request = await client.authorization_request()
    except OidcError as exc:
        raise _refusal(exc) from None
    kept = OidcState(state=request.state, nonce=request.nonce, code_verifier=request.code_verifier)
    return request.url, seal_oidc_state(keyring, kept, issuer=issuer, now=now)


async def finish_oidc_sign_in(
    session: AsyncSession,
    client: OidcClient,
    keyring: KeyRing,
    *,
    sealed: str | None,
    state: str | None,
    code: str | None,
    error: str | None,
    issuer: str,
    now: dt.datetime,
) -> User:
    """The user signing in at the callback: state, code exchange, ID token, account mapping."""
    kept = open_oidc_state(keyring, sealed, issuer=issuer, now=now)
    check_state(kept, state)
    if error is not None or not code:
        # The provider's error code only (an RFC 6749 word); its free-text description is not shown.
        reason = (error if error.isidentifier() else "refused") if error is not None else "no code"
        raise SignInRefused(f"The identity provider did not sign you in ({reason}).")
    try:
        identity = await client.sign_in(code, code_verifier=kept.code_verifier, nonce=kept.nonce, now=now)
    except OidcError as exc:
        raise _refusal(exc) from None
    return await user_for_identity(session, identity)
