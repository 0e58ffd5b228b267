"""service/verification/service.py: a policy named by many requests at once is read from the database once.

When the newest version of a policy is no longer remembered, the requests naming it then wait for one
look-up instead of each opening a session (the "stampede" every POLICY_CACHE_SECONDS under load)."""

import asyncio
from typing import Any

import pytest

from service.errors import InvalidInput
from service.passport import service as passport
from service.verification import service
from tests.verification.factories import Scene


@pytest.fixture
def list_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = passport.list_policies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["name"])
        await asyncio.sleep(0)  # the others arrive while it is in flight
        return await real(*args, **kwargs)

    monkeypatch.setattr(passport, "list_policies", counting)
    return calls


async def test_requests_naming_a_policy_no_longer_remembered_make_one_look_up(
    scene: Scene, list_calls: list[str]
) -> None:
    runtime, policy = scene.runtime, scene.policy
    runtime._policies.clear()
    found = await asyncio.gather(
        *(service._named_policy(runtime, policy.organisation_code, policy.name, None) for _ in range(8))
    )
    assert [p.id for p in found] == [policy.id] * 8
    assert list_calls == [policy.name], "one look-up for the 8 requests"
    assert runtime._policy_look_ups == {}, "nothing left in flight"
    again = await service._named_policy(runtime, policy.organisation_code, policy.name, None)
    assert again.id == policy.id
    assert list_calls == [policy.name], "remembered afterwards"


async def test_requests_naming_an_unknown_policy_all_get_the_refusal_of_one_look_up(
    scene: Scene, list_calls: list[str]
) -> None:
    organisation = scene.policy.organisation_code
    results = await asyncio.gather(
        *(service._named_policy(scene.runtime, organisation, "no-such-policy", None) for _ in range(4)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InvalidInput) for r in results)
    assert {str(r) for r in results} == {str(results[0])}
    assert len(list_calls) <= 2, "one look-up (of the organisation and, if any, of its parent)"
    assert scene.runtime._policy_look_ups == {}
