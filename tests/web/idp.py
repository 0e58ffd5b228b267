"""A real, tiny OpenID Connect provider for the tests, served over HTTP by uvicorn in a thread.

It serves discovery, a JWKS, an authorization endpoint that approves ``account`` at once, and a token
endpoint that checks client_secret_basic, the code, the redirect URI and the PKCE verifier before
returning an ES256 ID token. Knobs let a test make it misbehave: claim overrides, another signing key,
``alg: none``, HS256 keyed with the public key, an unknown ``kid``.
"""

import base64
import collections
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar, Request, get, post
from litestar.response import Redirect, Response

Signing = Literal["good", "other_key", "unknown_kid", "none", "hs256"]


@dataclass
class Account:
    """The person the provider signs in."""

    sub: str
    email: str | None
    email_verified: Any = True
    name: str = "Dr Test Person"


@dataclass
class _Grant:
    redirect_uri: str
    code_challenge: str
    nonce: str
    account: Account


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class IdentityProvider:
    client_id: str
    client_secret: str
    redirect_uri: str
    issuer: str = ""
    account: Account | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    """Overrides of the ID token's claims; a value of ``None`` removes the claim."""
    signing: Signing = "good"
    key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    kid: str = "idp-key-1"
    other_key: ec.EllipticCurvePrivateKey = field(default_factory=_new_key)
    codes: dict[str, _Grant] = field(default_factory=dict)
    hits: collections.Counter[str] = field(default_factory=collections.Counter)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.account = None
        self.claims = {}
        self.signing = "good"
        self.codes.clear()
        self.hits.clear()
        self.token_requests.clear()

    def rotate_key(self) -> None:
        self.key = _new_key()
        self.kid = f"idp-key-{secrets.token_hex(4)}"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return {"keys": [jwk]}

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.account.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": grant.account.email,
            "email_verified": grant.account.email_verified,
            "name": grant.account.name,
        }
        for name, value in self.claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        if self.signing == "good":
            return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})
        if self.signing in ("other_key", "unknown_kid"):
            kid = self.kid if self.signing == "other_key" else "not-published"
            return jwt.encode(claims, self.other_key, algorithm="ES256", headers={"kid": kid})
        alg = "none" if self.signing == "none" else "HS256"
        header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": self.kid}).encode())
        body = _b64(json.dumps(claims).encode())
        if alg == "none":
            return f"{header}.{body}."
        # The classic confusion attack: HMAC keyed with the provider's public key, which anyone can fetch.
        public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(mac)}"

    # ------------------------------------------------------------ endpoints

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            provider.hits["discovery"] += 1
            return {
                "issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "jwks_uri": provider.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }

        @get("/jwks")
        async def jwks() -> dict[str, Any]:
            provider.hits["jwks"] += 1
            return provider.jwks()

        @get("/authorize")
        async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            provider.hits["authorize"] += 1
            q = request.query_params
            problems = [
                q.get("response_type") != "code",
                q.get("client_id") != provider.client_id,
                q.get("redirect_uri") != provider.redirect_uri,
                "openid" not in (q.get("scope") or "").split(),
                q.get("code_challenge_method") != "S256",
                not q.get("code_challenge"),
                not q.get("state"),
                not q.get("nonce"),
            ]
            if any(problems) or provider.account is None:
                return Response({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(24)
            provider.codes[code] = _Grant(
                redirect_uri=q["redirect_uri"],
                code_challenge=q["code_challenge"],
                nonce=q["nonce"],
                account=provider.account,
            )
            return Redirect(q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))

        @post("/token", status_code=200)
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            provider.hits["token"] += 1
            form = {k: str(v) for k, v in (await request.form()).items()}
            provider.token_requests.append(form)
            if not provider._client_authenticated(request.headers.get("authorization")):
                return Response({"error": "invalid_client"}, status_code=401)
            grant = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if (
                form.get("grant_type") != "authorization_code"
                or grant is None
                or form.get("redirect_uri") != grant.redirect_uri
                or not hmac.compare_digest(challenge, grant.code_challenge)
            ):
                return Response({"error": "invalid_grant"}, status_code=400)
            body = {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(grant),
            }
            return Response(body, headers={"Cache-Control": "no-store"})

        return Litestar([discovery, jwks, authorize, token], debug=False, logging_config=None)

    def _client_authenticated(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        if scheme != "Basic":
            return False
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
        return unquote(client_id) == self.client_id and unquote(secret) == self.client_secret


class Server:
    """uvicorn serving an ASGI app on 127.0.0.1 at a free port, in a background thread."""

    def __init__(self, app: Litestar) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, lifespan="off", ws="none", http="h11", log_config=None, access_log=False, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="test-idp", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test identity provider did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
