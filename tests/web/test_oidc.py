"""The OpenID Connect client on its own: encodings, discovery checks, key selection, RS256.

The flow through the app against a real provider over HTTP is in ``test_controllers.py``; here a
provider is simulated with ``httpx.MockTransport`` to reach cases a well-behaved provider never shows.
"""

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.web.oidc import OidcClient, OidcError, client_secret_basic, pkce_challenge

ISSUER = "https://login.example.nhs.uk"
CLIENT_ID = "passport"
NONCE = "the-nonce"


def test_pkce_challenge_is_the_rfc_7636_example() -> None:
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_client_secret_basic_encodes_both_parts_before_base64() -> None:
    header = client_secret_basic("my client", "p@ss:w/rd")
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "my%20client:p%40ss%3Aw%2Frd"


def _rsa_jwk(key: rsa.RSAPrivateKey, **extra: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(extra)
    return jwk


class FakeProvider:
    """Discovery, JWKS and token endpoint answered in memory; each field can be made to misbehave."""

    def __init__(self) -> None:
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": ISSUER + "/authorize",
            "token_endpoint": ISSUER + "/token",
            "jwks_uri": ISSUER + "/jwks",
        }
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys: list[dict[str, Any]] = [_rsa_jwk(self.rsa_key)]
        self.token_status = 200
        self.id_token = ""

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if path == "/jwks":
            return httpx.Response(200, json={"keys": self.keys})
        if path == "/token":
            return httpx.Response(self.token_status, json={"id_token": self.id_token})
        return httpx.Response(404)

    def client(self) -> OidcClient:
        return OidcClient(
            issuer=ISSUER,
            client_id=CLIENT_ID,
            client_secret="secret",
            redirect_uri="https://passport.example/auth/oidc/callback",
            transport=httpx.MockTransport(self.handler),
        )


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "s-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": NONCE}
    claims.update(changes)
    return claims


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


async def test_an_rs256_token_without_kid_is_accepted_from_a_single_key(provider: FakeProvider) -> None:
    token = jwt.encode(_claims(email="A@B.example", email_verified=True), provider.rsa_key, algorithm="RS256")
    identity = await provider.client().validate_id_token(token, nonce=NONCE, now=_now())
    assert identity.key == f"{ISSUER} s-1"
    assert identity.email == "a@b.example"
    assert identity.email_verified is True


async def test_a_key_published_for_another_algorithm_or_use_is_not_used(provider: FakeProvider) -> None:
    provider.keys = [
        _rsa_jwk(provider.rsa_key, kid="rs512", alg="RS512"),
        _rsa_jwk(provider.rsa_key, kid="enc", use="enc"),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
    ]
    client = provider.client()
    for kid in ("rs512", "enc", "hmac"):
        token = jwt.encode(_claims(), provider.rsa_key, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(OidcError, match="not in the provider's JWKS"):
            await client.validate_id_token(token, nonce=NONCE, now=_now())


async def test_an_ec_key_on_another_curve_is_refused(provider: FakeProvider) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(p384.public_key()))
    provider.keys = [{**jwk, "kid": "p384"}]
    token = jwt.encode(_claims(), p384, algorithm="ES384", headers={"kid": "p384"})
    with pytest.raises(OidcError, match="algorithm we do not accept"):
        await provider.client().validate_id_token(token, nonce=NONCE, now=_now())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(issuer="https://other.example"), "names another issuer"),
        (lambda d: d.update(token_endpoint=f"http://{ISSUER[8:]}/token"), "token_endpoint is not https"),
        (lambda d: d.pop("jwks_uri"), "not valid"),
    ],
    ids=["another-issuer", "plain-http-endpoint", "no-jwks-uri"],
)
async def test_a_bad_discovery_document_is_refused(
    provider: FakeProvider, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    change(provider.discovery)
    with pytest.raises(OidcError, match=message) as caught:
        await provider.client().authorization_request()
    assert caught.value.code == "provider_misconfigured"


@pytest.mark.parametrize(("status", "code"), [(400, "code_refused"), (503, "provider_unavailable")])
async def test_token_endpoint_failures_have_codes(provider: FakeProvider, status: int, code: str) -> None:
    provider.token_status = status
    with pytest.raises(OidcError) as caught:
        await provider.client().exchange_code("code", "verifier")
    assert caught.value.code == code


async def test_the_authorization_request_carries_every_protection(provider: FakeProvider) -> None:
    request = await provider.client().authorization_request()
    query = httpx.URL(request.url).params
    assert request.url.startswith(ISSUER + "/authorize?")
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile"
    assert query["state"] == request.state
    assert query["nonce"] == request.nonce
    assert query["code_challenge"] == pkce_challenge(request.code_verifier)
    assert query["code_challenge_method"] == "S256"
    other = await provider.client().authorization_request()
    assert {other.state, other.nonce, other.code_verifier}.isdisjoint(
        {request.state, request.nonce, request.code_verifier}
    ), "fresh secrets every time"
