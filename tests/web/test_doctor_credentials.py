"""Doctor pages: my credentials (every one issued to me, its state, key and records), adding them to a
wallet (an OpenID4VCI offer a wallet redeems with the code shown on the page), and who checked my
passport (organisation, purpose, policy, claim names, never values)."""

import datetime as dt
import html
import re
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.audit import AuditEvent
from service.auth import SESSION_COOKIE, Principal, Role, TokenService, User
from service.config import Settings
from service.credentials import service as credentials
from service.credentials.models import Credential
from service.keys import KeyRing
from service.oid4vc.models import CredentialOfferRow
from service.passport.encryption import DataKeyRing
from service.verification.schemas import DisclosedNames
from service.web import doctor, views
from service.web import service as web
from tests.conftest import BASE_URL, ConnectionDatabase, asgi_transport
from tests.credentials import factories as cf
from tests.oid4vc import wallet as w
from tests.passport import factories as pf
from tests.verification.factories import create_scene
from tests.verification.test_flow import answer, create_request
from tests.web.helpers import create_user, csrf_token
from tests.web.pages import count, field_error

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ORIGIN = {"Origin": BASE_URL}
ADMIN = Principal(subject="admin-test", kind="client", role=Role.ADMIN, organisation=None)


async def _as_holder(
    client: httpx.AsyncClient, app: Litestar, session: AsyncSession, person_id: uuid.UUID | None
) -> str:
    """Sign ``client`` in as a holder linked to ``person_id`` (None: an account linked to nobody, which
    provisioning never makes); the CSRF token of its forms."""
    email = f"holder-{uuid.uuid4().hex[:8]}@doctor.example"
    if person_id is None:
        user = User(
            id=uuid.uuid4(),
            email=email,
            display_name="Unlinked holder",
            role=Role.HOLDER.value,
            organisation_code=None,
            person_id=None,
            created_at=NOW,
            disabled_at=None,
        )
        session.add(user)
        await session.commit()
    else:
        user = await create_user(session, email, role=Role.HOLDER, name="Test doctor", person_id=person_id)
    tokens: TokenService = app.state.tokens
    client.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
    return csrf_token((await client.get("/")).text)


def _rows(page: str) -> list[str]:
    """The body rows of the page's table, as text (tags dropped, spaces collapsed)."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert body is not None, page[:2000]
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


async def test_my_credentials_lists_every_credential_with_its_state_reason_key_and_records(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW)
    await cf.submit(session, data_keys, [pf.core_skill(world.other)], world.tree.trust, NOW)
    key = await cf.add_holder_key(session, world.doctor.id, cf.new_key(), NOW)
    await cf.add_holder_key(session, world.other.id, cf.new_key(), NOW)
    issuer = cf.issuer_of(app)
    pairs = [(world.doctor.id, kind) for kind in ("core_skills", "occupational_health", "identity_link")]
    await credentials.issue(session, issuer, [*pairs, (world.other.id, "core_skills")], now=NOW)
    later = NOW + dt.timedelta(seconds=5)
    await credentials.issue(session, issuer, [(world.doctor.id, "identity_link")], now=later, force=True)
    health = (
        await session.scalars(
            select(Credential).where(
                Credential.person_id == world.doctor.id, Credential.kind == "occupational_health"
            )
        )
    ).one()
    await credentials.change_state(
        session, issuer, ADMIN, health.id, "revoke", "fitness for work under review", now=later
    )
    await session.commit()
    await _as_holder(client, app, session, world.doctor.id)

    page = await client.get("/passport/credentials")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "<h1>My credentials</h1>" in page.text
    assert re.search(r'<a href="/passport/credentials" aria-current="page">My credentials</a>', page.text)
    assert re.search(r'<a href="/passport" aria-current="page">My passport</a>', page.text)
    rows = _rows(page.text)
    assert len(rows) == 4, "every credential issued to me, superseded and revoked ones included"
    assert rows[0].startswith("Identity link"), "newest first"
    assert "Valid" in rows[0]
    superseded = next(r for r in rows if r.startswith("Identity link") and "Superseded" in r)
    assert "superseded: re-issued" in superseded
    revoked = next(r for r in rows if r.startswith("Occupational health"))
    assert "Revoked fitness for work under review" in revoked
    assert "Hepatitis B immunity" in revoked, "the records it states, by name"
    assert "immune" not in page.text, "never an outcome"
    skills = next(r for r in rows if r.startswith("Core skills"))
    assert "Valid" in skills
    assert "2 records: Fire safety (level 1) Resuscitation (level 2)" in skills
    assert key.thumbprint[:12] in skills
    assert "To your registered wallet key" in skills
    assert page.text.count("Core skills (CSTF)") == 1, "another doctor's credentials are not shown"


async def test_a_wallet_redeems_the_offer_shown_on_the_add_page_with_the_code_shown_there(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await pf.create_world(session)
    records = [pf.core_skill(world.doctor), pf.identity(world.doctor)]
    await cf.submit(session, data_keys, records, world.tree.trust, NOW)
    await session.commit()
    csrf = await _as_holder(client, app, session, world.doctor.id)

    form = await client.get("/passport/add")
    assert form.status_code == 200, form.text
    boxes = re.findall(r'<input type="checkbox" name="types" value="([a-z_]+)"[^>]* checked', form.text)
    assert boxes == ["core_skills", "identity_link"], "only the types I have records for, all chosen"
    assert '<form method="post" action="/passport/add"' in form.text

    made = await client.post(
        "/passport/add", data={"csrf_token": csrf, "types": ["core_skills"]}, headers=ORIGIN
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    assert "location" not in made.headers
    assert "set-cookie" not in {k.lower() for k in made.headers}
    assert "<svg" in made.text, "the QR code is inline"
    link = re.search(r'href="(openid-credential-offer://[^"]+)"', made.text)
    code = re.search(
        r'<details class="tx-code-details">.*?<p class="tx-code" id="tx-code">(\d{6})</p>', made.text, re.S
    )
    assert link is not None, made.text
    assert code is not None, "the code is on the page, behind a <details>"
    assert "Show the code to type into your wallet" in made.text
    assert 'href="/wallet"' in made.text
    assert await count(session, CredentialOfferRow) == 1
    events = (
        await session.scalars(select(AuditEvent).where(AuditEvent.subject.like("person:%offer:%")))
    ).all()
    assert len(events) == 1
    assert code.group(1) not in events[0].subject, "the code is never recorded"

    url = w.read_offer_link(html.unescape(link.group(1)))
    assert isinstance(url, str)
    offer = w.check_offer((await client.get(url.removeprefix(BASE_URL))).json())
    assert offer["credential_configuration_ids"] == ["core_skills"]
    token = await client.post("/oauth/token", data=w.token_request(offer, code.group(1)))
    assert token.status_code == 200, token.text
    nonce = (await client.post("/oid4vci/nonce")).json()["c_nonce"]
    keys = [w.HolderKey.generate("ES256"), w.HolderKey.generate("ES256")]
    proofs = [w.key_proof(k, issuer=BASE_URL, nonce=nonce, iat=int(time.time())) for k in keys]
    issued = await client.post(
        "/oid4vci/credential",
        json=w.credential_request("core_skills", proofs),
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert issued.status_code == 200, issued.text
    assert len(w.credentials_from_response(issued.json(), keys)) == 2

    listed = _rows((await client.get("/passport/credentials")).text)
    assert len(listed) == 2
    assert all("OpenID4VCI batch: copy" in r and "of 2, each bound to its own key" in r for r in listed)
    assert all(any(k.thumbprint()[:12] in r for r in listed) for k in keys), "each copy shows its own key"


async def test_an_empty_or_unknown_choice_is_refused_next_to_the_field_and_makes_no_offer(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, data_keys: DataKeyRing
) -> None:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, [pf.core_skill(world.doctor)], world.tree.trust, NOW)
    await session.commit()
    csrf = await _as_holder(client, app, session, world.doctor.id)

    empty = await client.post("/passport/add", data={"csrf_token": csrf}, headers=ORIGIN)
    assert empty.status_code == 422
    assert "<title>Error: Add to my wallet" in empty.text
    assert field_error(empty.text, "types") == "Choose at least one credential to add to your wallet"
    assert '<a href="#field-types">Credentials to add: Choose at least one' in empty.text
    for chosen in (["occupational_health"], ["core_skills", "made_up"]):
        unknown = await client.post(
            "/passport/add", data={"csrf_token": csrf, "types": chosen}, headers=ORIGIN
        )
        assert unknown.status_code == 422
        assert (field_error(unknown.text, "types") or "").startswith(
            "Choose only from the credentials listed"
        )
    forged = await client.post("/passport/add", data={"types": ["core_skills"]}, headers=ORIGIN)
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text
    assert await count(session, CredentialOfferRow) == 0, "no offer row written"
    outcomes = (
        await session.scalars(
            select(AuditEvent.outcome)
            .where(AuditEvent.action == "POST make_wallet_offer")
            .order_by(AuditEvent.id)
        )
    ).all()
    assert outcomes == ["rejected 422"] * 3 + ["denied 403"]


async def test_without_a_data_key_the_offer_is_refused_on_the_page_and_nothing_is_written(
    settings: Settings,
    database: ConnectionDatabase,
    keyring: KeyRing,
    session: AsyncSession,
    data_keys: DataKeyRing,
    tmp_path: Path,
) -> None:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, [pf.core_skill(world.doctor)], world.tree.trust, NOW)
    await session.commit()
    # no data key: offers cannot be sealed (a keys folder of its own, as the shared one may have a data key
    # that a demo-mode test made on first use)
    no_data_key = msgspec.structs.replace(settings, keys_dir=tmp_path / "keys-without-a-data-key")
    app = create_app(no_data_key, database=database, keyring=keyring)
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
        csrf = await _as_holder(client, app, session, world.doctor.id)
        refused = await client.post(
            "/passport/add", data={"csrf_token": csrf, "types": ["core_skills"]}, headers=ORIGIN
        )
    assert refused.status_code == 503
    assert "Offers keep their code encrypted and the registry has no data key" in html.unescape(refused.text)
    assert 'role="alert"' in refused.text, "in the error summary, with the form shown again"
    assert 'value="core_skills" id="field-types" checked' in refused.text
    assert await count(session, CredentialOfferRow) == 0


async def test_a_holder_with_no_records_has_nothing_to_add_and_an_unlinked_holder_is_refused(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await pf.create_world(session)
    await session.commit()
    await _as_holder(client, app, session, world.doctor.id)
    page = await client.get("/passport/add")
    assert page.status_code == 200
    assert "nothing to add" in page.text
    assert '<form method="post" action="/passport/add"' not in page.text
    assert (
        "The registry has issued no credentials to you yet."
        in (await client.get("/passport/credentials")).text
    )
    assert "Nobody has checked your passport yet." in (await client.get("/passport/checks")).text
    client.cookies.clear()
    await _as_holder(client, app, session, None)
    for path in ("/passport", "/passport/credentials", "/passport/add", "/passport/checks"):
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert "not linked to a person record" in refused.text


async def test_who_checked_my_passport_lists_each_verification_with_claim_names_only(
    app: Litestar,
    client: httpx.AsyncClient,
    session: AsyncSession,
    keyring: KeyRing,
    data_keys: DataKeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = await create_scene(session, app, keyring, data_keys)
    first = await create_request(client, scene, purpose="Theatre list at Oakridge, 4 August")
    assert (await answer(client, scene, first)).status_code == 201
    second = await create_request(client, scene, purpose="Bank shift")
    assert (await answer(client, scene, second, kinds=["core_skills", "identity_link"])).status_code == 201
    await _as_holder(client, app, session, scene.doctor.id)

    page = await client.get("/passport/checks")
    assert page.status_code == 200, page.text
    rows = _rows(page.text)
    assert "Bank shift" in rows[0], "newest first"
    assert "Theatre list at Oakridge, 4 August" in rows[1]
    full = rows[1]
    assert "Test organisation NT301 (NT301)" in full
    assert "Independent sector theatre list, surgical trainee theatre-surgical-trainee, version 1" in full
    assert "Core skills (CSTF) Subject, Level, Date to" in full, "the claim names shared, per credential"
    assert "Occupational health Item, Outcome, Review date" in full
    assert "Training programme and placement Site, Start date, End date" in full
    assert "Identity link GMC number" in full
    assert "Valid" in full
    assert "met the provider's policy" in full
    assert "Not compliant" in rows[0], "a policy needing health outcomes is not met without them"
    for value in ("immune", "cleared", str(scene.doctor.gmc_number), "Okafor"):
        assert value not in page.text, value

    monkeypatch.setattr(doctor, "CHECKS_PAGE", 1)
    newest = await client.get("/passport/checks")
    assert len(_rows(newest.text)) == 1
    assert "Bank shift" in newest.text
    assert 'href="/passport/checks?offset=1" rel="next">Older checks</a>' in newest.text
    older = await client.get("/passport/checks", params={"offset": 1})
    assert "Theatre list at Oakridge" in older.text
    assert "Bank shift" not in older.text
    assert 'href="/passport/checks" rel="prev">Newer checks</a>' in older.text
    # A bad offset is corrected to the nearest valid one, as on provider HR's history: no error page.
    for bad in ("-1", "abc", "", "1.5"):
        corrected = await client.get("/passport/checks", params={"offset": bad})
        assert corrected.status_code == 200, bad
        assert "Bank shift" in corrected.text, bad
        assert "Theatre list at Oakridge" not in corrected.text, bad
    beyond = await client.get("/passport/checks", params={"offset": 10**12})
    assert beyond.status_code == 200
    assert "There are no more checks." in beyond.text
    assert 'rel="prev">Newer checks</a>' in beyond.text

    client.cookies.clear()
    await _as_holder(client, app, session, scene.other.id)
    assert "Nobody has checked your passport yet." in (await client.get("/passport/checks")).text


def test_claim_names_in_words_for_typed_and_untyped_presentations() -> None:
    named = doctor.disclosed_in_words(
        [
            DisclosedNames(
                credential_type="occupational_health",
                claims=[f"occupational_health/*{tail}" for tail in ("", "/outcome", "/item")],
            ),
            DisclosedNames(credential_type="core_skills", claims=["core_skills/*/assurance", "holder_id"]),
            # an invalid presentation is stored as "unknown": its paths still say which credential it was
            DisclosedNames(credential_type="unknown", claims=["placements/*/site", "placements/*/end_date"]),
            DisclosedNames(credential_type="unknown", claims=[]),
        ]
    )
    assert named == [
        ("Occupational health", "Item, Outcome"),
        ("Core skills (CSTF)", "Holder identifier, Assurance"),
        ("Training programme and placement", "Site, End date"),
        ("A credential not recognised", "the credential only"),
    ]


@given(st.text(max_size=30) | st.integers().map(str))
def test_a_page_offset_is_always_corrected_into_the_valid_range(text: str) -> None:
    found = views.read_offset(text)
    assert 0 <= found <= views.MAX_OFFSET
    if text.isascii() and re.fullmatch(r"\s*-?\d{1,19}\s*", text):
        assert found == max(0, min(int(text), views.MAX_OFFSET))
