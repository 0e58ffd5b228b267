"""Compliance policies over HTTP: admins create versions; verifiers, holders and coordinators read them."""

from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from tests.factories import client_headers
from tests.passport.factories import API, errors
from tests.workforce.factories import Tree, create_tree


def theatre(**fields: Any) -> dict[str, Any]:
    return {
        "organisation_code": "nt301",
        "name": "theatre-surgical-trainee",
        "title": "Independent sector theatre list, surgical trainee",
        "role": "surgical trainee on a theatre list",
        "rules": [
            {
                "type": "core_skills",
                "subjects": [{"subject": "fire_safety"}, {"subject": "resuscitation", "min_level": 2}],
            },
            {"type": "occupational_health", "item": "epp_clearance", "accepted": ["cleared"]},
            {"type": "occupational_health", "item": "hepatitis_b", "accepted": ["immune"]},
            {"type": "identity_link"},
            {"type": "training_placement", "specialties": ["general surgery"]},
        ],
        **fields,
    }


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    return await create_tree(session)


async def test_versions_are_kept_and_the_latest_is_listed(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    operator = await client_headers(session, app, Role.ADMIN)
    first = await client.post(f"{API}/policies", json=theatre(), headers=operator)
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["organisation_code"], first.json()["latest"]) == (
        1,
        "NT301",
        True,
    )
    assert first.json()["rules"][0]["subjects"][1] == {"subject": "resuscitation", "min_level": 2}
    second = await client.post(f"{API}/policies", json=theatre(title="Theatre list (2027)"), headers=operator)
    assert second.json()["version"] == 2

    verifier = await client_headers(session, app, Role.VERIFIER, tree.site)
    latest = (await client.get(f"{API}/policies", params={"organisation": "NT301"}, headers=verifier)).json()[
        "items"
    ]
    assert [(p["version"], p["title"]) for p in latest] == [(2, "Theatre list (2027)")]
    every = await client.get(
        f"{API}/policies",
        params={"name": "theatre-surgical-trainee", "all_versions": "true"},
        headers=verifier,
    )
    assert [(p["version"], p["latest"]) for p in every.json()["items"]] == [(2, True), (1, False)]
    old = await client.get(f"{API}/policies/{first.json()['id']}", headers=verifier)
    assert old.status_code == 200
    assert (old.json()["version"], old.json()["latest"]) == (1, False)
    assert (
        await client.get(f"{API}/policies/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=verifier)
    ).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"organisation_code": "NX999"}, "body.organisation_code"),
        (
            {"rules": [{"type": "occupational_health", "item": "hepatitis_b", "accepted": ["cleared"]}]},
            "body.rules[0].accepted[0]",
        ),
        (
            {"rules": [{"type": "core_skills", "subjects": [{"subject": "fire_safety", "min_level": 3}]}]},
            "body.rules[0].subjects[0].min_level",
        ),
        ({"rules": [{"type": "training_placement", "site_code": "NX999"}]}, "body.rules[0].site_code"),
        ({"rules": []}, "body.rules"),
        ({"rules": [{"type": "blood_group"}]}, "body.rules[0].type"),
        ({"name": "Theatre List"}, "body.name"),
    ],
)
async def test_bad_policies_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    change: dict[str, Any],
    field: str,
) -> None:
    operator = await client_headers(session, app, Role.ADMIN)
    response = await client.post(f"{API}/policies", json=theatre(**change), headers=operator)
    assert response.status_code == 422, response.text
    assert field in errors(response), errors(response)
    listed = await client.get(f"{API}/policies", headers=operator)
    assert listed.json()["items"] == []
