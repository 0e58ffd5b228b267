"""Provider HR pages: check a passport (the request form), the request page with its QR codes and live
status, the answer (verdict, checklist, disclosed claims, what is missing), the organisation's history and
its CSV export. Requests are answered through the real API with credentials signed by the registry key
(``tests/verification/factories.py``)."""

import csv
import datetime as dt
import html
import io
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.keys import KeyRing
from service.passport.cstf import subject_name
from service.passport.encryption import DataKeyRing
from service.passport.schemas import OH_ITEM_NAMES
from service.verification.models import PresentationRequest
from tests.conftest import BASE_URL
from tests.verification.factories import API, Scene, create_scene
from tests.web.pages import count, date_hints, field_error, notice, sign_in

POLICY = "theatre-surgical-trainee:1"
DATE_HINT = "(the date hint)"
"""Stands for what a date field that cannot be read says, which depends on the day: see ``date_hints``."""
LABELS_OF_FORM = ("policy", "purpose", "subject_hint", "evaluate_on")


@pytest.fixture
async def scene(session: AsyncSession, app: Litestar, keyring: KeyRing, data_keys: DataKeyRing) -> Scene:
    return await create_scene(session, app, keyring, data_keys)


async def hr(client: httpx.AsyncClient, app: Litestar, session: AsyncSession, scene: Scene) -> str:
    """Sign in as an HR user of the site the scene's policy belongs to; the CSRF token."""
    return await sign_in(client, app, session, Role.VERIFIER, organisation=scene.tree.site)


async def make_request(client: httpx.AsyncClient, csrf: str, **fields: str) -> str:
    form = {"csrf_token": csrf, "policy": POLICY, "purpose": "Theatre list from Monday", **fields}
    made = await client.post("/verify/requests", data=form)
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    assert re.fullmatch(r"/verify/requests/[0-9a-f-]{36}", location)
    return location.rsplit("/", 1)[1]


async def answer(
    client: httpx.AsyncClient,
    scene: Scene,
    request_id: str,
    kinds: tuple[str, ...] | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The doctor's wallet answers through the API, as the doctor (``nonce``: a wrong one)."""
    view = await client.get(f"{API}/presentation-requests/{request_id}/request", headers=scene.holder)
    assert view.status_code == 200, view.text
    wallet = view.json()
    extra = {} if kinds is None else {"kinds": kinds}
    presentations = scene.present(nonce=nonce or wallet["nonce"], aud=wallet["audience"], **extra)  # type: ignore[arg-type]
    posted = await client.post(
        wallet["response_uri"], json={"presentations": presentations}, headers=scene.holder
    )
    assert posted.status_code == 201, posted.text
    result: dict[str, Any] = posted.json()
    return result


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# ---------------------------------------------------------------- who may open the pages


@pytest.mark.parametrize(
    "role", [Role.HOLDER, Role.ISSUER, Role.COORDINATOR, Role.ANALYST, Role.ADMIN], ids=lambda r: r.value
)
async def test_only_provider_hr_opens_the_pages(
    role: Role, app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    csrf = await sign_in(client, app, session, role)
    some = uuid.uuid4()
    for path in ("/verify", "/verify/history", "/verify/history.csv", f"/verify/requests/{some}"):
        assert (await client.get(path)).status_code == 403, path
    assert (await client.get(f"/verify/requests/{some}/status")).status_code == 403
    posted = await client.post(
        "/verify/requests", data={"csrf_token": csrf, "policy": POLICY, "purpose": "x"}
    )
    assert posted.status_code == 403
    assert await count(session, PresentationRequest) == 0


# ---------------------------------------------------------------- check a passport


async def test_the_form_offers_the_policies_of_the_organisation_by_name_and_version(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    await hr(client, app, session, scene)
    page = await client.get("/verify")
    assert page.status_code == 200
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', page.text)
    assert options == [
        ("", "Choose a policy"),
        (POLICY, "Independent sector theatre list, surgical trainee (theatre-surgical-trainee, version 1)"),
    ]
    chosen = await client.get("/verify", params={"policy": POLICY})
    assert f'<option value="{POLICY}" selected>' in chosen.text
    older = await client.get("/verify", params={"policy": "theatre-surgical-trainee:0"})
    assert f'<option value="{POLICY}" selected>' in older.text  # the newest version of the same policy
    unknown = await client.get("/verify", params={"policy": "not-ours:1"})
    assert f'<option value="{POLICY}" selected>' not in unknown.text


MISTAKES: list[tuple[dict[str, str], str, str]] = [
    ({"policy": ""}, "policy", "Choose the compliance policy to check the passport against"),
    ({"policy": "not-ours:1"}, "policy", "Choose the compliance policy to check the passport against"),
    ({"purpose": "  "}, "purpose", "Enter why you are checking, in plain words: the doctor sees it"),
    ({"purpose": "x" * 501}, "purpose", "Keep the purpose to 500 characters or fewer"),
    (
        {"purpose": "Theatre\tlist\x00"},
        "purpose",
        "Type the purpose as one line of plain text: it has a tab, a line break or another control character",
    ),
    (
        {"subject_hint": "712345"},
        "subject_hint",
        "Enter a GMC number of 7 digits, like 7123456, or leave it blank",
    ),
    (
        {"subject_hint": "71234A6"},
        "subject_hint",
        "Enter a GMC number of 7 digits, like 7123456, or leave it blank",
    ),
    ({"evaluate_on": "4 August"}, "evaluate_on", DATE_HINT),
    ({"evaluate_on": "2027-02-30"}, "evaluate_on", DATE_HINT),
]
"""Each mistake a form can carry, the field it is shown next to, and the message."""


async def test_each_mistake_is_shown_next_to_its_field_and_nothing_is_written(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    for fields, name, message in MISTAKES:  # one scene for all (its set-up is the slow part)
        form = {"csrf_token": csrf, "policy": POLICY, "purpose": "Theatre list", **fields}
        refused = await client.post("/verify/requests", data=form)
        assert refused.status_code == 422, fields
        expected = date_hints() if message == DATE_HINT else {message}
        assert field_error(refused.text, name) in expected, fields
        others = [other for other in LABELS_OF_FORM if other != name]
        assert all(field_error(refused.text, other) is None for other in others), fields
        assert "<title>Error: Check a passport" in refused.text
        assert 'role="alert"' in refused.text
        assert await count(session, PresentationRequest) == 0
        if name != "purpose":  # what was typed is shown again
            assert 'value="Theatre list"' in refused.text


async def test_a_request_is_made_and_its_page_shows_both_qr_codes_links_expiry_and_what_is_asked(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    start = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=250)  # a placement start months ahead
    request_id = await make_request(
        client, csrf, subject_hint=scene.doctor.gmc_number or "", evaluate_on=start.isoformat()
    )
    page = await client.get(f"/verify/requests/{request_id}")
    assert page.status_code == 200
    assert notice(page.text) == "Request made. Show the doctor the QR code, or send them the link."
    assert page.text.count("<svg") == 2
    links = await client.get(f"{API}/presentation-requests/{request_id}/openid4vp", headers=scene.verifier)
    assert (
        links.status_code == 404
    )  # another verifier (the site's HR system) does not see this user's request
    deep = re.search(r'href="(openid4vp://[^"]+)"', page.text)
    assert deep is not None
    link = deep.group(1).replace("&amp;", "&")
    query = urlsplit(link).query
    assert f"request_uri={BASE_URL.replace(':', '%3A').replace('/', '%2F')}" in query
    assert f'href="{BASE_URL}/wallet/share?{query}"'.replace("&", "&amp;") in page.text
    made = await session.get(PresentationRequest, uuid.UUID(request_id))
    assert made is not None
    assert (made.subject_hint, made.evaluate_on) == (scene.doctor.gmc_number, start)
    words = text_of(page.text)
    assert f"Expires {made.expires_at.strftime('%Y-%m-%d %H:%M')} UTC" in words
    assert "Waiting for the doctor" in words
    assert f"Judged on {start.isoformat()}" in words
    assert "Check again" in words
    assert 'aria-live="polite"' in page.text
    assert '<script src="/static/web/hr-live.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text
    status = await client.get(f"/verify/requests/{request_id}/status")
    assert status.status_code == 200
    assert status.json()["state"] == "pending"
    assert status.json()["verdict"] is None
    assert status.json()["html"] == ""  # while pending the poll is cheap: no QR codes
    assert status.headers["cache-control"] == "no-store"
    script = await client.get("/static/web/hr-live.js")
    assert script.status_code == 200
    assert "data-status-url" in script.text  # served; its behaviour is tested in the browser


async def test_another_organisations_hr_gets_not_found(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    await sign_in(client, app, session, Role.VERIFIER, organisation=scene.tree.trust)
    assert (await client.get(f"/verify/requests/{request_id}")).status_code == 404
    assert (await client.get(f"/verify/requests/{request_id}/status")).status_code == 404
    history = await client.get("/verify/history")
    assert request_id not in history.text


# ---------------------------------------------------------------- the answer


async def test_a_valid_answer_shows_the_verdict_every_check_and_rule_and_the_claims(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    result = await answer(client, scene, request_id)
    assert result["verdict"] == "valid", result["summary"]

    status = (await client.get(f"/verify/requests/{request_id}/status")).json()
    assert status["state"] == "answered"
    assert status["verdict"] == "valid"
    assert status["announcement"].startswith("The doctor has answered: Valid.")
    assert "Result: Valid" in status["html"]

    page = await client.get(f"/verify/requests/{request_id}")
    assert page.status_code == 200
    assert "<svg" not in page.text  # no QR code once answered
    assert "hr-live.js" not in page.text
    words = text_of(page.text)
    assert "Result: Valid" in words
    assert '<strong class="tag tag-pass">Valid</strong>' in page.text
    assert "What is missing" not in words
    for rule in result["outcome"]["rules"]:
        assert rule["reason"] in words
    checks = [c for p in result["presentations"] for c in p["checks"]] + result["checks"]
    assert len(checks) > 10
    for check in checks:
        assert check["reason"] in words
    assert words.count(" Met ") == len(result["outcome"]["rules"])
    assert "What the doctor shared" in words
    assert scene.doctor.gmc_number is not None
    identity = result["claims"]["identity_link"]["identity"]
    for value in identity.values():
        if isinstance(value, str):
            assert value in words
    # the records by name, as the doctor's pages show them, not by their codes; columns in the type's order
    for record in result["claims"]["core_skills"]["core_skills"]:
        assert f"<td>{subject_name(record['subject'])}</td>" in page.text
        assert f"<td>{record['subject']}</td>" not in page.text
    for record in result["claims"]["occupational_health"]["occupational_health"]:
        assert f"<td>{OH_ITEM_NAMES[record['item']]}</td>" in page.text
    headers = re.findall(r'<th scope="col">([^<]+)</th>', page.text.split('id="claims"', 1)[1])
    placements = headers[headers.index("Site") - 1 :]
    assert placements.index("Site") < placements.index("Start date") < placements.index("End date"), headers


async def test_a_not_compliant_answer_says_what_is_missing(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    result = await answer(
        client, scene, request_id, kinds=("core_skills", "training_placement", "identity_link")
    )
    assert result["verdict"] == "not_compliant", result["summary"]
    failed = [r for r in result["outcome"]["rules"] if not r["passed"]]
    assert failed
    page = await client.get(f"/verify/requests/{request_id}")
    words = text_of(page.text)
    assert "Result: Not compliant" in words
    assert '<strong class="tag tag-warn">Not compliant</strong>' in page.text
    missing = words.split("What is missing", 1)[1].split("Checklist", 1)[0]
    for rule in failed:
        assert rule["description"] in missing
        assert rule["reason"] in missing
    assert words.count("Not met") == len(failed)


async def test_an_invalid_answer_shows_the_failed_checks_and_no_claims(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    result = await answer(client, scene, request_id, nonce="not-the-request-nonce-0123")
    assert result["verdict"] == "invalid", result["summary"]
    page = await client.get(f"/verify/requests/{request_id}")
    words = text_of(page.text)
    assert "Result: Invalid" in words
    assert '<strong class="tag tag-fail">Invalid</strong>' in page.text
    assert "The policy was not judged: no credential presented could be trusted." in words
    assert "Nothing that can be trusted was shared." in words
    failed = [c for p in result["presentations"] for c in p["checks"] if c["outcome"] == "failed"]
    assert failed
    for check in failed:
        assert check["reason"] in words
    assert '<details class="checks" open>' in page.text  # a credential with a failed check is opened
    assert scene.doctor.family_name not in words


async def test_an_expired_request_says_so_and_offers_a_new_one_for_the_same_policy(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(request_id))
        .values(expires_at=past)
    )
    await session.commit()
    page = await client.get(f"/verify/requests/{request_id}")
    words = text_of(page.text)
    assert "This request has expired" in words
    assert "<svg" not in page.text
    assert f'href="/verify?policy={POLICY.replace(":", "%3A")}"' in page.text
    assert (await client.get(f"/verify/requests/{request_id}/status")).json()["state"] == "expired"


# ---------------------------------------------------------------- history and export


async def _three_requests(
    client: httpx.AsyncClient, app: Litestar, session: AsyncSession, scene: Scene
) -> dict[str, str]:
    """A valid, a not compliant and a pending request of the scene's HR user: ids by verdict."""
    csrf = await hr(client, app, session, scene)
    valid = await make_request(client, csrf, purpose="Valid one")
    await answer(client, scene, valid)
    partial = await make_request(client, csrf, purpose="=HYPERLINK(not a formula)")
    await answer(client, scene, partial, kinds=("core_skills",))
    pending = await make_request(client, csrf, purpose="Pending one", subject_hint="7000001")
    return {"valid": valid, "not_compliant": partial, "pending": pending}


def _history_ids(html: str) -> list[str]:
    return re.findall(r'href="/verify/requests/([0-9a-f-]{36})"', html)


async def test_history_lists_newest_first_filters_by_verdict_and_date_and_exports_the_same(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    made = await _three_requests(client, app, session, scene)
    history = await client.get("/verify/history")
    assert history.status_code == 200
    assert _history_ids(history.text) == [made["pending"], made["not_compliant"], made["valid"]]

    only = await client.get("/verify/history", params={"verdict": "not_compliant"})
    assert _history_ids(only.text) == [made["not_compliant"]]
    today = dt.datetime.now(dt.UTC).date()
    later = await client.get("/verify/history", params={"created_from": str(today + dt.timedelta(days=1))})
    assert _history_ids(later.text) == []
    assert "No requests match." in later.text
    inside = await client.get(
        "/verify/history", params={"created_from": str(today), "created_to": str(today)}
    )
    assert len(_history_ids(inside.text)) == 3

    export = await client.get("/verify/history.csv", params={"verdict": "not_compliant"})
    assert export.status_code == 200
    assert export.headers["content-disposition"] == 'attachment; filename="verification-history.csv"'
    assert export.headers["x-content-type-options"] == "nosniff"
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["request_id"] for r in rows] == [made["not_compliant"]]

    everything = list(csv.DictReader(io.StringIO((await client.get("/verify/history.csv")).text)))
    assert [r["request_id"] for r in everything] == _history_ids(history.text)
    by_id = {r["request_id"]: r for r in everything}
    assert by_id[made["valid"]]["verdict"] == "valid"
    assert by_id[made["pending"]]["verdict"] == ""
    assert by_id[made["pending"]]["state"] == "pending"
    assert by_id[made["pending"]]["gmc_number"] == "7000001"
    assert by_id[made["not_compliant"]]["purpose"] == "'=HYPERLINK(not a formula)"
    assert by_id[made["valid"]]["policy"] == "theatre-surgical-trainee"
    disclosed = by_id[made["valid"]]["disclosed_claims"].split()
    assert "core_skills:core_skills/*/date_to" in disclosed
    # claim names only: no value of the doctor's claims is in the export
    family = scene.doctor.family_name
    assert family not in export.text
    assert family not in (await client.get("/verify/history.csv")).text
    # a link typed wrong gets the nearest page, never an error page (as on the doctor's checks)
    for typed in ("abc", "-1", "1.5", ""):
        corrected = await client.get("/verify/history", params={"offset": typed})
        assert corrected.status_code == 200, typed
        assert _history_ids(corrected.text) == _history_ids(history.text), typed


async def test_history_shows_a_bad_filter_next_to_its_field(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    await hr(client, app, session, scene)
    bad = await client.get("/verify/history", params={"created_from": "yesterday"})
    assert bad.status_code == 400
    assert field_error(bad.text, "created_from") in date_hints()
    reversed_range = await client.get(
        "/verify/history", params={"created_from": "2026-05-02", "created_to": "2026-05-01"}
    )
    assert (
        field_error(reversed_range.text, "created_to") == "The end of the range must be on or after its start"
    )
    assert (await client.get("/verify/history.csv", params={"verdict": "maybe"})).status_code == 400


async def test_history_over_the_widest_range_of_days_lists_every_request(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await hr(client, app, session, scene)
    request_id = await make_request(client, csrf)
    widest = {"created_from": "0001-01-01", "created_to": "9999-12-31"}
    page = await client.get("/verify/history", params=widest)
    assert page.status_code == 200, page.text
    assert _history_ids(page.text) == [request_id]
    export = await client.get("/verify/history.csv", params=widest)
    assert export.status_code == 200
    assert [row["request_id"] for row in csv.DictReader(io.StringIO(export.text))] == [request_id]
    listed = await client.get(f"{API}/presentation-requests", params=widest, headers=scene.verifier)
    assert listed.status_code == 200, listed.text


async def test_history_pages_through_older_requests(
    app: Litestar,
    client: httpx.AsyncClient,
    session: AsyncSession,
    scene: Scene,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.web import hr as pages

    monkeypatch.setattr(pages, "HISTORY_PAGE", 2)
    made = await _three_requests(client, app, session, scene)
    first = await client.get("/verify/history")
    assert _history_ids(first.text) == [made["pending"], made["not_compliant"]]
    older = re.search(r'href="/verify/history\?([^"]+)" rel="next"', first.text)
    assert older is not None
    second = await client.get("/verify/history?" + older.group(1).replace("&amp;", "&"))
    assert _history_ids(second.text) == [made["valid"]]
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
