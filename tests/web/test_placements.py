"""Coordinator pages: datasets and runs, running a match, a run's result and publishing it."""

import datetime as dt
import html
import re
import uuid

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.placements.models import PlacementRecord, Run
from service.placements.schemas import MatchResult
from tests.conftest import BASE_URL
from tests.placements.factories import coordinator, create_world, load_example
from tests.placements.test_gates import FIRE_AND_GRADE, _fire_safety, _policy
from tests.web.pages import count, date_hints, field_error, notice, sign_in

ORIGIN = {"Origin": BASE_URL}


async def _dataset(app: Litestar, client: httpx.AsyncClient, session: AsyncSession) -> str:
    await create_world(session)
    dataset = await load_example(client, await coordinator(session, app))
    client.cookies.clear()
    return dataset


async def _run(
    client: httpx.AsyncClient, csrf: str, dataset: str, mode: str = "optimal", start: str = "2027-08-04"
) -> httpx.Response:
    form = {"csrf_token": csrf, "mode": mode, "start_date": start, "additionality_gate": "on"}
    return await client.post(f"/placements/datasets/{dataset}/runs", data=form, headers=ORIGIN)


async def test_a_coordinator_runs_a_match_and_reads_the_result_with_its_explanations(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dataset = await _dataset(app, client, session)
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    index = await client.get("/placements")
    assert "London, August 2027" in index.text
    assert "No runs yet." in index.text
    response = await _run(client, csrf, dataset)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    run_id = location.rsplit("/", 1)[-1]
    page = await client.get(location)
    assert notice(page.text) == "Matched 5 of 6 trainees (optimal)."
    stored = await session.get(Run, __import__("uuid").UUID(run_id))
    assert stored is not None
    result = msgspec.json.decode(stored.result, type=MatchResult)
    assert '<span class="figure">5</span> matched of 6 trainees' in page.text
    assert f'<span class="figure">{result.summary.total_value:.2f}</span> total training value' in page.text
    per_site = re.findall(r"<tr><td>[^<]*\((\w+)\)</td><td class=\"number\">(\d+)</td>", page.text)
    assert sum(int(n) for _, n in per_site) == 5
    assert {code for code, _ in per_site} == {p.site_code for p in result.placements}
    for placement in result.placements:
        assert placement.explanation.split(".")[0] in page.text
    for unmatched in result.unmatched:
        assert unmatched.reason[:40] in page.text
    listing = await client.get("/placements")
    assert f'href="/placements/runs/{run_id}"' in listing.text
    csv = await client.get(f"/placements/runs/{run_id}/result.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"  # one charset, not two
    assert csv.text.splitlines()[0].startswith("trainee_id")


async def test_publishing_takes_the_runs_dates_and_a_clash_refuses_the_whole_run(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dataset = await _dataset(app, client, session)
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    first = (await _run(client, csrf, dataset)).headers["location"]
    second = (await _run(client, csrf, dataset, "stable", start="2027-09-01")).headers["location"]
    page = await client.get(first)
    assert "by default the run's, 2027-08-04" in html.unescape(page.text)

    wrong = await client.post(
        first + "/publish", data={"csrf_token": csrf, "start_date": "2027-02-30"}, headers=ORIGIN
    )
    assert wrong.status_code == 422
    assert field_error(wrong.text, "start_date") in date_hints()
    backwards = await client.post(
        first + "/publish",
        data={"csrf_token": csrf, "start_date": "2027-08-04", "end_date": "2027-08-01"},
        headers=ORIGIN,
    )
    assert backwards.status_code == 422
    assert field_error(backwards.text, "end_date") == "Must be on or after start date"
    assert 'value="2027-08-04"' in backwards.text, "what was typed is kept"
    other_dates = await client.post(
        first + "/publish", data={"csrf_token": csrf, "start_date": "2027-10-01"}, headers=ORIGIN
    )
    assert other_dates.status_code == 409, "a gated run is published only for the dates it was gated for"
    assert await count(session, PlacementRecord) == 0

    published = await client.post(first + "/publish", data={"csrf_token": csrf}, headers=ORIGIN)
    assert published.status_code == 303
    page = await client.get(first)
    assert notice(page.text) == "Published 5 placement records, 2027-08-04 to 2028-02-03."
    assert "Publish 5 placements" not in page.text
    assert await count(session, PlacementRecord) == 5

    clash = await client.post(second + "/publish", data={"csrf_token": csrf}, headers=ORIGIN)
    assert clash.status_code == 409
    assert "already have a placement in these dates" in clash.text
    assert field_error(clash.text, "start_date") == "Overlaps a published placement of the same trainee"
    assert await count(session, PlacementRecord) == 5, "nothing of the second run was published"


async def test_a_bad_start_date_is_named_next_to_its_field_and_no_run_is_stored(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dataset = await _dataset(app, client, session)
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    refused = await _run(client, csrf, dataset, start="2027-13-01")
    assert refused.status_code == 422
    assert f'id="error-start_date-{dataset}"' in refused.text
    assert any(hint in refused.text for hint in date_hints())
    assert 'value="2027-13-01"' in refused.text, "what was typed is kept"
    assert await count(session, Run) == 0


async def test_a_bad_mode_is_named_and_no_run_is_stored(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dataset = await _dataset(app, client, session)
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    response = await _run(client, csrf, dataset, "greedy")
    assert response.status_code == 422
    assert "Choose a matching mode" in response.text
    assert 'aria-invalid="true"' in response.text
    assert await count(session, Run) == 0


async def test_another_regions_coordinator_sees_none_of_it(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dataset = await _dataset(app, client, session)
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    run = (await _run(client, csrf, dataset)).headers["location"]
    client.cookies.clear()
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y59")
    assert "London, August 2027" not in (await client.get("/placements")).text
    assert (await client.get(run)).status_code == 404
    assert (await _run(client, csrf, dataset)).status_code == 404
    published = await client.post(run + "/publish", data={"csrf_token": csrf, "start_date": "2027-08-04"})
    assert published.status_code == 404
    assert await count(session, PlacementRecord) == 0


async def test_the_run_form_holds_the_sites_to_a_passport_policy_and_names_one_that_cannot_be(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The form's passport policy: a name that cannot be a policy's was a 500 (msgspec's refusal not
    caught), and a real one a 500 too (the page did not give the run the data keys the gate reads with)."""
    dataset = await _dataset(app, client, session)
    await _policy(session, "NT301", "theatre", FIRE_AND_GRADE)
    for number in ("7100001", "7100002", "7100003", "7100006"):
        await _fire_safety(session, number, dt.date(2028, 6, 1))
    csrf = await sign_in(client, app, session, Role.COORDINATOR, "Y56")
    form = {"csrf_token": csrf, "mode": "optimal", "start_date": "2027-08-04", "additionality_gate": "on"}
    address = f"/placements/datasets/{dataset}/runs"

    refused = await client.post(address, data={**form, "passport_policy": "Not A Name"}, headers=ORIGIN)
    assert refused.status_code == 422, refused.text[:500]
    field = f"passport_policy-{dataset}"  # this form's fields are named per dataset
    shown = re.search(rf'<p class="field-error" id="error-{field}">(?P<m>.*?)</p>', refused.text, re.S)
    assert shown is not None, refused.text[:2000]
    assert "Must be a name of 1 to 80 lower-case letters" in shown.group("m"), shown.group("m")
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', refused.text, re.S)
    assert await count(session, Run) == 0

    held = await client.post(address, data={**form, "passport_policy": "theatre"}, headers=ORIGIN)
    assert held.status_code == 303, held.text[:500]
    stored = await session.get(Run, uuid.UUID(held.headers["location"].rsplit("/", 1)[-1]))
    assert stored is not None
    assert stored.gates is not None
    gates = msgspec.json.decode(stored.gates)
    assert [(p["site_code"], p["name"]) for p in gates["passport"]] == [("NT301", "theatre")]
