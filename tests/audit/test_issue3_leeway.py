"""Issue 3, part 6, "``iat``/``nbf``/``exp`` with configurable leeway": ``PASSPORT_VERIFICATION_LEEWAY``
decides, over HTTP, whether a credential 90 seconds past its ``exp`` (or 90 seconds before its ``iat`` or
``nbf``) is refused.

The existing tests check the leeway of the pure verifier (tests/passport/test_presentation.py) and that the
setting is validated (tests/test_config.py); none checks that the setting reaches the verification API.
"""

import secrets
import time

import httpx
import msgspec
import pytest

from service.config import Settings
from service.passport import sdjwt
from tests.audit.helpers import checks_by_type, verify
from tests.verification.factories import Scene, issue


@pytest.fixture(params=[0, 120], ids=["leeway-0", "leeway-120"])
def leeway(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@pytest.fixture
def settings(settings: Settings, leeway: int) -> Settings:
    return msgspec.structs.replace(settings, verification_leeway=leeway)


@pytest.mark.parametrize(
    ("times", "code"),
    [
        ({"iat_ago": 400 * 86400, "exp_ago": 90}, "expired"),
        ({"iat_ago": -90}, "not_yet_valid"),
        ({"iat_ago": 0, "nbf_ago": -90}, "not_yet_valid"),
    ],
    ids=["exp", "iat", "nbf"],
)
async def test_the_leeway_setting_decides_a_credential_near_its_validity_bounds(
    times: dict[str, int], code: str, leeway: int, client: httpx.AsyncClient, scene: Scene
) -> None:
    now = int(time.time())
    kind = "core_skills"
    extra = {"nbf": now - times["nbf_ago"]} if "nbf_ago" in times else {}
    text = issue(
        scene.keyring,
        scene.claim_sets[kind],
        scene.holder_key,
        scene.indexes[kind],
        iat=now - times["iat_ago"],
        exp=now - times["exp_ago"] if "exp_ago" in times else None,
        **extra,
    )
    if "exp_ago" not in times:
        assert sdjwt.HeldCredential.parse(text).payload["exp"] > now
    nonce = secrets.token_urlsafe(16)
    shown = sdjwt.HeldCredential.parse(text).present(
        scene.paths(kind), holder_key=scene.holder_key, aud=scene.verifier_id, nonce=nonce, iat=now
    )
    result = await verify(client, scene, [shown], nonce)
    validity = checks_by_type(result)[kind]["validity"]
    if leeway == 0:
        assert validity == code
        assert result["verdict"] == "invalid"
    else:
        assert validity == "ok"
        assert result["verdict"] != "invalid", result["summary"]
