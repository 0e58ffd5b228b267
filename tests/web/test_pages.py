"""Page conventions: who may open which page (a reviewed matrix, as tests/test_roles.py for the API),
navigation per role, CSRF on every form, notices, and forms that leave nothing half-done."""

import re
import uuid

import httpx
import pytest
from litestar import Litestar, Router, post
from litestar.response import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent, DbSession
from service.auth import ALL_ROLES, Role, requires
from service.web.pages import (
    NAVIGATION,
    NOTICE_COOKIE,
    WEB_EXCEPTION_HANDLERS,
    FormRejected,
    csrf_guard,
    redirect,
    seal_notice,
)
from service.web.views import FormErrors
from service.workforce.models import Organisation
from tests.conftest import BASE_URL
from tests.test_roles import _guarded_routes
from tests.web.pages import notice, sign_in

ADM, ISS, COO, ANA, HOL = Role.ADMIN, Role.ISSUER, Role.COORDINATOR, Role.ANALYST, Role.HOLDER

PAGES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/passport"): frozenset({HOL}),
    ("GET", "/passport/credentials"): frozenset({HOL}),
    ("GET", "/passport/add"): frozenset({HOL}),
    ("POST", "/passport/add"): frozenset({HOL}),
    ("GET", "/passport/checks"): frozenset({HOL}),
    ("GET", "/records"): frozenset({ISS, ADM}),
    ("POST", "/records/import"): frozenset({ISS}),
    ("GET", "/records/people"): frozenset({ISS, ADM}),
    ("GET", "/records/people/{person_id:uuid}"): frozenset({ISS, ADM}),
    ("POST", "/records/people/{person_id:uuid}/credentials/{credential_id:uuid}"): frozenset({ISS, ADM}),
    ("GET", "/placements"): frozenset({COO, ADM}),
    ("POST", "/placements/datasets/{dataset_id:uuid}/runs"): frozenset({COO, ADM}),
    ("GET", "/placements/runs/{run_id:uuid}"): frozenset({COO, ADM}),
    ("GET", "/placements/runs/{run_id:uuid}/result.csv"): frozenset({COO, ADM}),
    ("POST", "/placements/runs/{run_id:uuid}/publish"): frozenset({COO, ADM}),
    ("GET", "/benchmarks"): frozenset({ANA, ADM}),
    ("POST", "/benchmarks"): frozenset({ANA, ADM}),
    ("GET", "/benchmarks/{benchmark_id:uuid}"): frozenset({ANA, ADM}),
    ("GET", "/benchmarks/{benchmark_id:uuid}/{format:str}"): frozenset({ANA, ADM}),
    ("GET", "/benchmarks/{benchmark_id:uuid}/{format:str}/signature"): frozenset({ANA, ADM}),
    ("GET", "/additionality"): frozenset({ANA, COO, ADM}),
    ("GET", "/additionality/{year:int}/report.html"): frozenset({ANA, COO, ADM}),
    ("GET", "/additionality/{year:int}/export.csv"): frozenset({ANA, COO, ADM}),
    # provider HR (docs/web.md): as /api/v1/presentation-requests, verifier only
    ("GET", "/verify"): frozenset({Role.VERIFIER}),
    ("POST", "/verify/requests"): frozenset({Role.VERIFIER}),
    ("GET", "/verify/requests/{request_id:uuid}"): frozenset({Role.VERIFIER}),
    ("GET", "/verify/requests/{request_id:uuid}/status"): frozenset({Role.VERIFIER}),
    ("GET", "/verify/history"): frozenset({Role.VERIFIER}),
    ("GET", "/verify/history.csv"): frozenset({Role.VERIFIER}),
    # the wallet's device sign-in (RFC 8628): the signed-in holder approves a code
    ("GET", "/device"): frozenset({Role.HOLDER}),
    ("POST", "/device"): frozenset({Role.HOLDER}),
    # the built-in browser wallet (decision 0033)
    ("GET", "/wallet"): frozenset({HOL}),
    ("POST", "/wallet/offer"): frozenset({HOL}),
    ("GET", "/wallet/changes"): frozenset({HOL}),
    ("GET", "/wallet/share"): frozenset({HOL}),
}
"""The reviewed matrix of the pages: the same roles as the API routes each page stands for."""


def _concrete(path: str) -> str:
    path = re.sub(r"\{[a-z_]+:uuid\}", str(uuid.UUID(int=0)), path)
    path = re.sub(r"\{[a-z_]+:int\}", "2026", path)
    return re.sub(r"\{[a-z_]+:str\}", "csv", path)


def test_page_guards_match_the_reviewed_matrix(app: Litestar) -> None:
    guarded = {
        key: roles
        for key, roles in _guarded_routes(app).items()
        if roles is not None and not key[1].startswith("/api/")
    }
    assert guarded == PAGES


@pytest.mark.parametrize("role", ALL_ROLES, ids=[r.value for r in ALL_ROLES])
async def test_each_role_opens_only_its_pages_and_its_navigation_lists_them(
    role: Role, app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    csrf = await sign_in(client, app, session, role)
    home = await client.get("/")
    nav = re.search(r'<nav class="site-nav" aria-label="Main">(.*?)</nav>', home.text, re.S)
    assert nav is not None
    labels = re.findall(r'<a href="[^"]+"(?: aria-current="page")?>([^<]+)</a>', nav.group(1))
    assert labels == [item.label for item in NAVIGATION if role in item.roles]
    for item in NAVIGATION:
        response = await client.get(item.href)
        assert response.status_code == (200 if role in item.roles else 403), (item.href, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
    for (method, path), roles in PAGES.items():
        response = await client.request(method, _concrete(path), data={"csrf_token": csrf})
        denied = response.status_code == 403 and "role may not do this" in response.text
        assert denied == (role not in roles), (method, path, response.status_code)
        assert response.status_code < 500, (method, path, response.text[:500])


async def test_signed_out_pages_send_the_browser_to_sign_in(client: httpx.AsyncClient) -> None:
    for (method, path), _ in PAGES.items():
        response = await client.request(method, _concrete(path))
        if method == "GET":
            assert response.status_code == 303, path
            assert response.headers["location"] == "/signin"
        else:
            assert response.status_code == 401, path
            assert "sign in" in response.text.lower()


async def test_every_form_post_needs_the_csrf_token_and_our_origin(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for (method, path), roles in PAGES.items():
        if method != "POST":
            continue
        role = next(iter(sorted(roles, key=lambda r: r.value)))
        client.cookies.clear()
        csrf = await sign_in(client, app, session, role, organisation="RWEB")
        before = await session.scalar(select(func.max(AuditEvent.id))) or 0
        for data, headers in (
            ({}, {}),
            ({"csrf_token": "x" * 43}, {}),
            ({"csrf_token": csrf}, {"Origin": "https://evil.example"}),
            ({"csrf_token": csrf}, {"Sec-Fetch-Site": "cross-site"}),
        ):
            response = await client.post(_concrete(path), data=data, headers=headers)
            assert response.status_code == 403, (path, data, headers)
            assert "did not come from this site" in response.text
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.id > before))).all()
        assert [e.outcome for e in events] == ["denied 403"] * 4, "each refusal is audited"


async def test_a_notice_shows_once_and_a_forged_one_is_ignored(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client, app, session, Role.ISSUER)
    sealed = seal_notice(
        app.state.keyring, "Imported 3 records.", issuer=app.state.settings.issuer, now=app.state.clock()
    )
    client.cookies.set(NOTICE_COOKIE, sealed, domain="testserver.local")
    first = await client.get("/records")
    assert notice(first.text) == "Imported 3 records."
    assert 'passport_notice=""' in first.headers.get("set-cookie", "") or "Max-Age=0" in first.headers.get(
        "set-cookie", ""
    )
    second = await client.get("/records")
    assert notice(second.text) is None
    client.cookies.set(
        NOTICE_COOKIE, "eyJhbGciOiJub25lIn0.eyJtc2ciOiJDYWxsIDA4MDAifQ.", domain="testserver.local"
    )
    assert notice((await client.get("/records")).text) is None, "an unsigned notice is never shown"
    other = sealed.replace(sealed.split(".")[1], sealed.split(".")[1][::-1])
    client.cookies.set(NOTICE_COOKIE, other, domain="testserver.local")
    assert notice((await client.get("/records")).text) is None


async def test_a_rejected_form_keeps_nothing_the_handler_wrote_and_is_audited(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    @post("/test-form", guards=[requires(Role.ISSUER), csrf_guard], status_code=303)
    async def half_done(db_session: DbSession) -> Response[str]:
        db_session.add(
            Organisation(code="ZHALF", name="Half done", kind="nhs_trust", parent_code=None, icb_code=None,
                         postcode=None, latitude=None, longitude=None, created_at=app.state.clock())
        )  # fmt: skip
        await db_session.flush()
        errors = FormErrors()
        errors.add("q", "Enter at least 2 letters")
        raise FormRejected("records/search.html", context={
            "people": [], "more": False, "search_limit": 1, "query": "x", "search_errors": errors,
            "search_labels": {"q": "GMC number or name"},
        })  # fmt: skip

    app.register(Router("/", route_handlers=[half_done], exception_handlers=WEB_EXCEPTION_HANDLERS))
    csrf = await sign_in(client, app, session, Role.ISSUER)
    response = await client.post("/test-form", data={"csrf_token": csrf}, headers={"Origin": BASE_URL})
    assert response.status_code == 422
    assert "Enter at least 2 letters" in response.text
    assert await session.get(Organisation, "ZHALF") is None, "nothing half-done"
    last = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))).one()
    assert last.outcome == "rejected 422"
    assert redirect("/x").status_code == 303
