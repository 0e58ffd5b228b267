"""The additionality page: summary per ICB of a year's checked offers, the report and the exports."""

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from tests.additionality.factories import create_england, offer_body
from tests.factories import client_headers
from tests.web.pages import field_error, sign_in


async def _checked_offer(app: Litestar, client: httpx.AsyncClient, session: AsyncSession) -> None:
    england = await create_england(session)
    provider = await client_headers(session, app, Role.ISSUER, england.provider)
    created = await client.post("/api/v1/additionality/offers", json=offer_body(), headers=provider)
    assert created.status_code == 201, created.text
    analyst = await client_headers(session, app, Role.ANALYST, england.provider)
    checked = await client.post(
        "/api/v1/additionality/checks", json={"financial_year": 2026}, headers=analyst
    )
    assert checked.status_code in (200, 201), checked.text


async def test_the_summary_per_icb_matches_the_api_and_links_the_report_and_exports(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _checked_offer(app, client, session)
    api = await client_headers(session, app, Role.ANALYST, "NT3")
    summary = (await client.get("/api/v1/additionality/summary", params={"year": 2026}, headers=api)).json()
    await sign_in(client, app, session, Role.ANALYST, "NT3")
    page = await client.get("/additionality", params={"year": "2026-27"})
    assert page.status_code == 200
    assert "Additionality checks, 2026-27" in page.text
    assert '<p class="field-hint" id="hint-year">The year it starts, like 2026 for 2026-27</p>' in page.text
    for icb in summary["icbs"]:
        assert f"({icb['commissioner_code']})</th>" in page.text
        cells = f'<td class="number">{icb["offers"]}</td><td class="number">{icb["checked"]}</td>'
        assert cells in page.text
    totals = summary["totals"]["verdicts"]
    for verdict in ("pass", "warn", "fail"):
        assert f'<span class="figure">{totals[verdict]}</span> {verdict}' in page.text
    report = await client.get("/additionality/2026/report.html")
    assert report.status_code == 200
    assert "Workforce additionality checks, financial year 2026-27" in report.text
    assert "style-src 'sha256-" in report.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in report.headers["content-security-policy"]
    for level in ("results", "evidence"):
        export = await client.get("/additionality/2026/export.csv", params={"level": level})
        assert export.status_code == 200
        api_export = await client.get(
            "/api/v1/additionality/export.csv", params={"year": 2026, "level": level}, headers=api
        )
        assert export.content == api_export.content
    assert (await client.get("/additionality/2026/export.csv", params={"level": "all"})).status_code == 404


async def test_a_bad_year_is_named_next_to_the_field(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await sign_in(client, app, session, Role.COORDINATOR, "RWEB")
    page = await client.get("/additionality", params={"year": "twenty"})
    assert page.status_code == 422
    assert (field_error(page.text, "year") or "").startswith("Enter a financial year as 4 digits")
    assert '<p class="field-hint" id="hint-year">The year it starts, as 4 digits</p>' in page.text
    empty = await client.get("/additionality", params={"year": "2031"})
    assert "No offer of capacity overlaps 2031-32." in empty.text
    assert (await client.get("/additionality/1999/report.html")).status_code == 404
