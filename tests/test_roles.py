"""Least privilege: every route is guarded or deliberately public, and each role reaches only its routes.

``EXPECTED`` is the reviewed permission matrix. A new route, or a changed guard, fails here until the
matrix is updated, so every change of who-may-do-what is a visible decision.
"""

import re
import uuid

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import ALL_ROLES, Role
from tests.factories import client_headers, create_organisation

ADM, ISS, COO, HOL = Role.ADMIN, Role.ISSUER, Role.COORDINATOR, Role.HOLDER
VER = Role.VERIFIER
ANA = Role.ANALYST
EVERYONE = frozenset(ALL_ROLES)

EXPECTED: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/api/v1/organisations"): EVERYONE,
    ("POST", "/api/v1/organisations"): frozenset({ADM}),
    ("GET", "/api/v1/organisations/{code:str}"): EVERYONE,
    ("POST", "/api/v1/organisations/import"): frozenset({ADM}),
    ("GET", "/api/v1/people"): frozenset({ADM, ISS, COO}),
    ("POST", "/api/v1/people"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/people/import"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/people/{person_id:uuid}"): frozenset({ADM, ISS, COO, HOL}),
    ("GET", "/api/v1/people/{person_id:uuid}/employments"): frozenset({ADM, ISS, COO}),
    ("GET", "/api/v1/employments"): frozenset({ADM, ISS, COO}),
    ("POST", "/api/v1/employments"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/employments/import"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/employments/{employment_id:uuid}"): frozenset({ADM, ISS, COO}),
    # passport: source records (issuers submit and change their own; admins read, OH outcomes redacted)
    ("POST", "/api/v1/records"): frozenset({ISS}),
    ("GET", "/api/v1/records"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/records/import"): frozenset({ISS}),
    ("GET", "/api/v1/records/{record_id:uuid}"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/records/{record_id:uuid}/history"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/records/{record_id:uuid}/corrections"): frozenset({ISS}),
    ("POST", "/api/v1/records/{record_id:uuid}/withdrawal"): frozenset({ISS}),
    # passport: the CSTF reference table (reference data) and compliance policies (not personal)
    ("GET", "/api/v1/cstf-subjects"): EVERYONE,
    ("PUT", "/api/v1/cstf-subjects/{subject:str}"): frozenset({ADM}),
    ("POST", "/api/v1/policies"): frozenset({ADM}),
    ("GET", "/api/v1/policies"): frozenset({ADM, VER, HOL, COO}),
    ("GET", "/api/v1/policies/{policy_id:uuid}"): frozenset({ADM, VER, HOL, COO}),
    # additionality (docs/additionality.md, "Roles")
    ("POST", "/api/v1/additionality/offers"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/additionality/offers/import"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/additionality/roster/import"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/additionality/offers"): frozenset({ADM, ANA, COO, ISS}),
    ("GET", "/api/v1/additionality/offers/{offer_id:uuid}"): frozenset({ADM, ANA, COO, ISS}),
    ("POST", "/api/v1/additionality/activity"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/additionality/activity/import"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/additionality/shortage-lists"): frozenset({ADM, ANA, COO, ISS}),
    ("GET", "/api/v1/additionality/shortage-lists/{version:int}"): frozenset({ADM, ANA, COO, ISS}),
    ("POST", "/api/v1/additionality/shortage-lists"): frozenset({ADM}),
    ("GET", "/api/v1/additionality/parameters"): frozenset({ADM, ANA, COO, ISS}),
    ("GET", "/api/v1/additionality/parameters/{version:int}"): frozenset({ADM, ANA, COO, ISS}),
    ("POST", "/api/v1/additionality/parameters"): frozenset({ADM}),
    ("POST", "/api/v1/additionality/offers/{offer_id:uuid}/checks"): frozenset({ADM, ANA, COO}),
    ("GET", "/api/v1/additionality/offers/{offer_id:uuid}/checks"): frozenset({ADM, ANA, COO, ISS}),
    ("POST", "/api/v1/additionality/checks"): frozenset({ADM, ANA, COO}),
    ("GET", "/api/v1/additionality/checks/{check_id:int}"): frozenset({ADM, ANA, COO, ISS}),
    ("GET", "/api/v1/additionality/checks/{check_id:int}/reproduction"): frozenset({ADM, ANA, COO, ISS}),
    ("GET", "/api/v1/additionality/summary"): frozenset({ADM, ANA, COO}),
    ("GET", "/api/v1/additionality/export.csv"): frozenset({ADM, ANA, COO}),
    ("GET", "/api/v1/additionality/report.html"): frozenset({ADM, ANA, COO}),
    # benchmark: analysts publish and download; providers' systems (issuers) submit their learners
    ("POST", "/api/v1/benchmarks"): frozenset({ADM, ANA}),
    ("GET", "/api/v1/benchmarks"): frozenset({ADM, ANA}),
    ("GET", "/api/v1/benchmarks/{benchmark_id:uuid}"): frozenset({ADM, ANA}),
    ("GET", "/api/v1/benchmarks/{benchmark_id:uuid}/{format:str}"): frozenset({ADM, ANA}),
    ("GET", "/api/v1/benchmarks/{benchmark_id:uuid}/{format:str}/signature"): frozenset({ADM, ANA}),
    ("POST", "/api/v1/benchmark-learners"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/benchmark-learners/import"): frozenset({ADM, ISS}),
    ("GET", "/api/v1/benchmark-learners"): frozenset({ADM, ISS, ANA}),
    ("POST", "/api/v1/placements/datasets"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/datasets"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/datasets/{dataset_id:uuid}"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/datasets/{dataset_id:uuid}/files/{kind:str}"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/datasets/{dataset_id:uuid}/files/{kind:str}"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/volumes"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/curriculum"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/logbook"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/datasets/{dataset_id:uuid}/runs"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/datasets/{dataset_id:uuid}/runs"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/runs/{run_id:uuid}"): frozenset({ADM, COO}),
    ("POST", "/api/v1/placements/runs/{run_id:uuid}/publish"): frozenset({ADM, COO}),
    ("GET", "/api/v1/placements/sites/{code:str}/placements"): frozenset({ADM, COO, ISS, VER}),
    # verification (docs/verification.md): verifiers ask and verify, holders answer and read their log
    ("POST", "/api/v1/presentation-requests"): frozenset({VER}),
    ("GET", "/api/v1/presentation-requests"): frozenset({VER}),
    ("GET", "/api/v1/presentation-requests/{request_id:uuid}"): frozenset({VER}),
    ("GET", "/api/v1/presentation-requests/{request_id:uuid}/request"): frozenset({HOL}),
    ("POST", "/api/v1/presentation-requests/{request_id:uuid}/response"): frozenset({HOL}),
    ("POST", "/api/v1/verifications"): frozenset({VER}),
    ("GET", "/api/v1/holder/verifications"): frozenset({HOL}),
    # credentials: issuers act on credentials stating their records (admins on any); holders on their own
    ("GET", "/api/v1/credentials"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/credentials/{credential_id:uuid}/revoke"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/credentials/{credential_id:uuid}/suspend"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/credentials/{credential_id:uuid}/reinstate"): frozenset({ADM, ISS}),
    ("POST", "/api/v1/holder/nonce"): frozenset({HOL}),
    ("POST", "/api/v1/holder/keys"): frozenset({HOL}),
    ("GET", "/api/v1/holder/credentials"): frozenset({HOL}),
    # OpenID4VCI (docs/oid4vc.md): issuers and admins offer credentials to a person, a holder to themselves
    ("POST", "/api/v1/credential-offers"): frozenset({ADM, ISS, HOL}),
    ("GET", "/api/v1/presentation-requests/{request_id:uuid}/openid4vp"): frozenset({VER}),
}


def _guarded_routes(app: Litestar) -> dict[tuple[str, str], frozenset[Role] | None]:
    """(method, path) -> roles let through by its guard; None when public or without a role guard."""
    found: dict[tuple[str, str], frozenset[Role] | None] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method in {"OPTIONS", "HEAD"}:
                    continue
                roles: frozenset[Role] | None = None
                for guard in handler.resolve_guards():
                    allowed = getattr(guard, "allowed_roles", None)
                    if allowed is not None:
                        roles = allowed if roles is None else roles & allowed
                if handler.opt.get("public"):
                    _PUBLIC.add((method, route.path))
                    roles = None
                found[(method, route.path)] = roles
    return found


_PUBLIC: set[tuple[str, str]] = set()
"""Routes whose handler is marked ``opt={'public': True}``."""


def test_every_route_is_guarded_or_public(app: Litestar) -> None:
    routes = _guarded_routes(app)
    unguarded = [
        f"{method} {path}"
        for (method, path), roles in routes.items()
        if roles is None and not path.startswith("/schema") and (method, path) not in _PUBLIC
    ]
    assert unguarded == [], "routes without a role guard and not declared public"
    assert not [key for key in _PUBLIC if key[1].startswith("/api/")], "no API route may be public"


def test_guards_match_the_reviewed_matrix(app: Litestar) -> None:
    guarded = {key: roles for key, roles in _guarded_routes(app).items() if roles is not None}
    api = {key: roles for key, roles in guarded.items() if key[1].startswith("/api/")}
    assert api == EXPECTED


def _concrete(path: str) -> str:
    path = re.sub(r"\{[a-z_]+:uuid\}", str(uuid.UUID(int=0)), path)
    path = re.sub(r"\{[a-z_]+:int\}", "1", path)
    return re.sub(r"\{[a-z_]+:str\}", "ZZZ", path)


@pytest.mark.parametrize("role", ALL_ROLES, ids=[r.value for r in ALL_ROLES])
async def test_each_role_reaches_only_its_routes(
    role: Role, app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_organisation(session, "RZZ")
    headers = await client_headers(session, app, role, None if role is Role.ADMIN else "RZZ")
    refused: list[tuple[str, str]] = []
    let_through: list[tuple[str, str]] = []
    for method, path in EXPECTED:
        response = await client.request(
            method, _concrete(path), headers=headers, json={} if method == "POST" else None
        )
        assert response.status_code != 401, f"{method} {path}: a valid token was not accepted"
        denied_by_role = response.status_code == 403 and response.json().get("code") == "role_not_allowed"
        (refused if denied_by_role else let_through).append((method, path))
        assert response.status_code < 500, f"{method} {path} as {role.value}: {response.status_code}"
    assert set(let_through) == {key for key, roles in EXPECTED.items() if role in roles}
    assert set(refused) == {key for key, roles in EXPECTED.items() if role not in roles}


async def test_no_token_is_refused_everywhere(client: httpx.AsyncClient) -> None:
    for method, path in EXPECTED:
        response = await client.request(method, _concrete(path))
        assert response.status_code == 401, f"{method} {path}"
        assert response.headers["www-authenticate"].startswith("Bearer")
