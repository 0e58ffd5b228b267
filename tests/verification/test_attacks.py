"""Every attack of issue 3's list, through the API: a verdict naming the failed check, or a 4xx problem.

Nothing an attacker sends gives a 500, and a refused presentation is still a verification (201 with
verdict ``invalid``), audited like any other.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.audit import AuditEvent
from service.passport import sdjwt, status_list
from service.verification.models import Verification
from service.verification.schemas import MAX_BODY_BYTES
from tests.verification.factories import API, KINDS, Scene, issue

Attack = Callable[[Scene, str, str], list[str]]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def one(scene: Scene, nonce: str, aud: str, kind: str = "core_skills") -> str:
    return scene.present(nonce=nonce, aud=aud, kinds=[kind])[0]


def rebind(
    scene: Scene, jwt: str, disclosures: list[str], *, nonce: str, aud: str, iat: int | None = None
) -> str:
    """``<jwt>~<disclosures>~`` with a correct key-binding JWT by the holder."""
    presented = jwt + "~" + "".join(d + "~" for d in disclosures)
    when = int(time.time()) if iat is None else iat
    return presented + sdjwt.key_binding_jwt(presented, scene.holder_key, aud=aud, nonce=nonce, iat=when)


def parts(text: str) -> tuple[str, list[str], str]:
    pieces = text.split("~")
    return pieces[0], pieces[1:-1], pieces[-1]


def registry_signed(scene: Scene, payload: dict[str, Any], *, typ: str = sdjwt.CREDENTIAL_TYP) -> str:
    """A JWT signed with the registry's own credential key (a careless issuer, for payload attacks)."""
    key = scene.keyring.signer("credential")
    return jws.sign(payload, key.private_key, typ=typ, kid=key.kid)


def payload_of(jwt: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(unb64(jwt.split(".")[1]))
    return value


def tampered_payload(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    header, _payload, signature = jwt.split(".")
    claims = payload_of(jwt)
    claims["exp"] += 10 * 365 * 86400
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    return [rebind(scene, forged, disclosures, nonce=nonce, aud=aud)]


def tampered_disclosure(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    decoded = json.loads(unb64(disclosures[-1]))
    decoded[-1] = "2099-01-01"
    changed = b64(json.dumps(decoded).encode())
    return [rebind(scene, jwt, [*disclosures[:-1], changed], nonce=nonce, aud=aud)]


def duplicate_digest(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    claims = payload_of(jwt)
    claims["_sd"] = [*claims["_sd"], claims["_sd"][0]]
    return [rebind(scene, registry_signed(scene, claims), disclosures, nonce=nonce, aud=aud)]


def foreign_disclosure(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    other = scene.credentials["identity_link"].disclosures[-1].encoded
    return [rebind(scene, jwt, [*disclosures, other], nonce=nonce, aud=aud)]


def unknown_kid(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    stranger = ec.generate_private_key(ec.SECP256R1())
    kid = jws.jwk_thumbprint(jws.public_jwk(stranger.public_key()))
    forged = jws.sign(payload_of(jwt), stranger, typ=sdjwt.CREDENTIAL_TYP, kid=kid)
    return [rebind(scene, forged, disclosures, nonce=nonce, aud=aud)]


def alg_none(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    header = {"alg": "none", "typ": sdjwt.CREDENTIAL_TYP, "kid": scene.keyring.signer("credential").kid}
    forged = f"{b64(json.dumps(header).encode())}.{jwt.split('.')[1]}."
    forged += b64(b"x")  # a non-empty part, so the format stays a three-part JWS
    return [rebind(scene, forged, disclosures, nonce=nonce, aud=aud)]


def hs256_public_key(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    key = scene.keyring.signer("credential")
    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": sdjwt.CREDENTIAL_TYP, "kid": key.kid}).encode())
    signing_input = f"{header}.{jwt.split('.')[1]}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return [rebind(scene, f"{signing_input}.{b64(mac)}", disclosures, nonce=nonce, aud=aud)]


def wrong_typ(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    return [
        rebind(scene, registry_signed(scene, payload_of(jwt), typ="JWT"), disclosures, nonce=nonce, aud=aud)
    ]


def _reissued(scene: Scene, nonce: str, aud: str, **times: int) -> list[str]:
    kind = "core_skills"
    held = sdjwt.HeldCredential.parse(
        issue(scene.keyring, scene.claim_sets[kind], scene.holder_key, scene.indexes[kind], **times)
    )
    return [
        held.present(
            scene.paths(kind), holder_key=scene.holder_key, aud=aud, nonce=nonce, iat=int(time.time())
        )
    ]


def expired(scene: Scene, nonce: str, aud: str) -> list[str]:
    now = int(time.time())
    return _reissued(scene, nonce, aud, iat=now - 400 * 86400, exp=now - 3600)


def not_yet_valid(scene: Scene, nonce: str, aud: str) -> list[str]:
    now = int(time.time())
    return _reissued(scene, nonce, aud, iat=now + 3600)


def kb_missing(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    return [jwt + "~" + "".join(d + "~" for d in disclosures)]


def other_audience(scene: Scene, nonce: str, aud: str) -> list[str]:
    return [one(scene, nonce, "https://hr.another-provider.example")]


def wrong_nonce(scene: Scene, nonce: str, aud: str) -> list[str]:
    return [one(scene, secrets.token_urlsafe(16), aud)]


def stale_iat(scene: Scene, nonce: str, aud: str) -> list[str]:
    return scene.present(nonce=nonce, aud=aud, kinds=["core_skills"], iat=int(time.time()) - 3600)


def wrong_sd_hash(scene: Scene, nonce: str, aud: str) -> list[str]:
    jwt, disclosures, _ = parts(one(scene, nonce, aud))
    other = sdjwt.key_binding_jwt(jwt + "~", scene.holder_key, aud=aud, nonce=nonce, iat=int(time.time()))
    return [jwt + "~" + "".join(d + "~" for d in disclosures) + other]


def other_holder_key(scene: Scene, nonce: str, aud: str) -> list[str]:
    return scene.present(
        nonce=nonce, aud=aud, kinds=["core_skills"], key=ec.generate_private_key(ec.SECP256R1())
    )


ATTACKS: dict[str, tuple[Attack, str, str]] = {
    "tampered payload": (tampered_payload, "signature", "bad_signature"),
    "tampered disclosure": (tampered_disclosure, "disclosures", "unreferenced_disclosure"),
    "duplicate digest": (duplicate_digest, "disclosures", "duplicate_digest"),
    "disclosure not in the credential": (foreign_disclosure, "disclosures", "unreferenced_disclosure"),
    "unknown kid": (unknown_kid, "signature", "unknown_key"),
    "alg none": (alg_none, "signature", "unsupported_alg"),
    "HS256 with the public key": (hs256_public_key, "signature", "unsupported_alg"),
    "wrong typ": (wrong_typ, "typ", "wrong_typ"),
    "expired": (expired, "validity", "expired"),
    "not yet valid": (not_yet_valid, "validity", "not_yet_valid"),
    "key binding missing": (kb_missing, "key_binding", "kb_missing"),
    "key binding for another audience": (other_audience, "kb_audience", "kb_wrong_audience"),
    "wrong nonce": (wrong_nonce, "kb_nonce", "kb_wrong_nonce"),
    "stale iat": (stale_iat, "kb_iat", "kb_stale"),
    "wrong sd_hash": (wrong_sd_hash, "kb_sd_hash", "kb_wrong_sd_hash"),
    "key binding by another key": (other_holder_key, "kb_signature", "kb_bad_signature"),
}


async def verify(
    client: httpx.AsyncClient, scene: Scene, presentations: list[str], nonce: str
) -> httpx.Response:
    body = {
        "presentations": presentations,
        "policy": "theatre-surgical-trainee",
        "nonce": nonce,
        "purpose": "Bank shift",
    }
    return await client.post(f"{API}/verifications", json=body, headers=scene.verifier)


def failed(result: dict[str, Any]) -> dict[str, str]:
    return {
        c["name"]: c["code"] for p in result["presentations"] for c in p["checks"] if c["outcome"] == "failed"
    }


async def test_a_genuine_presentation_passes_every_check(client: httpx.AsyncClient, scene: Scene) -> None:
    nonce = secrets.token_urlsafe(16)
    response = await verify(client, scene, scene.present(nonce=nonce, aud=scene.verifier_id), nonce)
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == "valid", response.json()["summary"]
    assert failed(response.json()) == {}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_each_attack_gets_an_invalid_verdict_naming_the_check(
    name: str, client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    attack, check, code = ATTACKS[name]
    nonce = secrets.token_urlsafe(16)
    before = await session.scalar(select(func.count()).select_from(AuditEvent))
    response = await verify(client, scene, attack(scene, nonce, scene.verifier_id), nonce)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["verdict"] == "invalid"
    assert failed(result).get(check) == code, failed(result)
    assert result["claims"] == {}
    assert result["outcome"] is None
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == (before or 0) + 1
    stored = await session.get(Verification, uuid.UUID(result["id"]))
    assert stored is not None
    assert stored.verdict == "invalid"


@pytest.mark.parametrize(
    ("status", "code"), [(status_list.Status.INVALID, "revoked"), (status_list.Status.SUSPENDED, "suspended")]
)
async def test_revoked_and_suspended_credentials_are_refused(
    status: status_list.Status, code: str, client: httpx.AsyncClient, scene: Scene
) -> None:
    scene.set_status("occupational_health", status)
    nonce = secrets.token_urlsafe(16)
    response = await verify(client, scene, scene.present(nonce=nonce, aud=scene.verifier_id), nonce)
    result = response.json()
    assert result["verdict"] == "invalid"
    health = result["presentations"][KINDS.index("occupational_health")]
    assert {c["name"]: c["code"] for c in health["checks"]}["status"] == code
    assert [p["valid"] for p in result["presentations"]] == [True, False, True, True]


async def test_a_replayed_nonce_is_refused_the_second_time(client: httpx.AsyncClient, scene: Scene) -> None:
    nonce = secrets.token_urlsafe(16)
    presentations = scene.present(nonce=nonce, aud=scene.verifier_id)
    first = await verify(client, scene, presentations, nonce)
    again = await verify(client, scene, presentations, nonce)
    assert first.json()["verdict"] == "valid"
    assert again.status_code == 201
    assert again.json()["verdict"] == "invalid"
    assert set(failed(again.json()).values()) == {"kb_nonce_replayed"}


async def test_an_oversize_presentation_is_413_and_nothing_is_recorded(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    nonce = secrets.token_urlsafe(16)
    big = one(scene, nonce, scene.verifier_id)
    jwt, disclosures, kb = parts(big)
    padded = jwt + "~" + "".join(d + "~" for d in disclosures) + ("A" * 140_000) + "~" + kb
    response = await verify(client, scene, [padded], nonce)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "oversize"
    whole = await client.post(
        f"{API}/verifications",
        content=b'{"presentations": ["' + b"A" * 1_200_000 + b'"]}',
        headers=scene.verifier,
    )
    assert whole.status_code == 413
    assert await session.scalar(select(func.count()).select_from(Verification)) == 0


async def test_a_body_sent_in_chunks_without_a_length_is_read_whole_and_counted(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    """No Content-Length (chunked): the chunks make one body; past the limit it is 413, nothing kept."""
    nonce = secrets.token_urlsafe(16)
    body = json.dumps(
        {
            "presentations": [one(scene, nonce, scene.verifier_id)],
            "policy": "theatre-surgical-trainee",
            "nonce": nonce,
            "purpose": "Bank shift",
        }
    ).encode()

    async def chunks(data: bytes, size: int) -> Any:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    headers = {**scene.verifier, "content-type": "application/json"}
    sent = await client.post(f"{API}/verifications", content=chunks(body, 100), headers=headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["verdict"] == "not_compliant"  # genuine: core skills alone do not meet the policy
    assert failed(sent.json()) == {}
    assert "content-length" not in sent.request.headers
    huge = b'{"presentations": ["' + b"A" * (MAX_BODY_BYTES + 1) + b'"]}'
    refused = await client.post(f"{API}/verifications", content=chunks(huge, 65_536), headers=headers)
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "oversize"
    assert await session.scalar(select(func.count()).select_from(Verification)) == 1


@pytest.mark.parametrize(
    "text",
    ["not-a-presentation", "a.b.c~", "e30.e30.e30~~", "é.é.é~", "eyJhbGciOiJFUzI1NiJ9.e30~WyJzYWx0Il0~x.y.z"],
)
async def test_a_malformed_presentation_is_a_400_naming_it(
    text: str, client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    response = await verify(client, scene, [text], secrets.token_urlsafe(16))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "malformed_presentation"
    assert problem["errors"][0]["field"] == "body.presentations[0]"
    assert await session.scalar(select(func.count()).select_from(Verification)) == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b'{"presentations": []}', 422, "body.presentations"),
        (b'{"presentations": ["a.b.c~"], "policy": "theatre-surgical-trainee"}', 422, "body.nonce"),
        (
            b'{"presentations": ["a.b.c~"], "policy": "no-such", "nonce": "0123456789abcdefXYZ", '
            b'"purpose": "x"}',
            422,
            "body.policy",
        ),
        (b'{"presentations": [1]}', 422, "body.presentations[0]"),
    ],
)
async def test_bad_bodies_are_problems_naming_the_field(
    body: bytes, status: int, field: str | None, client: httpx.AsyncClient, scene: Scene
) -> None:
    response = await client.post(
        f"{API}/verifications", content=body, headers={**scene.verifier, "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in {e["field"] for e in response.json()["errors"]}


async def test_a_nonce_replayed_concurrently_is_accepted_once(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    """Several submissions of one presentation at once (one batch of the writer): exactly one passes."""
    # first one alone, so the policy and the caller are cached: the test's sessions share one connection
    warm = secrets.token_urlsafe(16)
    await verify(client, scene, scene.present(nonce=warm, aud=scene.verifier_id, kinds=["core_skills"]), warm)
    nonce = secrets.token_urlsafe(16)
    presentations = scene.present(nonce=nonce, aud=scene.verifier_id, kinds=["core_skills"])
    answers = await asyncio.gather(*(verify(client, scene, presentations, nonce) for _ in range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    verdicts = sorted(a.json()["verdict"] for a in answers)
    assert verdicts.count("invalid") == 3, verdicts
    replays = [a.json() for a in answers if a.json()["verdict"] == "invalid"]
    assert all(set(failed(r).values()) == {"kb_nonce_replayed"} for r in replays)


def _serve_status_list_signed_at(scene: Scene, offset: int) -> None:
    """Serve the scene's list signed ``offset`` seconds from now (a registry whose clock runs ahead)."""

    async def token(_session: AsyncSession, list_id: str) -> str | None:
        key = scene.keyring.signer("credential")
        return status_list.sign_token(
            scene.statuses,
            key=key.private_key,
            kid=key.kid,
            uri=f"{scene.runtime.settings.issuer}/status-lists/{list_id}",
            iat=int(time.time()) + offset,
            ttl=300,
            iss=scene.runtime.settings.issuer,
        )

    scene.runtime.resolver.forget()
    scene.runtime.resolver.source.in_process = token  # type: ignore[attr-defined]


@pytest.mark.parametrize(("offset", "verdict"), [(1, "valid"), (30, "valid"), (600, "invalid")])
async def test_a_status_list_signed_a_little_ahead_of_the_clock_is_within_the_leeway(
    offset: int, verdict: str, client: httpx.AsyncClient, scene: Scene
) -> None:
    """A list signed in the second after the verifier read its clock (or by a registry a few seconds
    ahead) is a genuine list: the same leeway as on credentials (60 s by default), no more."""
    _serve_status_list_signed_at(scene, offset)
    nonce = secrets.token_urlsafe(16)
    result = (await verify(client, scene, scene.present(nonce=nonce, aud=scene.verifier_id), nonce)).json()
    assert result["verdict"] == verdict, result["presentations"]
    if verdict == "invalid":
        codes = {c["code"] for p in result["presentations"] for c in p["checks"] if c["name"] == "status"}
        assert codes == {"status_unavailable"}, codes
