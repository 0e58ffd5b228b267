"""The API document lists what the routes of a closed presentation request answer: 409 for an answered
one, 410 for an expired one. Each route is made to answer both over HTTP, and the document is walked for
the status it gave, as problem details; no other operation claims a 410."""

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import PROBLEM_JSON
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from service.verification.models import PresentationRequest
from tests.oid4vc import wallet as w
from tests.oid4vc.test_presentation import fetch_request, holdings, open_request
from tests.verification.factories import API, Scene, create_scene

CLOSED = {"answered": (409, "request_answered"), "expired": (410, "request_expired")}
CLOSED_REQUEST_OPERATIONS = {
    "presentation_request_openid4vp",
    "oid4vp_request_object",
    "oid4vp_direct_post",
    "respond_to_presentation_request",
    "verify_presentations",
}


@pytest.fixture
async def scene(session: AsyncSession, app: Litestar, keyring: KeyRing, data_keys: DataKeyRing) -> Scene:
    return await create_scene(session, app, keyring, data_keys)


async def ask_every_route(
    client: httpx.AsyncClient, scene: Scene, opened: dict[str, Any], vp_token: dict[str, Any], state: str
) -> dict[str, httpx.Response]:
    """What each route answers for the request ``opened`` (closed by now), by operation id."""
    present = scene.present(nonce=opened["nonce"], aud=opened["audience"])
    request_id = opened["id"]
    return {
        "presentation_request_openid4vp": await client.get(
            f"{API}/presentation-requests/{request_id}/openid4vp", headers=scene.verifier
        ),
        "oid4vp_request_object": await client.get(w.read_request_link(opened["deep_link"])[1]),
        "oid4vp_direct_post": await client.post(
            f"/oid4vp/responses/{request_id}", data=w.direct_post_body(vp_token, state)
        ),
        "respond_to_presentation_request": await client.post(
            f"{API}/presentation-requests/{request_id}/response",
            json={"presentations": present},
            headers=scene.holder,
        ),
        "verify_presentations": await client.post(
            f"{API}/verifications",
            json={"presentations": present, "request_id": request_id},
            headers=scene.verifier,
        ),
    }


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every operation of the document by its id."""
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


async def test_routes_of_a_closed_request_document_their_409_and_410(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    answers: dict[str, dict[str, httpx.Response]] = {}
    for state in CLOSED:
        opened = await open_request(client, scene)
        request = await fetch_request(client, opened["deep_link"])
        helds, keys = holdings(scene)
        vp_token = w.answer(request, helds, keys, iat=int(time.time()))
        if state == "answered":
            body = w.direct_post_body(vp_token, request["state"])
            done = await client.post(request["response_uri"], data=body)
            assert done.status_code == 200, done.text
        else:
            await session.execute(
                update(PresentationRequest)
                .where(PresentationRequest.id == uuid.UUID(opened["id"]))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
            await session.commit()
        answers[state] = await ask_every_route(client, scene, opened, vp_token, request["state"])

    document = (await client.get("/schema/openapi.json")).json()
    by_id = operations(document)
    for state, (status, code) in CLOSED.items():
        assert set(answers[state]) == CLOSED_REQUEST_OPERATIONS
        for operation_id, response in answers[state].items():
            assert response.status_code == status, (state, operation_id, response.text)
            assert response.headers["content-type"].startswith(PROBLEM_JSON), operation_id
            assert response.json()["code"] == code, (operation_id, response.text)
            documented = by_id[operation_id]["responses"].get(str(status))
            assert documented is not None, f"{operation_id} answers {status} but the document does not say"
            assert PROBLEM_JSON in documented["content"], operation_id
            assert code in documented["description"], (operation_id, documented["description"])

    claiming_410 = {op for op, operation in by_id.items() if "410" in operation["responses"]}
    assert claiming_410 == CLOSED_REQUEST_OPERATIONS, "only a presentation request expires"
