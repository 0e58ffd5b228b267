"""Published keys and discovery documents: cacheable, public, no authentication."""

from typing import Any

from litestar import Request, get
from litestar.response import Response

from service.keys import KeyRing

JWKS_CACHE = "public, max-age=300, stale-while-revalidate=60"


@get(
    "/.well-known/jwks.json",
    tags=["keys"],
    summary="Credential-signing public keys",
    operation_id="jwks",
    opt={"public": True},
    media_type="application/jwk-set+json",
)
async def jwks(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    keyring: KeyRing = request.app.state.keyring
    return Response(keyring.jwks("credential"), headers={"Cache-Control": JWKS_CACHE})


@get(
    "/oauth/jwks.json",
    tags=["keys"],
    summary="Access-token signing public keys",
    operation_id="oauth_jwks",
    opt={"public": True},
    media_type="application/jwk-set+json",
)
async def token_jwks(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    keyring: KeyRing = request.app.state.keyring
    return Response(keyring.jwks("token"), headers={"Cache-Control": JWKS_CACHE})


@get(
    "/.well-known/oauth-authorization-server",
    tags=["keys"],
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    operation_id="oauth_metadata",
    opt={"public": True},
)
async def oauth_metadata(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    base: str = request.app.state.settings.issuer
    body = {
        "issuer": base,
        "token_endpoint": base + "/oauth/token",
        "jwks_uri": base + "/oauth/jwks.json",
        "device_authorization_endpoint": base + "/oauth/device_authorization",
        "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["holder", "issuer", "verifier", "coordinator", "analyst", "admin"],
    }
    from service.oid4vc import metadata as oid4vci

    body = oid4vci.merge_authorization_server_metadata(body, oid4vci.authorization_server_additions(base))
    return Response(body, headers={"Cache-Control": JWKS_CACHE})
