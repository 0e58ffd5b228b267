"""Analyst pages: publishing a benchmark, its page, its files and signatures as the API serves them."""

import datetime as dt
import hashlib
import re

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.benchmark import signing
from service.benchmark.models import PublishedBenchmark
from service.web.views import financial_year, year_label
from tests.conftest import BASE_URL
from tests.factories import client_headers, create_organisation
from tests.web.pages import count, field_error, notice, sign_in

ORIGIN = {"Origin": BASE_URL}


async def _england(session: AsyncSession) -> None:
    await create_organisation(session, "Y56", kind="region", name="London")
    await create_organisation(session, "NT3", kind="independent_provider", name="Example Healthcare")
    await create_organisation(
        session, "NT301", kind="independent_site", parent_code="NT3", name="Example Hospital"
    )
    await session.commit()


async def _publish(client: httpx.AsyncClient, csrf: str, year: str) -> httpx.Response:
    return await client.post("/benchmarks", data={"csrf_token": csrf, "financial_year": year}, headers=ORIGIN)


async def test_an_analyst_publishes_a_benchmark_and_downloads_what_the_api_serves(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _england(session)
    csrf = await sign_in(client, app, session, Role.ANALYST, "NT3")
    home = (await client.get("/benchmarks")).text
    assert "No benchmark has been published yet." in home
    latest = financial_year(dt.datetime.now(dt.UTC).date())
    hint = f'<p class="field-hint" id="hint-financial_year">The year it starts, like {latest} for '
    assert hint + f"{year_label(latest)}</p>" in home, "the example is this year, not one gone by"
    response = await _publish(client, csrf, "2025-26")
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"])
    assert notice(page.text) == "Published the 2025-26 benchmark, every format signed."
    benchmark_id = response.headers["location"].rsplit("/", 1)[-1]
    api = await client_headers(session, app, Role.ANALYST, "NT3")
    record = (await client.get(f"/api/v1/benchmarks/{benchmark_id}", headers=api)).json()
    assert record["inputs_sha256"] in page.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    for summary in record["files"]:
        fmt = summary["format"]
        assert f'href="/benchmarks/{benchmark_id}/{fmt}"' in page.text
        content = await client.get(f"/benchmarks/{benchmark_id}/{fmt}")
        assert content.status_code == 200
        assert hashlib.sha256(content.content).hexdigest() == summary["sha256"]
        assert content.headers["content-disposition"].startswith("attachment")
        signature = await client.get(f"/benchmarks/{benchmark_id}/{fmt}/signature")
        assert (
            signing.verify(content.content, signature.text, jwks).benchmark["inputs_sha256"]
            == record["inputs_sha256"]
        )
    listing = await client.get("/benchmarks")
    assert re.search(rf'<a href="/benchmarks/{benchmark_id}">2025-26</a>', listing.text)


async def test_a_year_that_is_not_one_or_has_not_started_is_named_and_nothing_is_published(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _england(session)
    csrf = await sign_in(client, app, session, Role.ANALYST, "NT3")
    for given, message in (
        ("last year", "Enter a financial year as 4 digits"),
        ("2025-27", "2025-27 is not a financial year: did you mean 2025-26?"),
        ("2090", "Enter a financial year from 2000 to"),
    ):
        response = await _publish(client, csrf, given)
        assert response.status_code == 422, given
        error = field_error(response.text, "financial_year")
        assert (error or "").startswith(message), (given, error)
        assert f'value="{given}"' in response.text
    assert await count(session, PublishedBenchmark) == 0


async def test_unknown_benchmarks_and_formats_are_a_page_not_found(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client, app, session, Role.ANALYST, "RWEB")
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (
        f"/benchmarks/{missing}",
        f"/benchmarks/{missing}/json",
        f"/benchmarks/{missing}/pdf/signature",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
