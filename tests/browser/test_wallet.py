"""The whole journey in Chromium against the demo server, over real HTTP: the demo doctor adds their
credentials to the browser wallet (WebCrypto keys, OpenID4VCI from the page), the keys cannot be read out;
provider HR makes a request on its page (``/verify``); the doctor opens its browser-wallet link and shares
with one optional claim given and another kept back (``/wallet/share``, OpenID4VP ``direct_post``); provider
HR sees the verified result on its request page with exactly those claims.

One test per database: this module has its own seeded server per database (see ``conftest.py``)."""

import base64
import datetime as dt
import json
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from service.web.pages import ROLE_LABELS
from tests.browser.harness import DemoServer, Visit
from tests.browser.hr import client_token

ADDED = re.compile(r"Added to this browser: .*Core skills training \(\d+ copies\)")


def _verifier(server: DemoServer) -> tuple[dict[str, str], str]:
    """Bearer headers of the demo verifier client (the demo site's HR system), and its organisation."""
    clients = json.loads((Path(server.env["PASSPORT_VAR_DIR"]) / "demo-clients.json").read_text())["clients"]
    found = clients["verifier"]
    response = httpx.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(found["client_id"], found["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}, str(found["organisation_name"])


def _open_request(server: DemoServer, headers: dict[str, str]) -> dict[str, Any]:
    created = httpx.post(
        server.base_url + "/api/v1/presentation-requests",
        json={"policy": "outpatient-non-surgical", "purpose": "Outpatient clinic from Monday"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    links = httpx.get(
        f"{server.base_url}/api/v1/presentation-requests/{created.json()['id']}/openid4vp",
        headers=headers,
        timeout=10,
    )
    assert links.status_code == 200, links.text
    found: dict[str, Any] = links.json()
    return found


EXPORT_PRIVATE_KEY = """async () => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open("staff-passport-wallet");
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = () => no(opening.error);
  });
  const records = await new Promise((ok, no) => {
    const reading = db.transaction("credentials").objectStore("credentials").getAll();
    reading.onsuccess = () => ok(reading.result);
    reading.onerror = () => no(reading.error);
  });
  db.close();
  const outcomes = [];
  for (const record of records) {
    for (const format of ["jwk", "pkcs8"]) {
      try {
        await crypto.subtle.exportKey(format, record.privateKey);
        outcomes.push("exported");
      } catch (error) {
        outcomes.push(error.name);
      }
    }
  }
  return {
    count: records.length,
    extractable: records.map((r) => r.privateKey.extractable),
    kinds: [...new Set(records.map((r) => r.kind))].sort(),
    outcomes: [...new Set(outcomes)],
  };
}"""


EXPIRE_IDENTITY_LINK = """async () => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open("staff-passport-wallet");
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = () => no(opening.error);
  });
  await new Promise((ok, no) => {
    const writing = db.transaction("credentials", "readwrite");
    const store = writing.objectStore("credentials");
    store.getAll().onsuccess = (event) => {
      for (const record of event.target.result) {
        if (record.kind === "identity_link") store.put(Object.assign(record, { expiresAt: 1000000000 }));
      }
    };
    writing.oncomplete = ok;
    writing.onerror = () => no(writing.error);
  });
  db.close();
}"""
"""Make the identity link copies kept in this browser look as a copy kept past its expiry does."""


def test_the_doctor_adds_credentials_to_the_browser_and_shares_them_with_a_provider(
    visit: Visit, server: DemoServer
) -> None:
    page = visit.page
    visit.sign_in_as(ROLE_LABELS["holder"])
    visit.go("/wallet")
    assert page.locator("h1").inner_text() == "My wallet"
    assert page.get_by_text("There are no credentials in this browser yet.").is_visible()
    visit.check("empty wallet")

    # OpenID4VCI from the page: offer, token with the transaction code, nonce, batches, notification.
    add = page.get_by_role("button", name="Add my credentials to this browser")
    add.focus()
    page.keyboard.press("Enter")  # by keyboard
    status = page.get_by_role("status")
    status.filter(has_text=ADDED).wait_for(timeout=60_000)
    expect(add).to_be_focused()  # focus stays on the button (it was disabled while adding)
    table = page.get_by_role("table", name="Credentials in this browser")
    rows = table.locator("tbody tr").all_inner_texts()
    assert any(r.startswith("Core skills training\t") for r in rows), rows
    assert any(r.startswith("Identity link\t") for r in rows), rows
    assert all(re.search(r"\t\d{4}-\d\d-\d\d\t\d{4}-\d\d-\d\d\t5\t", r) for r in rows), rows
    visit.check("credentials added")
    assert page.get_by_text("Credentials in this browser", exact=True).count() == 1

    # On a phone (420 px) each credential's status is on screen, not cut off at the right.
    page.set_viewport_size({"width": 420, "height": 900})
    try:
        for cell in table.locator("tbody tr td:nth-child(5)").all():
            box = cell.bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 420, box
            assert cell.inner_text().startswith("Status")  # the column's heading beside the value
        scrolls = page.evaluate("document.documentElement.scrollWidth")
        assert scrolls <= 420, f"the page is {scrolls} px wide at 420 px"
        visit.check("credentials on a phone")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})

    # The private keys are in IndexedDB as CryptoKey objects nobody can read out.
    stored = page.evaluate(EXPORT_PRIVATE_KEY)
    assert stored["count"] == 5 * len(rows)
    assert stored["extractable"] == [False] * stored["count"]
    assert stored["outcomes"] == ["InvalidAccessError"], stored

    # Provider HR makes a request on its own page and gives the doctor the browser wallet's link.
    page.context.clear_cookies()
    visit.sign_in_as(ROLE_LABELS["verifier"])
    visit.go("/verify")
    policy = page.get_by_label("Compliance policy")
    outpatient = policy.locator("option[value^='outpatient-non-surgical:']").get_attribute("value")
    assert outpatient is not None
    policy.select_option(outpatient)
    page.get_by_label("Purpose").fill("Outpatient clinic from Monday")
    page.get_by_role("button", name="Make the request").click()
    page.wait_for_url(re.compile(r"/verify/requests/[0-9a-f-]+$"))
    request_page = visit.path()
    share_link = page.get_by_role("link", name="Open the browser wallet").get_attribute("href")
    assert share_link is not None
    assert share_link.startswith(server.base_url + "/wallet/share?")
    visit.check("provider request pending")

    # The doctor opens the link in the browser that keeps their credentials and chooses what to share.
    page.context.clear_cookies()
    visit.sign_in_as(ROLE_LABELS["holder"])
    visit.go(share_link.removeprefix(server.base_url))
    organisation = page.locator("h1").inner_text().removeprefix("Share with ")
    assert organisation, "the page names who asks"
    assert page.get_by_text("Outpatient clinic from Monday").is_visible()
    status.filter(has_text="The request is genuine").wait_for(timeout=20_000)
    form = page.locator("#share-form")
    gmc = form.get_by_label(re.compile(r"^GMC number: \d{7}$"))
    assert gmc.is_checked(), "what the policy needs is ticked"
    assert form.get_by_text(re.compile("^needed for: Identity link with GMC number$", re.I)).count() == 1
    assert form.get_by_text("needed for: Fire safety in date").count() >= 1
    assert form.get_by_label("Subject: Fire safety").count() >= 1, "coded values are shown in words"
    assert form.get_by_label("Subject: fire_safety").count() == 0
    given = form.get_by_label(re.compile(r"^Given names: "))
    family = form.get_by_label(re.compile(r"^Family name: "))
    assert not given.is_checked()
    assert not family.is_checked(), "what the policy does not need is not ticked"
    family_name = form.locator("label", has_text=re.compile("^Family name: ")).inner_text()
    family_name = family_name.removeprefix("Family name: ").strip()
    given.check()  # the doctor adds one optional claim and keeps the other back
    visit.check("share with a provider")
    second_tab = page.context.new_page()  # the same request open in a second tab
    second_tab.goto(share_link)
    second_tab.get_by_role("status").filter(has_text="The request is genuine").wait_for(timeout=20_000)
    page.bring_to_front()
    page.get_by_role("button", name=f"Share with {organisation}").click()
    page.get_by_role("heading", name=f"Sent to {organisation}").wait_for(timeout=20_000)
    assert page.get_by_role("link", name="Who checked my passport").is_visible()
    visit.check("sent")

    # The second tab's answer is refused in words, and its form is gone: nothing else can be sent.
    second_tab.bring_to_front()
    second_tab.get_by_role("button", name=f"Share with {organisation}").click()
    refused = second_tab.get_by_role("heading", name="This request has already been answered")
    refused.wait_for(timeout=20_000)
    expect(refused).to_be_focused()
    assert "nonce" not in second_tab.locator("main").inner_text()
    assert second_tab.locator("#share-form").is_hidden()
    second_tab.close()
    page.bring_to_front()

    # Provider HR sees the verified result on its request page, with what was ticked and nothing else.
    page.context.clear_cookies()
    visit.sign_in_as(ROLE_LABELS["verifier"])
    visit.go(request_page)
    verdict = page.get_by_role("heading", name=re.compile("^Result: ")).inner_text().removeprefix("Result: ")
    assert verdict in ("Valid", "Not compliant"), verdict
    shared = page.locator("section[aria-labelledby='claims']")
    terms = shared.locator("dt").all_inner_texts()
    assert "Identity: GMC number" in terms, "the needed claim is present"
    assert "Identity: Given names" in terms, "the optional claim the doctor ticked is present"
    assert "Identity: Family name" not in terms, "the optional claim the doctor kept back is absent"
    assert family_name, "the share page showed the family name it kept back"
    assert family_name not in shared.inner_text()
    visit.check("provider sees the result")
    page.context.clear_cookies()
    visit.sign_in_as(ROLE_LABELS["holder"])
    links = {"deep_link": "openid4vp://?" + share_link.split("?", 1)[1]}
    headers, _organisation = _verifier(server)

    # The same request cannot be answered twice: the page says so in words.
    visit.go("/wallet/share?" + urlsplit(links["deep_link"]).query, status=409)
    assert page.locator("h1").inner_text() == "This request has already been answered"

    # A copy past its expiry is marked on the list and not offered: the page says to add them again.
    page.evaluate(EXPIRE_IDENTITY_LINK)
    visit.go("/wallet")
    identity = page.get_by_role("row", name=re.compile("^Identity link"))
    expect(identity).to_contain_text("(expired: add again)")
    expired_request = _open_request(server, headers)
    visit.go("/wallet/share?" + urlsplit(expired_request["deep_link"]).query)
    status.filter(has_text="Expired in this browser, so not shared: Identity link.").wait_for(timeout=20_000)
    assert page.locator("#share-form legend", has_text="Identity link").count() == 0
    assert page.locator("#share-form legend", has_text="Core skills training").count() == 1

    # Removed from the browser: the list is empty, and a new request says why it cannot be answered.
    visit.go("/wallet")
    buttons = page.get_by_role("button", name=re.compile("^Remove .* from this browser$"))
    for left in range(len(rows) - 1, -1, -1):
        buttons.first.focus()
        page.keyboard.press("Enter")
        expect(buttons).to_have_count(left)
        if left:  # focus moves to the next row's button, not lost with the row removed
            expect(buttons.first).to_be_focused()
    expect(page.get_by_role("heading", name="Credentials in this browser")).to_be_focused()
    assert status.inner_text().startswith("Removed ")
    page.get_by_text("There are no credentials in this browser yet.").wait_for()
    assert page.evaluate(EXPORT_PRIVATE_KEY)["count"] == 0
    fresh = _open_request(server, headers)
    visit.go("/wallet/share?" + urlsplit(fresh["deep_link"]).query)
    status.filter(has_text="there are no credentials in this browser yet").wait_for()
    assert page.locator("#share-form").is_hidden(), "nothing to choose, nothing to send"
    visit.check("nothing to share")
    # No console errors but the refusals this test asked for (the request already answered: 409).
    assert [e for e in visit.console_errors if "status of 409" not in e] == []


FORGET_WALLET = """() => new Promise((ok, no) => {
  const deleting = indexedDB.deleteDatabase("staff-passport-wallet");
  deleting.onsuccess = () => ok(true);
  deleting.onerror = () => no(deleting.error);
})"""
"""Start from an empty wallet (the browser profile is shared by the tests of this module)."""

ANOTHER_TAB_WRITES = """() => {
  const put = IDBObjectStore.prototype.put;
  let done = false;
  IDBObjectStore.prototype.put = function (value, key) {
    if (!done && this.name === "credentials" && value && value.kind) {
      done = true;
      for (let i = 0; i < 5; i += 1) put.call(this, Object.assign({}, value, { id: "other-tab-" + i }));
    }
    return put.call(this, value, key);
  };
}"""
"""Five more copies of the first type written in the wallet's own transaction, just before its first copy:
what another tab adding at the same moment leaves when its write lands between this tab's read and write."""

KEPT_STATUS = """async () => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open("staff-passport-wallet");
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = () => no(opening.error);
  });
  const records = await new Promise((ok, no) => {
    const reading = db.transaction("credentials").objectStore("credentials").getAll();
    reading.onsuccess = () => ok(reading.result);
    reading.onerror = () => no(reading.error);
  });
  db.close();
  const b64 = (part) => atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return records.map((r) => {
    const entry = JSON.parse(b64(r.credential.split("~")[0].split(".")[1])).status.status_list;
    return { kind: r.kind, uri: entry.uri, idx: entry.idx };
  });
}"""
"""Each copy kept in this browser: its type and its status list entry."""

STATUS_LISTS_STALE = """async () => {
  const db = await new Promise((ok, no) => {
    const opening = indexedDB.open("staff-passport-wallet");
    opening.onsuccess = () => ok(opening.result);
    opening.onerror = () => no(opening.error);
  });
  await new Promise((ok, no) => {
    const writing = db.transaction("status-lists", "readwrite");
    const store = writing.objectStore("status-lists");
    store.getAll().onsuccess = (event) => {
      for (const list of event.target.result) store.put(Object.assign(list, { until: 0 }));
    };
    writing.oncomplete = ok;
    writing.onerror = () => no(writing.error);
  });
  db.close();
}"""
"""Make the status lists kept by the wallet look as they do once their ttl has run out."""


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(route: Any, how: str) -> None:
    """Answer with the real status list token altered: every entry valid (the signature left as it was),
    or unsigned with ``alg: none``."""
    token = route.fetch().text().strip()
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["status_list"]["lst"] = _b64u(zlib.compress(bytes(131_072 * 2 // 8), 9))
    forged_payload = _b64u(json.dumps(claims).encode())
    if how == "alg none":
        header = _b64u(json.dumps({"alg": "none", "typ": "statuslist+jwt"}).encode())
        signature = ""
    body = f"{header}.{forged_payload}.{signature}"
    route.fulfill(status=200, headers={"Content-Type": "application/statuslist+jwt"}, body=body)


def _withdraw(server: DemoServer, person: str, copies: list[dict[str, Any]]) -> dict[str, str]:
    """As the registry operator, revoke the copies of one type kept in the browser and suspend those of
    another (acting on one copy acts on every copy of the holder's type: decision 0046); which type got
    what."""
    headers = {"Authorization": f"Bearer {client_token(server, 'admin')}"}
    listed = httpx.get(
        server.base_url + "/api/v1/credentials", params={"person_id": person}, headers=headers, timeout=10
    )
    assert listed.status_code == 200, listed.text
    kept = {(c["uri"], c["idx"]) for c in copies}
    by_kind: dict[str, list[str]] = {}
    for item in listed.json()["items"]:
        if (item["status_list_uri"], item["status_idx"]) in kept:
            by_kind.setdefault(item["kind"], []).append(item["id"])
    assert {k: len(v) for k, v in by_kind.items()} == {c["kind"]: 5 for c in copies}
    done = {"identity_link": "revoke", "core_skills": "suspend"}
    for kind, action in done.items():
        changed = httpx.post(
            f"{server.base_url}/api/v1/credentials/{by_kind[kind][0]}/{action}",
            json={"reason": "a record changed: test"},
            headers=headers,
            timeout=10,
        )
        assert changed.status_code == 200, changed.text
    return done


def test_the_wallet_keeps_five_copies_and_checks_each_against_its_status_list(
    visit: Visit, server: DemoServer
) -> None:
    page = visit.page
    visit.sign_in_as(ROLE_LABELS["holder"])
    visit.go("/wallet")
    page.evaluate(FORGET_WALLET)
    visit.go("/wallet")

    # Two tabs adding at once: at most five copies of each type stay.
    page.evaluate(ANOTHER_TAB_WRITES)
    page.get_by_role("button", name="Add my credentials to this browser").click()
    status = page.get_by_role("status")
    status.filter(has_text=ADDED).wait_for(timeout=60_000)
    table = page.get_by_role("table", name="Credentials in this browser")
    rows = table.locator("tbody tr").all_inner_texts()
    copies = page.evaluate(KEPT_STATUS)
    assert len(copies) == 5 * len(rows), "five copies of each type, however many tabs added them"
    assert all(r.split("\t")[4] == "Valid" for r in rows), rows

    # Each copy's list is fetched once and kept for its ttl: opening the page again fetches none.
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/status-lists/" in r.url else None)
    visit.go("/wallet")
    table.locator("tbody tr").first.wait_for()
    expect(table.locator("tbody tr").first).to_contain_text("Valid")
    assert fetched == []

    # The registry revokes the identity link copies and suspends the core skills ones.
    person = json.loads(page.locator("#wallet").get_attribute("data-wallet") or "{}")["holder"]
    _withdraw(server, person, copies)
    today = dt.datetime.now(dt.UTC)
    on = f"on {today.date().isoformat()}"
    page.evaluate(STATUS_LISTS_STALE)
    visit.go("/wallet")
    expect(page.get_by_role("row", name=re.compile("^Identity link"))).to_contain_text(f"Revoked {on}")
    expect(page.get_by_role("row", name=re.compile("^Core skills training"))).to_contain_text(
        f"Suspended {on}"
    )
    status.filter(has_text="Not usable, withdrawn by the issuer: ").wait_for()
    assert fetched, "the lists were fetched again once their ttl had run out"
    visit.check("copies revoked and suspended")

    # Sharing: the withdrawn copies are not offered, and the page says why.
    headers, _organisation = _verifier(server)
    request = _open_request(server, headers)
    visit.go("/wallet/share?" + urlsplit(request["deep_link"]).query)
    status.filter(has_text=f"Identity link: this copy was revoked by the issuer {on}").wait_for(
        timeout=20_000
    )
    assert f"Core skills training: this copy was suspended by the issuer {on}" in status.inner_text()
    assert page.locator("#share-form legend", has_text="Identity link").count() == 0
    assert page.locator("#share-form legend", has_text="Core skills training").count() == 0
    visit.check("withdrawn copies not offered")

    # A list that does not check out (a forged "all valid" list, alg none) never makes a copy valid.
    for forgery in ("all valid, the registry's signature kept", "alg none"):
        page.evaluate(STATUS_LISTS_STALE)
        page.route("**/status-lists/**", lambda route, how=forgery: _forge(route, how))
        visit.go("/wallet")
        row = page.get_by_role("row", name=re.compile("^Identity link"))
        expect(row).to_contain_text("Status not checked")
        assert "Valid" not in row.inner_text(), forgery
        status.filter(has_text="The status of some copies was not checked").wait_for()
        page.unroute("**/status-lists/**")

    # The lists cannot be fetched: the page says so, and still lets the doctor share.
    page.evaluate(STATUS_LISTS_STALE)
    page.route("**/status-lists/**", lambda route: route.abort())
    visit.go("/wallet/share?" + urlsplit(request["deep_link"]).query)
    status.filter(has_text="Status not checked for: ").wait_for(timeout=20_000)
    form = page.locator("#share-form")
    expect(form).to_be_visible()
    assert form.get_by_text(re.compile("^Status not checked: ")).count() >= 1
    assert form.locator("legend", has_text="Identity link").count() == 1
    visit.check("status not checked")
    page.unroute("**/status-lists/**")
    visit.console_errors[:] = [e for e in visit.console_errors if "ERR_FAILED" not in e]

    page.evaluate(FORGET_WALLET)
    assert visit.console_errors == []
