"""OpenID Connect relying party: authorization code flow with PKCE, ID token validation.

Implements the parts of OpenID Connect Core 1.0 and Discovery 1.0 a confidential web client needs:

- discovery from ``<issuer>/.well-known/openid-configuration``; the document's ``issuer`` must equal
  the configured issuer exactly (Discovery 4.3); the document and the JWKS are cached;
- the authorization request with ``state``, ``nonce`` and PKCE ``S256`` (RFC 7636);
- the code exchange at the token endpoint with ``client_secret_basic`` (RFC 6749 2.3.1);
- ID token validation (Core 3.1.3.7): signature from the provider's JWKS with an algorithm from our
  allow-list chosen by the key, never by the token (RFC 8725); ``iss``, ``aud``, ``azp``, ``exp``,
  ``iat``, ``nbf`` and ``nonce``.

Pure-ish module: httpx, PyJWT and msgspec; no Litestar, no SQLAlchemy. Every failure is an
:class:`OidcError` with a machine-readable ``code``; nothing here logs a token or a claim.
"""

import base64
import datetime as dt
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
import msgspec

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
"""The only ID token algorithms accepted, whatever the token or the provider says."""
_KEY_ALGORITHM = {("RSA", None): "RS256", ("EC", "P-256"): "ES256"}
"""The one algorithm each accepted key type is used with."""
SCOPES = "openid email profile"
DISCOVERY_PATH = "/.well-known/openid-configuration"
LEEWAY = 60
"""Seconds of clock skew tolerated between us and the provider."""
MAX_ID_TOKEN_AGE = 600
"""An ID token issued longer ago than this is refused: it was just minted for this sign-in."""
MAX_DOCUMENT_BYTES = 512 * 1024
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class OidcError(Exception):
    """A sign-in through the provider failed. ``code`` says why; ``str()`` is safe to show and log."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ProviderMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """The part of the discovery document we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: list[str] = msgspec.field(default_factory=list)


class AuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Where to send the browser, and the secrets to keep until the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """Who the provider says signed in, from a validated ID token."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None

    @property
    def key(self) -> str:
        """``<issuer> <sub>``: the only identifier that is stable and unique across providers."""
        return f"{self.issuer} {self.subject}"


class _TokenResponse(msgspec.Struct, frozen=True):
    id_token: str


def pkce_challenge(verifier: str) -> str:
    """The ``S256`` code challenge of a PKCE code verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def client_secret_basic(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` header value: both parts form-urlencoded first (RFC 6749 2.3.1)."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _endpoint_ok(url: str, *, allow_http: bool) -> bool:
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_http else {"https"}
    return parts.scheme in schemes and bool(parts.netloc) and not parts.fragment


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class OidcClient:
    """One configured provider. Keeps the discovery document and the JWKS for ``cache_seconds``."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        timeout: float = 10.0,
        cache_seconds: float = 3600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._transport = transport
        # Plain http only for a provider on this machine (development and tests), as the settings allow.
        self._allow_http = urlsplit(issuer).hostname in _LOOPBACK
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._jwks: tuple[float, dict[str | None, jwt.PyJWK]] | None = None

    # ------------------------------------------------------------ HTTP

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, transport=self._transport)

    async def _get(self, url: str) -> bytes:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            raise OidcError("provider_unavailable", "The identity provider could not be reached.") from None
        if response.status_code != 200:
            raise OidcError(
                "provider_unavailable", f"The identity provider answered {response.status_code} at {url}."
            )
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise OidcError("provider_misconfigured", f"The identity provider's {url} is too large.")
        return response.content

    def _fresh(self, fetched_at: float) -> bool:
        return time.monotonic() - fetched_at < self._cache_seconds

    # ------------------------------------------------------------ discovery and keys

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, checked and cached."""
        if self._metadata is not None and self._fresh(self._metadata[0]):
            return self._metadata[1]
        url = self.issuer.rstrip("/") + DISCOVERY_PATH
        try:
            metadata = msgspec.json.decode(await self._get(url), type=ProviderMetadata)
        except msgspec.DecodeError:
            raise OidcError("provider_misconfigured", "The discovery document is not valid.") from None
        if metadata.issuer != self.issuer:
            raise OidcError(
                "provider_misconfigured",
                "The discovery document names another issuer: PASSPORT_OIDC_ISSUER must equal its 'issuer'.",
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not _endpoint_ok(getattr(metadata, name), allow_http=self._allow_http):
                raise OidcError("provider_misconfigured", f"The discovery document's {name} is not https.")
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def _fetch_keys(self) -> dict[str | None, jwt.PyJWK]:
        metadata = await self.metadata()
        try:
            document = msgspec.json.decode(await self._get(metadata.jwks_uri))
        except msgspec.DecodeError:
            raise OidcError("provider_misconfigured", "The provider's JWKS is not valid JSON.") from None
        raw_keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw_keys, list):
            raise OidcError("provider_misconfigured", "The provider's JWKS has no 'keys'.")
        keys: dict[str | None, jwt.PyJWK] = {}
        for raw in raw_keys:
            key = _usable_key(raw)
            if key is not None:
                keys.setdefault(key.key_id, key)
        self._jwks = (time.monotonic(), keys)
        return keys

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        """The signing key named ``kid``; a cached JWKS is fetched again once if it lacks the key."""
        cached = self._jwks
        from_cache = cached is not None and self._fresh(cached[0])
        keys = cached[1] if cached is not None and from_cache else await self._fetch_keys()
        key = _pick(keys, kid)
        if key is None and from_cache:
            key = _pick(await self._fetch_keys(), kid)  # the provider may have rotated its keys
        if key is None:
            raise OidcError("invalid_id_token", "The ID token's signing key is not in the provider's JWKS.")
        return key

    # ------------------------------------------------------------ the flow

    async def authorization_request(self) -> AuthorizationRequest:
        """A new authorization request: the URL to redirect to and the secrets to keep."""
        metadata = await self.metadata()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": SCOPES,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if urlsplit(metadata.authorization_endpoint).query else "?"
        url = metadata.authorization_endpoint + separator + query
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def exchange_code(self, code: str, code_verifier: str) -> str:
        """The ID token for an authorization code (client_secret_basic, PKCE verifier)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {
            "Authorization": client_secret_basic(self.client_id, self._client_secret),
            "Accept": "application/json",
        }
        try:
            async with self._http() as http:
                response = await http.post(metadata.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError:
            raise OidcError("provider_unavailable", "The identity provider could not be reached.") from None
        if 400 <= response.status_code < 500:
            raise OidcError("code_refused", "The identity provider refused the sign-in code.")
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise OidcError("provider_unavailable", f"The identity provider answered {response.status_code}.")
        try:
            return msgspec.json.decode(response.content, type=_TokenResponse).id_token
        except msgspec.DecodeError:
            raise OidcError("provider_misconfigured", "The token response carries no ID token.") from None

    async def validate_id_token(self, id_token: str, *, nonce: str, now: dt.datetime) -> Identity:
        """The identity in ``id_token``, or :class:`OidcError` ``invalid_id_token``."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("invalid_id_token", "The ID token is malformed.") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise OidcError("invalid_id_token", "The ID token uses an algorithm we do not accept.")
        kid = header.get("kid")
        key = await self._key_for(kid if isinstance(kid, str) else None)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                # The algorithm comes from the provider's key, never from the token's header.
                algorithms=[key.algorithm_name],
                audience=self.client_id,
                issuer=self.issuer,
                options={
                    "require": ["iss", "sub", "aud", "exp", "iat", "nonce"],
                    # Times are checked below against our injectable clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise OidcError("invalid_id_token", f"The ID token is invalid ({_reason(exc)}).") from None
        _check_claims(claims, client_id=self.client_id, nonce=nonce, now=now.timestamp())
        return _identity(claims, self.issuer)

    async def sign_in(self, code: str, *, code_verifier: str, nonce: str, now: dt.datetime) -> Identity:
        """Exchange the code and validate the ID token it yields."""
        id_token = await self.exchange_code(code, code_verifier)
        return await self.validate_id_token(id_token, nonce=nonce, now=now)


def _usable_key(raw: Any) -> jwt.PyJWK | None:
    """The key if it is a signing key of a type we accept, used with the one algorithm we allow for it."""
    if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
        return None
    kty = raw.get("kty")
    alg = _KEY_ALGORITHM.get((kty, raw.get("crv") if kty == "EC" else None)) if isinstance(kty, str) else None
    if alg is None or raw.get("alg", alg) != alg:
        return None
    try:
        return jwt.PyJWK.from_dict(raw, algorithm=alg)
    except jwt.PyJWTError:
        return None


def _pick(keys: dict[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"no {exc.claim} claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm does not match the key"
    return type(exc).__name__


def _check_claims(claims: dict[str, Any], *, client_id: str, nonce: str, now: float) -> None:
    """The checks PyJWT does not make for us: times on our clock, ``azp``, ``nonce``."""
    exp, iat, nbf = _number(claims.get("exp")), _number(claims.get("iat")), claims.get("nbf")
    if exp is None or iat is None:
        raise OidcError("invalid_id_token", "The ID token's exp and iat must be numbers.")
    if exp <= now - LEEWAY:
        raise OidcError("invalid_id_token", "The ID token has expired.")
    if iat > now + LEEWAY or iat < now - MAX_ID_TOKEN_AGE - LEEWAY:
        raise OidcError("invalid_id_token", "The ID token was not issued for this sign-in (iat).")
    if nbf is not None and ((start := _number(nbf)) is None or start > now + LEEWAY):
        raise OidcError("invalid_id_token", "The ID token is not valid yet.")
    aud = claims["aud"]
    azp = claims.get("azp")
    several = isinstance(aud, list) and len(aud) > 1
    if (several or azp is not None) and azp != client_id:
        raise OidcError("invalid_id_token", "The ID token was issued to another party (azp).")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), nonce.encode()):
        raise OidcError("invalid_id_token", "The ID token does not answer this sign-in (nonce).")


def _identity(claims: dict[str, Any], issuer: str) -> Identity:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OidcError("invalid_id_token", "The ID token's subject is not valid.")
    email = claims.get("email")
    name = claims.get("name")
    return Identity(
        issuer=issuer,
        subject=sub,
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        # Only a JSON true counts: a string "true" or a missing claim means not verified.
        email_verified=claims.get("email_verified") is True,
        name=name if isinstance(name, str) else None,
    )
