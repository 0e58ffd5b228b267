"""Issue 3, "A second, independent implementation (the ``sd-jwt`` reference package and a JOSE library that
the production code does not use) verifies credentials the registry issues", here on what the registry
serves over HTTP: the credentials a holder fetches from ``/api/v1/holder/credentials``, checked with the
keys of ``/.well-known/jwt-vc-issuer``; a presentation with key binding; the status list at its URL,
inflated and read without our code; and a presentation the reference holder makes from a registry
credential, accepted by ``POST /api/v1/verifications``.

The existing interop tests (tests/credentials/test_interop.py, tests/passport/test_interop.py) hand the
reference package our keys in-process and check key binding only on credentials made by the pure module.
"""

import base64
import json
import secrets
import warnings
import zlib
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from service.credentials import service as credentials
from service.passport import sdjwt
from tests.audit.helpers import checks_by_type, present, published_keys, register_and_fetch, verify
from tests.conftest import BASE_URL
from tests.verification.factories import API, Scene

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from joserfc import jws as joserfc_jws
    from joserfc.jwk import ECKey


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _issuer_keys(published: list[dict[str, Any]]) -> dict[str, JWK]:
    return {k["kid"]: JWK.from_json(json.dumps(k)) for k in published}


def _jwcrypto_private(key: ec.EllipticCurvePrivateKey) -> JWK:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return JWK.from_pem(pem)


async def test_the_reference_package_verifies_what_the_registry_serves(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    holder = ec.generate_private_key(ec.SECP256R1())
    texts = await register_and_fetch(client, scene.holder, holder)
    published = await published_keys(client)
    keys = _issuer_keys(published)

    def lookup(iss: str, header: dict[str, Any]) -> JWK:
        assert iss == BASE_URL
        return keys[header["kid"]]

    # each credential as issued: the reference package gets the same claims as our holder code
    for text in texts.values():
        theirs = SDJWTVerifier(text, lookup).get_verified_payload()
        ours = sdjwt.HeldCredential.parse(text).claims
        assert {k: v for k, v in theirs.items() if k != "_sd_alg"} == {
            k: v for k, v in ours.items() if k != "_sd_alg"
        }
        assert theirs["cnf"]["jwk"]["x"] == ours["cnf"]["jwk"]["x"]

    # the presentations our wallet code makes pass the reference verifier's key binding checks, and it
    # sees exactly the claims the registry's verifier reports as disclosed
    nonce = secrets.token_urlsafe(16)
    presentations = present(scene, texts, holder, nonce=nonce, aud=scene.verifier_id)
    result = await verify(client, scene, presentations, nonce)
    assert result["verdict"] == "valid", result["summary"]
    for text in presentations:
        theirs = SDJWTVerifier(
            text, lookup, expected_aud=scene.verifier_id, expected_nonce=nonce
        ).get_verified_payload()
        kind = next(k for k, v in texts.items() if v.split("~", 1)[0] == text.split("~", 1)[0])
        registry = result["claims"][kind]
        assert {k: v for k, v in theirs.items() if k != "_sd_alg"} == {
            k: v for k, v in registry.items() if k != "_sd_alg"
        }, kind

    # joserfc checks the served status list token with the published key; zlib and bit arithmetic read it
    item = next(
        i
        for i in (
            await client.get(
                f"{API}/credentials", params={"person_id": str(scene.doctor.id)}, headers=scene.issuer
            )
        ).json()["items"]
        if i["state"] == "valid"
    )
    token = (await client.get(item["status_list_uri"].removeprefix(BASE_URL))).text
    header = json.loads(_unb64(token.split(".")[0]))
    assert header["typ"] == "statuslist+jwt"
    jwk = next(k for k in published if k["kid"] == header["kid"])
    checked = joserfc_jws.deserialize_compact(token, ECKey.import_key(jwk), algorithms=["ES256"])
    claims = json.loads(checked.payload)
    assert claims["sub"] == item["status_list_uri"]
    assert claims["ttl"] > 0
    assert claims["status_list"]["bits"] == 2
    raw = zlib.decompress(_unb64(claims["status_list"]["lst"]))
    assert len(raw) * 8 // 2 >= 131_072
    idx = item["status_idx"]
    assert (raw[idx * 2 // 8] >> (idx * 2 % 8)) & 0b11 == 0  # valid


async def test_a_presentation_the_reference_holder_makes_passes_the_registry_api(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    holder = ec.generate_private_key(ec.SECP256R1())
    texts = await register_and_fetch(client, scene.holder, holder)
    nonce = secrets.token_urlsafe(16)
    made = []
    for kind, choose in (
        ("identity_link", lambda payload: {"identity": {"gmc_number": True}}),
        (
            "core_skills",
            lambda payload: {
                "core_skills": [{"subject": True, "date_to": True}] * len(payload["core_skills"])
            },
        ),
    ):
        reference = SDJWTHolder(texts[kind])
        reference.create_presentation(
            choose(reference.sd_jwt_payload),
            nonce=nonce,
            aud=scene.verifier_id,
            holder_key=_jwcrypto_private(holder),
            sign_alg="ES256",
        )
        made.append(reference.sd_jwt_presentation)
    result = await verify(client, scene, made, nonce)
    codes = checks_by_type(result)
    assert all(p["valid"] for p in result["presentations"]), codes
    assert result["verdict"] == "not_compliant"  # genuine; two credentials do not meet the whole policy
    assert result["claims"]["identity_link"]["identity"] == {"gmc_number": scene.doctor.gmc_number}
    shown = result["claims"]["core_skills"]["core_skills"]
    assert sorted(r["subject"] for r in shown) == ["fire_safety", "resuscitation"]
    assert all(set(r) == {"subject", "date_to"} for r in shown)
