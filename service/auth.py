"""API clients, web users, roles, access tokens and the guards on every route.

- Machine clients get access tokens with the OAuth 2.0 client-credentials grant (RFC 6749 4.4) at
  ``POST /oauth/token``; secrets are stored only as an Argon2id hash.
- Access tokens are JWTs (``typ: at+jwt``, RFC 9068) signed with the ``token`` key, never with a
  credential-signing key. The algorithm comes from our key, never from the token (RFC 8725).
- People signing in to web pages get a session cookie holding a ``typ: session+jwt`` token.
- Every route that is not public carries ``requires(...)``: the role matrix test reads it.
"""

import asyncio
import base64
import binascii
import datetime as dt
import enum
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body
from litestar.response import Response
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from service import jws
from service.db import Base, Clock, Database
from service.errors import Forbidden, ServiceError, Unauthorized
from service.keys import KeyRing, SigningKey


class Role(enum.StrEnum):
    HOLDER = "holder"
    ISSUER = "issuer"
    VERIFIER = "verifier"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"
    ADMIN = "admin"


ALL_ROLES: tuple[Role, ...] = tuple(Role)
TOKEN_TYP = "at+jwt"  # noqa: S105 - a JWT type, not a secret
SESSION_TYP = "session+jwt"
SESSION_COOKIE = "passport_session"
ACCESS_TOKEN_ALGORITHMS = ("ES256",)
"""The only algorithms access tokens and sessions may use: our allow-list."""

# Argon2id with the library's recommended parameters (RFC 9106 second recommendation).
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-secret")


class ApiClient(Base):
    """A machine client: an issuer's HR system, a provider's HR system, an analyst tool..."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation_code: Mapped[str | None] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class User(Base):
    """A person who signs in to web pages (through OpenID Connect, or the demo sign-in page)."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation_code: Mapped[str | None] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    oidc_subject: Mapped[str | None] = mapped_column(String(400), unique=True)
    """``<issuer> <sub>`` of the identity provider account bound at first sign-in."""
    demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: a machine client or a signed-in person, with one role in one organisation."""

    subject: str
    kind: Literal["client", "user"]
    role: Role
    organisation: str | None
    person_id: str | None = None
    name: str = ""


# ---------------------------------------------------------------- clients


class ClientCreated(msgspec.Struct, frozen=True):
    client_id: str
    client_secret: str
    role: str
    organisation_code: str | None
    name: str


def _new_client_id(role: Role, organisation: str | None) -> str:
    return f"{role.value}-{(organisation or 'registry').lower()}-{secrets.token_hex(4)}"


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    organisation_code: str | None,
    now: dt.datetime,
    client_id: str | None = None,
) -> ClientCreated:
    """Register a client; the secret is returned once and only its hash is stored."""
    if role is not Role.ADMIN and organisation_code is None:
        raise ServiceError(f"a {role.value} client needs an organisation", status=422, code="invalid_input")
    if organisation_code is not None and not await _organisation_exists(session, organisation_code):
        raise ServiceError(f"unknown organisation {organisation_code}", status=422, code="invalid_input")
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=client_id or _new_client_id(role, organisation_code),
        name=name,
        role=role.value,
        organisation_code=organisation_code,
        secret_hash=_hasher.hash(secret),
        created_at=now,
        revoked_at=None,
    )
    session.add(client)
    await session.flush()
    return ClientCreated(client.client_id, secret, role.value, organisation_code, name)


async def _organisation_exists(session: AsyncSession, code: str) -> bool:
    # The workforce domain owns organisations; only its table name is used here, to keep auth at the base.
    from service.workforce.models import Organisation

    return await session.get(Organisation, code) is not None


async def list_clients(session: AsyncSession) -> Sequence[ApiClient]:
    return (
        await session.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.client_id))
    ).all()


async def revoke_client(session: AsyncSession, client_id: str, now: dt.datetime) -> ApiClient:
    client = await session.get(ApiClient, client_id)
    if client is None:
        raise ServiceError(f"no client {client_id}", status=404, code="not_found")
    if client.revoked_at is None:
        client.revoked_at = now
    return client


def _verify_secret(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate_client(session: AsyncSession, client_id: str, secret: str) -> ApiClient | None:
    """The client if the secret matches and it is not revoked; the hash is checked in every case."""
    client = await session.get(ApiClient, client_id) if client_id else None
    stored = client.secret_hash if client is not None else _DUMMY_HASH
    # The slow hash runs off the event loop so other requests are not held up.
    ok = await asyncio.to_thread(_verify_secret, stored, secret)
    if client is None or not ok or client.revoked_at is not None:
        return None
    return client


# ---------------------------------------------------------------- tokens

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")
"""Claims every access token and session must carry."""
LEEWAY = 5
"""Seconds of clock skew tolerated on ``exp`` and ``iat``."""
VERIFIED_CACHE_SIZE = 4096
"""How many checked tokens each process remembers (see :meth:`TokenService.verify`)."""

_REFUSALS = {
    "malformed": "The access token is malformed.",
    "wrong_typ": "The token is not of the expected type.",
    "unsupported_alg": "The token is signed with an unknown key.",
    "unknown_key": "The token is signed with an unknown key.",
    "expired": "The token has expired.",
    "not_yet_valid": "The token is not valid yet.",
    "retired_key": "The token is signed with a key that is no longer accepted.",
}


def _refused(code: str) -> Unauthorized:
    """The 401 for a token refused for reason ``code`` (a :class:`service.jws.JWSError` code or ours)."""
    return Unauthorized(_REFUSALS.get(code, "The token is invalid."), code="invalid_token")


@dataclass(slots=True)
class _Checked:
    """A token whose signature, ``typ``, ``iss``, ``aud`` and required claims have passed."""

    typ: str
    key: SigningKey
    claims: dict[str, Any]
    payload: bytes
    """The claims as signed: each caller gets its own copy decoded from these."""
    issued_at: float
    principal: "Principal | None" = None
    """Who the token names, made from the claims once (:meth:`TokenService.principal`)."""


class TokenService:
    """Signs and checks access tokens and session tokens with the token key (``service/jws.py``).

    Every check uses the injected clock. A token that passed once is remembered (by its exact text, at
    most :data:`VERIFIED_CACHE_SIZE` of them), so its ES256 signature is not checked again on each request;
    what can change with time is checked on every call: ``exp`` and ``iat``, and whether its key is still
    accepted (published now, and not retired before the token was issued).
    """

    def __init__(self, keyring: KeyRing, *, issuer: str, lifetime: int, session_lifetime: int, clock: Clock):
        self._keyring = keyring
        self.issuer = issuer
        self.audience = issuer + "/api"
        self.lifetime = lifetime
        self.session_lifetime = session_lifetime
        self._clock = clock
        self._public: dict[str, jws.VerificationKey] = {}
        self._checked: dict[str, _Checked] = {}

    @property
    def clock(self) -> Clock:
        """What tells the time the checks of a token use."""
        return self._clock

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        key = self._keyring.signer("token", "ES256")
        return jws.sign(claims, key.private_key, typ=typ, kid=key.kid)

    def issue_access_token(self, principal: Principal) -> str:
        now = int(self._clock().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": principal.subject,
            "aud": self.audience,
            "client_id": principal.subject,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(12),
            "roles": [principal.role.value],
            "org": principal.organisation,
        }
        if principal.kind == "user":  # a person's token (the device grant): checked against users
            claims.update({"kind": "user", "person": principal.person_id, "name": principal.name})
        return self._sign(claims, TOKEN_TYP)

    def issue_session(self, principal: Principal) -> str:
        now = int(self._clock().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": principal.subject,
            "aud": self.issuer + "/web",
            "iat": now,
            "exp": now + self.session_lifetime,
            "jti": secrets.token_urlsafe(12),
            "roles": [principal.role.value],
            "org": principal.organisation,
            "person": principal.person_id,
            "name": principal.name,
        }
        return self._sign(claims, SESSION_TYP)

    def verify(self, token: str, *, typ: str) -> dict[str, Any]:
        """Claims of a token of kind ``typ``; :class:`Unauthorized` for anything else."""
        return jws.json_object(self._checked_now(token, typ).payload, "payload")

    def principal(self, token: str, *, typ: str, now: dt.datetime | None = None) -> Principal:
        """The caller a token of kind ``typ`` names, after the same checks as :meth:`verify`.

        Made from the claims once per remembered token (a :class:`Principal` is immutable); the checks
        that depend on time run on every call, at ``now`` (by default the service's clock, read now)."""
        checked = self._checked_now(token, typ, now)
        principal = checked.principal
        if principal is None:
            claims = checked.claims
            kind: Literal["client", "user"] = (
                "user" if typ == SESSION_TYP or claims.get("kind") == "user" else "client"
            )
            principal = checked.principal = _principal_from_claims(claims, kind)
        return principal

    def _checked_now(self, token: str, typ: str, now: dt.datetime | None = None) -> _Checked:
        checked = self._checked.get(token)
        if checked is None:
            checked = self._check(token, typ)
        elif checked.typ != typ:
            raise _refused("wrong_typ")
        if now is None:
            now = self._clock()
        try:
            self._check_key_now(checked, now)
            jws.check_times(checked.claims, now=int(now.timestamp()), leeway=LEEWAY)
        except jws.JWSError as exc:
            self._checked.pop(token, None)  # it will not pass again
            raise _refused(exc.code) from None
        if token not in self._checked:
            if len(self._checked) >= VERIFIED_CACHE_SIZE:
                del self._checked[next(iter(self._checked))]  # the oldest entry
            self._checked[token] = checked
        return checked

    def _verification_key(self, key: SigningKey) -> jws.VerificationKey:
        public = self._public.get(key.kid)
        if public is None:
            public = jws.VerificationKey(key.alg, key.private_key.public_key(), key.kid)
            self._public[key.kid] = public
        return public

    def _check(self, token: str, typ: str) -> _Checked:
        """Signature (algorithm from our key, on the allow-list), ``typ``, ``iss``, ``aud``, other claims."""
        chosen: list[SigningKey] = []

        def choose(header: Mapping[str, Any]) -> jws.VerificationKey | None:
            kid = header.get("kid")
            key = self._keyring.verification_key("token", kid) if isinstance(kid, str) else None
            if key is None or key.alg not in ACCESS_TOKEN_ALGORITHMS:
                return None
            chosen.append(key)
            return self._verification_key(key)

        try:
            verified = jws.verify(token, choose, typ=typ, algorithms=ACCESS_TOKEN_ALGORITHMS)
            claims = verified.claims()
        except jws.JWSError as exc:
            raise _refused(exc.code) from None
        audience = self.audience if typ == TOKEN_TYP else self.issuer + "/web"
        aud = claims.get("aud")
        iat = claims.get("iat")
        if (
            any(name not in claims for name in REQUIRED_CLAIMS)
            or claims["iss"] != self.issuer
            or not (aud == audience or (isinstance(aud, list) and audience in aud))
            or not isinstance(claims["sub"], str)
            or not isinstance(claims["jti"], str)
            or isinstance(iat, bool)
            or not isinstance(iat, int | float)
        ):
            raise _refused("invalid")
        return _Checked(typ=typ, key=chosen[0], claims=claims, payload=verified.payload, issued_at=float(iat))

    @staticmethod
    def _check_key_now(checked: _Checked, now: dt.datetime) -> None:
        """The key must be published now and must not have been retired before the token was issued."""
        meta = checked.key.meta
        retired_before = meta.retired_at is not None and checked.issued_at > meta.retired_at.timestamp()
        if not meta.published_at(now) or retired_before:
            raise jws.JWSError("retired_key", "the token's key is no longer accepted")


def _principal_from_claims(claims: dict[str, Any], kind: Literal["client", "user"]) -> Principal:
    roles = claims.get("roles")
    try:
        role = Role(roles[0]) if isinstance(roles, list) and roles else None
    except ValueError:
        role = None
    if role is None:
        raise Unauthorized("The token carries no known role.", code="invalid_token")
    org = claims.get("org")
    person = claims.get("person")
    return Principal(
        subject=str(claims["sub"]),
        kind=kind,
        role=role,
        organisation=org if isinstance(org, str) else None,
        person_id=person if isinstance(person, str) else None,
        name=str(claims.get("name") or claims["sub"]),
    )


async def _still_allowed(session: AsyncSession, principal: Principal) -> bool:
    if principal.kind == "client":
        client = await session.get(ApiClient, principal.subject)
        return client is not None and client.revoked_at is None and client.role == principal.role.value
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError:
        return False
    user = await session.get(User, user_id)
    return user is not None and user.disabled_at is None and user.role == principal.role.value


class StatusCache:
    """Whether a client or web user is still allowed, remembered by each process for ``ttl`` seconds.

    Looking the caller up costs a database session on every request. With a ``ttl`` of N seconds a
    revoked client or a disabled user is refused by every worker at most N seconds after the change
    (``PASSPORT_AUTH_CACHE_SECONDS``), counted from when the look-up that answered began; with 0 each
    request looks it up (refused at once). Refusals are remembered too, and the cache holds at most
    ``size`` callers (the oldest entry goes first).

    When a caller's answer runs out, the requests of that caller in flight do not each read it again:
    the first starts the look-up and the others wait for its answer (:meth:`refresh`, one look-up per
    caller at a time), which began less than ``ttl`` before any of them uses it.
    """

    def __init__(self, ttl: float, clock: Clock, size: int = 10_000) -> None:
        self.ttl = dt.timedelta(seconds=ttl)
        self._clock = clock
        self._size = size
        self._entries: dict[tuple[str, str, str], tuple[bool, dt.datetime]] = {}
        self._pending: dict[tuple[str, str, str], tuple[asyncio.Future[bool], dt.datetime]] = {}

    @property
    def clock(self) -> Clock:
        """What tells the time the remembered answers are judged by."""
        return self._clock

    @staticmethod
    def _key(principal: Principal) -> tuple[str, str, str]:
        return principal.kind, principal.subject, principal.role.value

    def get(self, principal: Principal, now: dt.datetime | None = None) -> bool | None:
        """The remembered answer, or None when there is none younger than the TTL at ``now`` (by
        default the cache's clock, read now)."""
        key = (principal.kind, principal.subject, principal.role.value)  # as _key, inline: every request
        entry = self._entries.get(key)
        if entry is None:
            return None
        allowed, checked_at = entry
        if checked_at <= (self._clock() if now is None else now) < checked_at + self.ttl:
            return allowed
        del self._entries[key]
        return None

    def put(self, principal: Principal, allowed: bool, checked_at: dt.datetime | None = None) -> None:
        """Remember ``allowed`` as of ``checked_at`` (when its look-up began; by default now)."""
        if not self.ttl:
            return
        key = self._key(principal)
        self._entries.pop(key, None)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (allowed, checked_at if checked_at is not None else self._clock())

    async def refresh(self, principal: Principal, look_up: Callable[[], Awaitable[bool]]) -> bool:
        """Look ``principal`` up with ``look_up`` and remember the answer, once per caller at a time.

        A request arriving while a look-up of the same caller is in flight, begun less than ``ttl``
        ago, waits for that one's answer; otherwise it starts its own. The look-up runs as a task of its
        own, so a request cancelled while waiting cancels neither it nor the others; if it fails, every
        request waiting for it gets its error (and nothing is remembered). With a ``ttl`` of 0 each
        request looks the caller up itself."""
        if not self.ttl:
            return await look_up()
        key = self._key(principal)
        now = self._clock()
        pending = self._pending.get(key)
        if pending is not None and pending[1] <= now < pending[1] + self.ttl:
            return await asyncio.shield(pending[0])
        task = asyncio.ensure_future(look_up())
        self._pending[key] = (task, now)

        def done(finished: asyncio.Future[bool]) -> None:
            failed = finished.cancelled() or finished.exception() is not None  # retrieved in any case
            if self._pending.get(key, (None,))[0] is not finished:
                return  # forgotten, or replaced, meanwhile: its answer is not remembered
            del self._pending[key]
            if not failed:
                self.put(principal, finished.result(), checked_at=now)

        task.add_done_callback(done)
        return await asyncio.shield(task)

    def forget(self, subject: str) -> None:
        """Drop what is remembered about ``subject`` (after revoking or disabling it in this process),
        and let no look-up of it already in flight be remembered."""
        for key in [key for key in self._entries if key[1] == subject]:
            del self._entries[key]
        for key in [key for key in self._pending if key[1] == subject]:
            del self._pending[key]


async def _look_up(database: Database, principal: Principal) -> bool:
    async with database.session(write=False) as session:
        return await _still_allowed(session, principal)


async def _looked_up(app_state: Any, cache: StatusCache | None, principal: Principal) -> bool:
    """Whether ``principal``'s client or user still exists, is not revoked or disabled, and has its role,
    when ``cache`` has no answer: looked up in the database (once per caller at a time, remembered)."""
    database: Database = app_state.database
    if cache is None:
        return await _look_up(database, principal)
    return await cache.refresh(principal, lambda: _look_up(database, principal))


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The bearer token of the first ``Authorization`` header (ASGI gives header names in lower case)."""
    for name, raw in connection.scope["headers"]:
        if name == b"authorization":
            header: str = raw.decode("latin-1")
            break
    else:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Use an 'Authorization: Bearer <token>' header.", code="invalid_request")
    return value.strip()


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller, from a bearer token (API) or the session cookie (web pages); cached per request."""
    state = connection.scope.setdefault("state", {})
    if "principal" in state:
        cached: Principal | None = state["principal"]
        return cached
    app_state = connection.app.state
    tokens: TokenService = app_state.tokens
    # One reading of the clock for the token's times and the remembered status, when both use the
    # same clock (as the app's do); otherwise each reads its own, as before.
    cache: StatusCache | None = getattr(app_state, "status_cache", None)
    now = tokens.clock() if cache is not None and cache.clock is tokens.clock else None
    principal: Principal | None = None
    token = _bearer(connection)
    if token is not None:
        principal = tokens.principal(token, typ=TOKEN_TYP, now=now)
    elif not connection.url.path.startswith("/api/") and (cookie := connection.cookies.get(SESSION_COOKIE)):
        try:
            principal = tokens.principal(cookie, typ=SESSION_TYP, now=now)
        except Unauthorized:
            principal = None  # a stale cookie on a page is the same as being signed out
    if principal is not None:
        # the remembered answer first, without awaiting a coroutine: the common case, every request
        allowed = cache.get(principal, now) if cache is not None else None
        if allowed is None:
            allowed = await _looked_up(app_state, cache, principal)
        if not allowed:
            principal = None
            if token is not None:
                raise Unauthorized("The client has been revoked.", code="invalid_token")
    state["principal"] = principal
    return principal


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires(*roles: Role) -> Guard:
    """A guard letting through only the given roles; the matrix test reads ``allowed_roles``."""
    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if principal is None:
            raise Unauthorized(
                "Authentication is required.", headers={"WWW-Authenticate": 'Bearer realm="passport"'}
            )
        if principal.role not in allowed:
            raise Forbidden(f"The {principal.role.value} role may not do this.", code="role_not_allowed")

    guard.allowed_roles = allowed  # type: ignore[attr-defined]
    return guard


class RoleGuardedRoute(HTTPRouteHandler):
    """A route handler (``@RoleGuardedRoute(path, http_method=...)``, as ``@get``); guards get it, not a copy.

    Litestar calls each guard with a shallow copy of the route handler (about 70 attributes copied on
    every request, a sixth of the authenticated read's time in process) so that a guard cannot change
    the handler. :func:`requires` never looks at the handler, so the handler itself is passed; the
    guards, their order and what they check are Litestar's (``resolve_guards``), and the role matrix
    test reads them as for any route. Use it only where every guard in scope is a :func:`requires`.
    """

    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)  # type: ignore[misc]


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller (the route's guard has already checked it)."""
    principal = await authenticate(request)
    if principal is None:  # pragma: no cover - guards run first
        raise Unauthorized("Authentication is required.")
    return principal


CurrentPrincipal = NamedDependency[Principal]
"""Handler parameter ``principal: CurrentPrincipal``: the authenticated caller."""


def same_organisation(principal: Principal, organisation_code: str | None) -> None:
    """Refuse unless the caller is an admin or belongs to ``organisation_code``."""
    if principal.role is Role.ADMIN:
        return
    if organisation_code is None or principal.organisation != organisation_code:
        raise Forbidden("You may act only for your own organisation.")


# ---------------------------------------------------------------- token endpoint


class OAuthError(ServiceError):
    """An RFC 6749 section 5.2 error, rendered as problem details carrying ``error``."""

    def __init__(self, error: str, detail: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(detail, status=status, code=error, headers=headers)
        self.oauth_error = error


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True):
    grant_type: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    device_code: str | None = None
    """With ``grant_type=urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628): the wallet's code."""


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_request", "The Basic credentials are not valid base64.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_request", "The Basic credentials must be client_id:client_secret.")
    from urllib.parse import unquote

    return unquote(client_id), unquote(secret)


def _client_credentials(request: Request[Any, Any, Any], data: TokenRequest) -> tuple[str, str]:
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic is not None and data.client_secret:
        raise OAuthError("invalid_request", "Use one client authentication method, not two.")
    if basic is not None:
        return basic
    if not data.client_id or not data.client_secret:
        raise OAuthError(
            "invalid_client",
            "Client authentication is required (HTTP Basic or client_id and client_secret).",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="passport"'},
        )
    return data.client_id, data.client_secret


@post(
    "/oauth/token",
    tags=["auth"],
    summary="Get an access token (OAuth 2.0 client credentials)",
    status_code=200,
    operation_id="oauth_token",
    opt={"public": True},
)
async def token_endpoint(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    data: Annotated[TokenRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[TokenResponse]:
    if data.grant_type == "urn:ietf:params:oauth:grant-type:device_code":
        from service.credentials.controllers import device_token  # the holder's wallet (RFC 8628)

        return await device_token(request, db_session, data.device_code or "", data.client_id or "")
    if data.grant_type == "urn:ietf:params:oauth:grant-type:pre-authorized_code":
        from service.oid4vc.controllers import token as pre_authorized_token  # OpenID4VCI wallets

        form = await request.form()
        return await pre_authorized_token(request, db_session, {k: form.getall(k) for k in form})  # type: ignore[return-value]
    if data.grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type",
            "Use grant_type=client_credentials, or the device code grant for the holder's wallet.",
        )
    client_id, secret = _client_credentials(request, data)
    # In a read session of its own: the slow hash must not hold the request's write transaction, which
    # on SQLite holds the write lock from its first statement (decision 0045); that is the audit event.
    database: Database = request.app.state.database
    async with database.session(write=False) as reading:
        client = await authenticate_client(reading, client_id, secret)
    request.scope.setdefault("state", {})["audit_actor"] = client_id
    if client is None:
        raise OAuthError(
            "invalid_client",
            "Unknown client, wrong secret or revoked client.",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="passport"'},
        )
    role = Role(client.role)
    if data.scope and data.scope.split() != [role.value]:
        raise OAuthError("invalid_scope", f"This client may only have the scope {role.value!r}.")
    principal = Principal(
        subject=client.client_id,
        kind="client",
        role=role,
        organisation=client.organisation_code,
        name=client.name,
    )
    request.scope["state"]["principal"] = principal
    tokens: TokenService = request.app.state.tokens
    body = TokenResponse(tokens.issue_access_token(principal), "Bearer", tokens.lifetime, role.value)
    return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
