"""The pages in a real browser: each role's pages, the issuer's import and search, the coordinator's run and
publication, the analyst's benchmark and additionality pages, keyboard use, error pages.

Every page visited is screenshot (``var/test-artefacts/screenshots/<database>/<test>/``) and checked with
axe-core: no serious or critical violation.
"""

import re
from pathlib import Path

import httpx
import pytest

from service.auth import Role
from service.web.controllers import ICON
from service.web.pages import NAVIGATION, ROLE_LABELS
from tests.browser.harness import DemoServer, Visit
from tests.browser.hr import client_token

ICON_LOADS = """async () => {
  const loads = (src) => new Promise((ok) => {
    const image = new Image();
    image.onload = () => ok(image.naturalWidth > 0);
    image.onerror = () => ok(false);
    image.src = src;
  });
  const link = document.querySelector("link[rel=icon]");
  const icon = await loads(link ? link.href : "/");
  return { link: link && link.href, icon: icon, favicon: await loads("/favicon.ico") };
}"""

ROLES = [Role.ISSUER, Role.COORDINATOR, Role.ANALYST, Role.VERIFIER, Role.HOLDER, Role.ADMIN]


TAIL = ",e-Learning for Healthcare,{method},CSTF,verified,source_system\n"


def _row(gmc: str, method: str = "e_learning") -> str:
    return f"{gmc},fire_safety,1,2026-03-01" + TAIL.format(method=method)


def _issuers_doctor(server: DemoServer) -> dict[str, str]:
    """A doctor employed at the demo issuer's organisation, from the API (as the issuer's HR system)."""
    token = client_token(server, "issuer")
    response = httpx.get(
        server.base_url + "/api/v1/people",
        params={"limit": 50},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    doctors = [p for p in response.json()["items"] if p["gmc_number"]]
    assert doctors, "the demo issuer employs doctors"
    return dict(doctors[0])


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_each_role_sees_its_navigation_and_every_page_of_it(role: Role, visit: Visit) -> None:
    name = visit.sign_in_as(ROLE_LABELS[role.value])
    page = visit.page
    assert page.get_by_text(f"Signed in as {name}").is_visible()
    visit.check("home")
    nav = page.get_by_role("navigation", name="Main")
    links = nav.get_by_role("link")
    expected = [item for item in NAVIGATION if role in item.roles]
    assert links.all_inner_texts() == [item.label for item in expected]
    for item in expected:
        nav.get_by_role("link", name=item.label, exact=True).click()
        page.wait_for_load_state()
        assert visit.path().split("?")[0] == item.href
        assert nav.get_by_role("link", name=item.label, exact=True).get_attribute("aria-current") == "page"
        assert page.locator("h1").count() == 1
        visit.check(item.label)
    # The page's icon and /favicon.ico load as images do (under the page's CSP), and nothing logs an error.
    loaded = page.evaluate(ICON_LOADS)
    assert loaded == {"link": visit.base_url + ICON, "icon": True, "favicon": True}, loaded
    assert visit.console_errors == [], "no page logs an error"


def test_issuer_imports_a_file_sees_the_report_then_finds_the_person(
    visit: Visit, server: DemoServer, tmp_path: Path
) -> None:
    doctor = _issuers_doctor(server)
    visit.sign_in_as(ROLE_LABELS["issuer"])
    page = visit.page
    visit.go("/records")
    header = (
        "gmc_number,subject,level,date_awarded,learning_provider,learning_method,"
        "assurance_policy,assurance_outcome,verification_method\n"
    )
    bad = tmp_path / "skills-with-problems.csv"
    bad.write_text(
        header + _row(doctor["gmc_number"]) + _row("7999999") + _row(doctor["gmc_number"], "by_pigeon")
    )
    page.get_by_label("Kind of record", exact=True).select_option("core_skills")
    page.get_by_label("CSV file", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    assert "Nothing was written" in summary.inner_text()
    report = page.get_by_role("table", name=re.compile("Problems in skills-with-problems.csv"))
    rows = report.locator("tbody tr").all_inner_texts()
    assert any(r.startswith("3\t") and "7999999" in r for r in rows), rows
    assert any(r.startswith("4\t") and "learning_method" in r for r in rows), rows
    visit.check("import refused with the row-by-row report")

    good = tmp_path / "skills.csv"
    good.write_text(header + _row(doctor["gmc_number"]))
    page.get_by_label("CSV file", exact=True).set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    assert visit.path() == "/records"
    assert "Imported 1 core skills (cstf) record." in page.get_by_role("status").inner_text()
    visit.check("import accepted")
    page.reload()
    assert page.get_by_role("status").count() == 0, "a notice shows once"

    search = page.get_by_label("GMC number or name")
    search.fill("x")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert page.locator("#field-q").get_attribute("aria-invalid") == "true"
    assert "at least 2 letters" in page.locator("#error-q").inner_text()
    visit.check("search refused")

    page.get_by_label("GMC number or name").fill(doctor["family_name"])
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    visit.check("search results")
    page.get_by_role("link", name=f"{doctor['given_name']} {doctor['family_name']}").first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == f"{doctor['given_name']} {doctor['family_name']}"
    skills = page.get_by_role("table", name="Core skills (CSTF)")
    assert skills.get_by_role("row").filter(has_text="Fire safety").count() >= 1
    assert page.get_by_role("heading", name="Credentials").is_visible()
    visit.check("person")


def test_coordinator_runs_a_match_and_publishes_it(visit: Visit) -> None:
    visit.sign_in_as(ROLE_LABELS["coordinator"])
    page = visit.page
    visit.go("/placements")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Run the match")).first
    form.get_by_label("Matching mode").select_option("optimal")
    form.get_by_label("Start date").fill("2027-08-04")
    assert form.get_by_label("Leave out sites whose latest additionality check failed").is_checked()
    form.get_by_role("button", name="Run the match").click()
    page.wait_for_url(re.compile(r"/placements/runs/[0-9a-f-]+$"))
    assert re.match(r"Matched \d+ of \d+ trainees \(optimal\)\.", page.get_by_role("status").inner_text())
    assert page.get_by_role("table", name="Trainees placed per site").is_visible()
    placements = page.get_by_role("table", name="Placements and why each trainee was placed there")
    assert placements.locator("tbody tr").count() >= 1
    visit.check("run result")

    page.get_by_label("End date").fill("2027-08-01")
    page.get_by_role("button", name=re.compile(r"^Publish \d+ placements$")).click()
    page.wait_for_load_state()
    assert page.locator("#error-end_date").inner_text().endswith("Must be on or after start date")
    assert page.locator("#field-end_date").get_attribute("aria-invalid") == "true"
    visit.check("publish refused")

    page.get_by_label("End date").fill("")
    page.get_by_role("button", name=re.compile(r"^Publish \d+ placements$")).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("Published ")
    assert "2027-08-04 to" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name=re.compile("^Publish")).count() == 0
    visit.check("published")


def test_analyst_publishes_a_benchmark_and_downloads_a_file_and_its_signature(visit: Visit) -> None:
    visit.sign_in_as(ROLE_LABELS["analyst"])
    page = visit.page
    visit.go("/benchmarks")
    page.get_by_label("Financial year").fill("1999")
    page.get_by_role("button", name="Compute and publish").click()
    page.wait_for_load_state()
    assert "from 2000 to" in page.locator("#error-financial_year").inner_text()
    visit.check("publish refused")

    page.get_by_label("Financial year").fill("2025-26")
    page.get_by_role("button", name="Compute and publish").click()
    page.wait_for_url(re.compile(r"/benchmarks/[0-9a-f-]+$"))
    assert "Published the 2025-26 benchmark" in page.get_by_role("status").inner_text()
    visit.check("benchmark")
    files = page.get_by_role("table", name=re.compile("Files of the 2025-26 benchmark"))
    assert files.locator("tbody tr").count() == 4
    with page.expect_download() as download:
        files.get_by_role("link", name=re.compile("^CSV file")).click()
    assert download.value.suggested_filename.endswith(".csv")
    with page.expect_download() as signature:
        files.get_by_role("link", name="Signature of the CSV file").click()
    assert signature.value.suggested_filename.endswith(".csv.jws")
    assert Path(signature.value.path()).read_text().count(".") == 2, "a compact JWS, detached payload"

    visit.go("/additionality")
    assert page.get_by_role("table", name=re.compile("Offers per commissioning ICB")).is_visible()
    visit.check("additionality")
    page.get_by_role("link", name=re.compile("^Open the full report")).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Workforce additionality checks")
    visit.check("additionality report")


def test_keyboard_reaches_the_skip_link_first_and_it_moves_focus_to_the_content(visit: Visit) -> None:
    visit.sign_in_as(ROLE_LABELS["issuer"])
    page = visit.page
    visit.go("/records")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    visit.check("skip link focused")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "field-q", "the first field of the content is next"


def test_signed_out_pages_and_error_pages(visit: Visit) -> None:
    page = visit.page
    visit.go("/")
    visit.check("home signed out")
    visit.go("/records")  # a page that needs a signed-in person sends the browser to sign in
    assert visit.path() == "/signin"
    visit.check("sign in")
    visit.sign_in_as(ROLE_LABELS["holder"], lands="/records", go=False)  # and signing in leads back to it
    assert page.locator("h1").inner_text() == "You cannot do this"
    visit.go("/records", status=403)
    visit.check("forbidden")
    visit.sign_in_as(ROLE_LABELS["issuer"])
    visit.go("/records/people/00000000-0000-0000-0000-000000000000", status=404)
    assert page.locator("h1").inner_text() == "Page not found"
    visit.check("not found")


def test_the_demo_doctor_reads_their_passport_and_an_unknown_address_is_a_page(visit: Visit) -> None:
    page = visit.page
    visit.sign_in_as(ROLE_LABELS["holder"])
    visit.go("/passport")
    assert page.locator("h1").inner_text() == "My passport"
    tables = page.get_by_role("table")
    assert tables.count() >= 3, "core skills, occupational health, placement and identity tables"
    assert page.locator("strong.tag").count() > 0, "every current record shows its status"
    assert page.get_by_text("Hepatitis B immunity").count() >= 1, "the doctor sees their own outcomes"
    visit.check("my passport")
    visit.go("/no/such/page", status=404)
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.get_by_role("link", name="return to the home page").is_visible()
    visit.check("unknown address")


def test_the_demo_doctor_lists_their_credentials_makes_a_wallet_offer_and_reads_who_checked(
    visit: Visit,
) -> None:
    page = visit.page
    visit.sign_in_as(ROLE_LABELS["holder"])
    visit.go("/passport")
    actions = page.get_by_role("region", name="What you can do")
    assert actions.get_by_role("link", name="Share with a provider").get_attribute("href") == "/wallet/share"
    actions.get_by_role("link", name="My credentials").click()
    page.wait_for_load_state()
    assert visit.path() == "/passport/credentials"
    sub = page.get_by_role("navigation", name="My passport pages")
    assert sub.get_by_role("link", name="My credentials").get_attribute("aria-current") == "page"
    main = page.get_by_role("navigation", name="Main")
    assert main.get_by_role("link", name="My passport").get_attribute("aria-current") == "page"
    table = page.get_by_role("table", name="My credentials, newest first")
    assert table.locator("tbody tr").count() >= 4, "the demo doctor's four credentials"
    assert table.get_by_text("Valid", exact=True).count() >= 4
    visit.check("my credentials")

    sub.get_by_role("link", name="Add to my wallet").click()
    page.wait_for_load_state()
    boxes = page.get_by_role("checkbox")
    assert boxes.count() >= 2
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count())), "all chosen at first"
    visit.check("add to my wallet")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.get_by_role("button", name="Make the offer").click()
    page.wait_for_load_state()
    assert page.title().startswith("Error: ")
    assert "Choose at least one credential" in page.locator("#error-types").inner_text()
    page.get_by_role("alert").get_by_role("link").click()
    assert page.evaluate("document.activeElement.id") == "field-types", "the summary leads to the field"
    visit.check("add refused")

    page.get_by_label("Core skills (CSTF)").check()
    page.get_by_role("button", name="Make the offer").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Add to my wallet: scan or open the offer")
    assert page.locator("figure.qr-code svg").is_visible()
    link = page.get_by_role("link", name="Open the offer in my wallet app")
    assert (link.get_attribute("href") or "").startswith("openid-credential-offer://?credential_offer_uri=")
    code = page.locator("#tx-code")
    assert not code.is_visible(), "the code stays hidden until asked for"
    page.get_by_text("Show the code to type into your wallet").click()
    assert re.fullmatch(r"\d{6}", code.inner_text())
    browser_wallet = page.get_by_role("link", name="Use the registry's browser wallet")
    assert browser_wallet.get_attribute("href") == "/wallet"
    visit.check("wallet offer")

    sub.get_by_role("link", name="Who checked my passport").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Who checked my passport"
    visit.check("who checked my passport")


def test_provider_hr_checks_a_passport_and_sees_the_answer_arrive_without_a_reload(
    visit: Visit, server: DemoServer, tmp_path: Path
) -> None:
    import csv

    from tests.browser.hr import doctor_wallet

    wallet = doctor_wallet(server)  # the demo doctor's phone: credentials issued over OpenID4VCI
    visit.sign_in_as(ROLE_LABELS["verifier"])
    page = visit.page
    visit.go("/verify")
    page.get_by_role("button", name="Make the request").click()
    page.wait_for_load_state()
    assert "Choose the compliance policy" in page.locator("#error-policy").inner_text()
    assert "Enter why you are checking" in page.locator("#error-purpose").inner_text()
    visit.check("request refused")

    policy = page.get_by_label("Compliance policy")
    theatre = policy.locator("option[value^='theatre-surgical-trainee:']").get_attribute("value")
    assert theatre is not None
    policy.select_option(theatre)
    page.get_by_label("Purpose").fill("Theatre list: pre-placement check")
    page.get_by_role("button", name="Make the request").click()
    page.wait_for_url(re.compile(r"/verify/requests/[0-9a-f-]+$"))
    assert page.get_by_role("status").first.inner_text().startswith("Request made.")
    assert page.locator(".qr svg").count() == 2
    deep_link = page.get_by_role("link", name="Open in a wallet app").get_attribute("href")
    browser_link = page.get_by_role("link", name="Open the browser wallet").get_attribute("href")
    assert deep_link is not None
    assert deep_link.startswith("openid4vp://?")
    assert browser_link == server.base_url + "/wallet/share?" + deep_link.split("?", 1)[1]
    assert page.get_by_role("link", name="Check again").is_visible()
    visit.check("request pending")

    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    page.get_by_role("link", name="Check again").focus()  # a keyboard user waiting on the link
    wallet.answer(deep_link)  # the doctor answers on their phone, outside the browser
    heading = page.get_by_role("heading", name=re.compile("^Result: "))
    heading.wait_for(timeout=15_000)
    focused = page.evaluate("document.activeElement.id")
    assert focused == "verdict", "focus moves to the result, not lost with the replaced link"
    verdict = heading.inner_text().removeprefix("Result: ")
    codes = {"Valid": "valid", "Not compliant": "not_compliant", "Invalid": "invalid"}
    assert verdict in codes
    assert page.evaluate("window.sameDocument") is True, "the answer was swapped in, not reloaded"
    assert page.locator("#live-status").inner_text().startswith(f"The doctor has answered: {verdict}.")
    assert page.locator(".qr svg").count() == 0
    assert page.locator("strong.tag", has_text=verdict).count() >= 1
    assert page.get_by_role("table", name=re.compile("^Rules of")).locator("tbody tr").count() >= 1
    assert page.get_by_role("heading", name="What the doctor shared").is_visible()
    if verdict == "Not compliant":
        assert page.get_by_role("heading", name="What is missing").is_visible()
    visit.check("request answered")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verification history").click()
    page.wait_for_load_state()
    history = page.get_by_role("table", name=re.compile("^Requests"))
    first = history.locator("tbody tr").first
    assert verdict in first.inner_text()
    assert "Theatre list: pre-placement check" in first.inner_text()
    visit.check("history")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these requests as CSV").click()
    assert download.value.suggested_filename == "verification-history.csv"
    rows = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8").splitlines()))
    assert rows[0]["purpose"] == "Theatre list: pre-placement check"
    assert rows[0]["verdict"] == codes[verdict]
    assert len(rows) == history.locator("tbody tr").count()
