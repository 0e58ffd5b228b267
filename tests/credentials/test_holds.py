"""An issuer's suspension or revocation is a hold on (holder, type) that no re-issue lifts (decision 0046):
a record change, an expiry renewal, the August changeover, a new holder key or a wallet's offer issue the
type suspended while a suspension stands, and not at all while a revocation stands, until a new record of
the type is stated. And an idle lifecycle pass writes nothing."""

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import bulk, repository, service, worker
from service.credentials.models import Credential, CredentialHold, LifecycleCursor, Notification
from service.credentials.schemas import KINDS
from service.db import Database, make_engine, upgrade
from service.errors import InvalidInput
from service.keys import KeyStore
from service.passport import sdjwt
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.status_list import CredentialStatus, verify_token
from tests.conftest import ConnectionDatabase
from tests.credentials import factories as cf
from tests.credentials.test_batch_copies import copies_of, wallet_keys
from tests.credentials.test_service import NOW, doctor_with_key, keys_of
from tests.factories import TEST_PASSPHRASE
from tests.passport import factories as pf

API = "/api/v1"
SEEN_AT = int((NOW + dt.timedelta(days=6)).timestamp())
"""When the tests read status lists: after every pass they run (lists are signed for 7 days)."""


async def status_seen(client: httpx.AsyncClient, app: Litestar, credential: str) -> CredentialStatus:
    """The status a verifier reads for a credential: its entry in the published list (over HTTP)."""
    reference = sdjwt.HeldCredential.parse(credential).payload["status"]["status_list"]
    published = await client.get(reference["uri"].removeprefix(cf.BASE_URL))
    assert published.status_code == 200
    token = verify_token(published.text, keys_of(app), uri=reference["uri"], now=SEEN_AT, iss=cf.BASE_URL)
    return token.status_list.status_of(reference["idx"])


async def held(session: AsyncSession, app: Litestar, person: uuid.UUID, kind: str) -> list[Any]:
    """The holder's current credentials of a type bound to their registered key (the reference wallet's)."""
    session.expire_all()  # the app changed them on the same connection
    registered = (await repository.current_keys(session, [person]))[person].id
    mine = await session.scalars(
        select(Credential.id).where(Credential.person_id == person, Credential.holder_key_id == registered)
    )
    ids = set(mine.all())
    found = await service.holder_credentials(session, cf.issuer_of(app), person)
    return [h for h in found if h.kind == kind and h.id in ids]


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], credential_id: object, action: str, reason: str
) -> httpx.Response:
    return await client.post(
        f"{API}/credentials/{credential_id}/{action}", json={"reason": reason}, headers=headers
    )


async def notes(session: AsyncSession, person: uuid.UUID) -> list[str]:
    found = await session.scalars(
        select(Notification.body).where(Notification.person_id == person).order_by(Notification.created_at)
    )
    return list(found.all())


async def last_note(session: AsyncSession, person: uuid.UUID) -> str:
    return (await notes(session, person))[-1]


async def test_a_suspension_holds_through_record_changes_renewals_and_the_changeover_until_reinstated(
    session: AsyncSession,
    app: Litestar,
    client: httpx.AsyncClient,
    data_keys: DataKeyRing,
    database: ConnectionDatabase,
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    issuer.lifetime_days = 10  # so a renewal falls due within the test
    person = world.doctor.id
    varicella = pf.health(world.doctor, item="varicella")
    await service.lifecycle_step(session, issuer, now=NOW)
    copies = await copies_of(session, issuer, person, "occupational_health", 2)  # a wallet app's batch
    trust = await pf.issuer(session, app, world.tree.trust)
    other = await pf.issuer(session, app, world.tree.other_trust)
    await session.commit()
    [first] = await held(session, app, person, "occupational_health")

    # occupational health: fitness for work under review
    done = await act(client, trust, first.id, "suspend", "fitness for work under review")
    assert done.status_code == 200, done.text
    assert await status_seen(client, app, first.credential) is CredentialStatus.SUSPENDED
    for copy in await session.scalars(select(Credential).where(Credential.id.in_(copies))):
        await session.refresh(copy)
        assert copy.state == "suspended"  # the wallet app's copies are held too
    told = await last_note(session, person)
    assert "Your occupational health clearance credential was suspended by its issuer" in told
    assert "review" not in told  # never the reason

    # a record of the type changes: the re-issued credential is suspended too
    posted = await pf.submit(client, trust, varicella)
    assert posted.status_code == 201, posted.text
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert step.changes.issued == 1
    [second] = await held(session, app, person, "occupational_health")
    assert second.id != first.id
    assert second.state == "suspended"
    assert await status_seen(client, app, second.credential) is CredentialStatus.SUSPENDED

    # the expiry renewal, a new holder key and the August changeover do not lift it either
    renewal = await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(days=5))
    assert renewal.lapses.issued == 4
    [third] = await held(session, app, person, "occupational_health")
    assert third.id != second.id
    assert await status_seen(client, app, third.credential) is CredentialStatus.SUSPENDED
    new_key = await cf.add_holder_key(session, person, cf.new_key(), NOW + dt.timedelta(days=5))
    replaced = await repository.replace_keys(session, person, new_key.id, NOW + dt.timedelta(days=5))
    await service.issue(
        session, issuer, [(person, k) for k in KINDS], now=NOW + dt.timedelta(days=5), retired=set(replaced)
    )
    later = NOW + dt.timedelta(days=5, minutes=1)
    await service.reissue_all(database.session, issuer, now=later)
    [fourth] = await held(session, app, person, "occupational_health")
    assert fourth.id != third.id
    assert await status_seen(client, app, fourth.credential) is CredentialStatus.SUSPENDED
    # a wallet app's new offer is issued suspended too
    [(_, offered)] = await service.issue_to_keys(
        session, issuer, person, "occupational_health", wallet_keys(1), now=later
    )
    assert await status_seen(client, app, offered) is CredentialStatus.SUSPENDED
    for kind in ("core_skills", "identity_link"):
        [other_type] = await held(session, app, person, kind)
        assert await status_seen(client, app, other_type.credential) is CredentialStatus.VALID
    await session.commit()

    # only the organisation that suspended it lifts it: reinstating the credential it suspended, long since
    # superseded, reinstates the current one
    refused = await act(client, other, first.id, "reinstate", "cleared")
    assert refused.status_code == 404  # the other trust states none of its records
    reinstated = await act(client, trust, first.id, "reinstate", "fit for work")
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["state"] == "valid"
    [current] = await held(session, app, person, "occupational_health")
    assert current.id == fourth.id
    assert current.state == "valid"
    assert await status_seen(client, app, current.credential) is CredentialStatus.VALID
    assert await status_seen(client, app, offered) is CredentialStatus.VALID
    assert await status_seen(client, app, first.credential) is CredentialStatus.INVALID  # superseded
    assert await session.get(CredentialHold, (person, "occupational_health")) is None
    assert any("was reinstated by its issuer" in note for note in await notes(session, person))
    again = await act(client, trust, first.id, "reinstate", "twice")
    assert again.status_code == 409
    assert again.json()["code"] == "credential_revoked"


async def test_only_the_suspending_organisation_or_an_admin_reinstates(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    person = world.doctor.id
    # core skills stated by two trusts: either may act on the credential
    await cf.submit(
        session, data_keys, [pf.core_skill(world.doctor, subject="fire_safety")], world.tree.other_trust, NOW
    )
    await service.lifecycle_step(session, cf.issuer_of(app), now=NOW)
    trust = await pf.issuer(session, app, world.tree.trust)
    other = await pf.issuer(session, app, world.tree.other_trust)
    admin = await pf.admin(session, app)
    await session.commit()
    [core] = await held(session, app, person, "core_skills")
    assert (await act(client, trust, core.id, "suspend", "under investigation")).status_code == 200
    refused = await act(client, other, core.id, "reinstate", "not our call")
    assert refused.status_code == 409
    assert refused.json()["code"] == "suspended_by_another_organisation"
    assert await status_seen(client, app, core.credential) is CredentialStatus.SUSPENDED
    assert (await act(client, admin, core.id, "reinstate", "resolved")).status_code == 200
    assert await status_seen(client, app, core.credential) is CredentialStatus.VALID


async def test_a_revocation_is_not_undone_by_reissue_all_renewals_keys_or_offers_only_by_a_new_record(
    session: AsyncSession,
    app: Litestar,
    client: httpx.AsyncClient,
    data_keys: DataKeyRing,
    database: ConnectionDatabase,
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    person = world.doctor.id
    governance = pf.core_skill(world.doctor, subject="information_governance")
    await service.lifecycle_step(session, issuer, now=NOW)
    trust = await pf.issuer(session, app, world.tree.trust)
    await session.commit()
    [core] = await held(session, app, person, "core_skills")
    done = await act(client, trust, core.id, "revoke", "left the trust")
    assert done.status_code == 200, done.text
    assert await status_seen(client, app, core.credential) is CredentialStatus.INVALID
    told = await last_note(session, person)
    assert "Your core skills training credential was revoked by its issuer" in told
    assert "not issued again until a new core skills training record is submitted" in told

    # the August changeover, an expiry renewal, a new key and a wallet's offer bring nothing back
    result = await service.reissue_all(database.session, issuer, now=NOW + dt.timedelta(minutes=1))
    assert result.held == 1
    assert await held(session, app, person, "core_skills") == []
    assert len(await held(session, app, person, "identity_link")) == 1
    await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(days=360))
    assert await held(session, app, person, "core_skills") == []
    new_key = await cf.add_holder_key(session, person, cf.new_key(), NOW + dt.timedelta(days=360))
    replaced = await repository.replace_keys(session, person, new_key.id, NOW + dt.timedelta(days=360))
    await service.issue(session, issuer, [(person, "core_skills")], now=NOW, retired=set(replaced))
    assert await held(session, app, person, "core_skills") == []
    with pytest.raises(InvalidInput) as refused:
        await service.issue_to_keys(session, issuer, person, "core_skills", wallet_keys(1), now=NOW)
    assert refused.value.code == "credential_revoked"
    valid = await session.scalars(
        select(Credential).where(
            Credential.person_id == person, Credential.kind == "core_skills", Credential.state == "valid"
        )
    )
    assert valid.all() == []
    await session.commit()

    # a new record of the type (new facts) issues it again, with every current record
    posted = await pf.submit(client, trust, governance)
    assert posted.status_code == 201, posted.text
    step = await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(days=1))
    assert step.changes.issued == 1
    [back] = await held(session, app, person, "core_skills")
    assert back.state == "valid"
    assert await status_seen(client, app, back.credential) is CredentialStatus.VALID
    subjects = {r["subject"] for r in sdjwt.HeldCredential.parse(back.credential).claims["core_skills"]}
    assert {"information_governance", "fire_safety", "resuscitation"} <= subjects
    assert await session.get(CredentialHold, (person, "core_skills")) is None


async def test_a_withdrawal_after_a_revocation_is_not_a_new_fact(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    person = world.doctor.id
    await service.lifecycle_step(session, issuer, now=NOW)
    trust = await pf.issuer(session, app, world.tree.trust)
    await session.commit()
    [core] = await held(session, app, person, "core_skills")
    assert (await act(client, trust, core.id, "revoke", "stated in error")).status_code == 200
    records = (await client.get(f"{API}/records", params={"person_id": str(person)}, headers=trust)).json()
    resuscitation = next(
        r["id"] for r in records["items"] if r["kind"] == "core_skills" and r["subject"] == "resuscitation"
    )
    withdrawn = await client.post(
        f"{API}/records/{resuscitation}/withdrawal", json={"reason": "stated in error"}, headers=trust
    )
    assert withdrawn.status_code == 200, withdrawn.text
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.held) == (0, 1)
    assert await held(session, app, person, "core_skills") == []


def test_the_changeover_in_worker_processes_keeps_suspensions_and_revocations(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'changeover.db'}"
    keys = tmp_path / "keys"
    upgrade(url)
    KeyStore(keys, TEST_PASSPHRASE).init(now)
    DataKeyStore(keys, TEST_PASSPHRASE).init(now)

    def issuer_now() -> service.Issuer:
        return service.Issuer(
            keyring=KeyStore(keys, TEST_PASSPHRASE).load(now),
            data_keys=DataKeyStore(keys, TEST_PASSPHRASE).load(),
            base_url=cf.BASE_URL,
        )

    async def seed() -> uuid.UUID:
        database = Database(make_engine(url, pool_size=1))
        try:
            async with database.session() as session:
                world = await pf.create_world(session)
                data_keys = DataKeyStore(keys, TEST_PASSPHRASE).load()
                await cf.submit(
                    session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, now
                )
                await cf.add_holder_key(session, world.doctor.id, cf.new_key(), now)
                issuer = issuer_now()
                await service.issue(
                    session, issuer, [(world.doctor.id, k) for k in KINDS], now=now, tell=False
                )
                own = pf.issuer_principal(world.tree.trust)
                for found in await service.holder_credentials(session, issuer, world.doctor.id):
                    if found.kind in ("occupational_health", "core_skills"):
                        action = "suspend" if found.kind == "occupational_health" else "revoke"
                        await service.change_state(
                            session, issuer, own, found.id, action, "checking", now=now
                        )
                await session.commit()
                return world.doctor.id
        finally:
            await database.dispose()

    async def changeover() -> Any:
        database = Database(make_engine(url, pool_size=2))
        try:
            return await bulk.reissue_all(
                database,
                issuer_now(),
                workers=1,
                keys_dir=keys,
                passphrase=TEST_PASSPHRASE,
                database_url=url,
                now=now + dt.timedelta(minutes=1),
            )
        finally:
            await database.dispose()

    async def statuses(person: uuid.UUID) -> dict[str, list[CredentialStatus]]:
        database = Database(make_engine(url, pool_size=1))
        try:
            async with database.session() as session:
                issuer = issuer_now()
                found: dict[str, list[CredentialStatus]] = {}
                for item in await service.holder_credentials(session, issuer, person):
                    reference = sdjwt.HeldCredential.parse(item.credential).payload["status"]["status_list"]
                    token_text = await service.status_list_token(session, reference["uri"].rsplit("/", 1)[1])
                    assert token_text is not None
                    token = verify_token(
                        token_text,
                        keys_of_jwks(issuer.keyring.jwks("credential")["keys"]),
                        uri=reference["uri"],
                        now=int(now.timestamp()) + 60,
                        iss=cf.BASE_URL,
                    )
                    found.setdefault(item.kind, []).append(token.status_list.status_of(reference["idx"]))
                return found
        finally:
            await database.dispose()

    person = asyncio.run(seed())
    result = asyncio.run(changeover())
    assert result.issued == 3  # core skills stays revoked
    assert asyncio.run(statuses(person)) == {
        "occupational_health": [CredentialStatus.SUSPENDED],
        "training_placement": [CredentialStatus.VALID],
        "identity_link": [CredentialStatus.VALID],
    }


def keys_of_jwks(published: list[dict[str, Any]]) -> Any:
    keys = {k["kid"]: jws.key_from_jwk(k) for k in published}
    return lambda header: keys.get(header.get("kid"))


async def writes_so_far(session: AsyncSession) -> int:
    """Rows this transaction (PostgreSQL) or connection (SQLite) has inserted, updated or deleted."""
    if (await session.connection()).dialect.name == "sqlite":
        return int(await session.scalar(text("SELECT total_changes()")) or 0)
    query = text("SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
    return int(await session.scalar(query) or 0)


async def test_an_idle_lifecycle_pass_writes_nothing(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    first = await service.lifecycle_step(session, issuer, now=NOW)
    assert first.changes.issued == 4
    await session.flush()
    cursor = await session.get(LifecycleCursor, service.LIFECYCLE)
    assert cursor is not None
    stamped = cursor.updated_at
    before = await writes_so_far(session)
    idle = await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(minutes=1))
    await session.flush()
    assert (idle.changes.issued, idle.lapses.issued, idle.lists_refreshed) == (0, 0, 0)
    assert await writes_so_far(session) == before
    await session.refresh(cursor)
    assert cursor.updated_at == stamped
    # the next day moves the day handled and re-signs the lists older than a day: writes, once
    await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(days=1, minutes=1))
    await session.flush()
    await session.refresh(cursor)
    assert cursor.lapsed_through == (NOW + dt.timedelta(days=1, minutes=1)).date()
    moved = await writes_so_far(session)
    assert moved > before
    await service.lifecycle_step(session, issuer, now=NOW + dt.timedelta(days=1, minutes=2))
    await session.flush()
    assert await writes_so_far(session) == moved


async def test_an_idle_lifecycle_pass_commits_no_change_for_other_connections_to_see(
    own_database_url: str, app: Litestar, data_keys: DataKeyRing
) -> None:
    database = Database(make_engine(own_database_url, pool_size=1))
    issuer = cf.issuer_of(app)
    try:
        async with database.session() as session:
            world = await pf.create_world(session)
            await cf.submit(
                session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW
            )
            await cf.add_holder_key(session, world.doctor.id, cf.new_key(), NOW)
            await session.commit()
        assert (await worker.run_once(database, issuer, NOW)).changes.issued == 4
        observer = make_engine(own_database_url, pool_size=1)
        try:
            # SQLite: data_version changes when another connection commits a change; PostgreSQL: the
            # cursor row's xmin changes when it is rewritten
            probe = (
                "PRAGMA data_version"
                if own_database_url.startswith("sqlite")
                else "SELECT xmin::text FROM credential_lifecycle"
            )
            async with observer.connect() as seen:
                before = (await seen.execute(text(probe))).scalar()
                await seen.commit()
                idle = await worker.run_once(database, issuer, NOW + dt.timedelta(minutes=1))
                assert (idle.changes.issued, idle.lapses.issued, idle.lists_refreshed) == (0, 0, 0)
                assert (await seen.execute(text(probe))).scalar() == before
                await seen.commit()
                await worker.run_once(database, issuer, NOW + dt.timedelta(days=1, minutes=1))
                assert (await seen.execute(text(probe))).scalar() != before  # the next day: written
        finally:
            await observer.dispose()
    finally:
        await database.dispose()


async def test_revoke_many_is_a_registry_action_that_places_no_hold(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing, database: ConnectionDatabase
) -> None:
    """The operator's revocation of chosen credentials (a lost phone, a batch issued in error) revokes
    those tokens only: the type is not held, so the changeover issues it again from the same records."""
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    person = world.doctor.id
    await service.lifecycle_step(session, issuer, now=NOW)
    [core] = await held(session, app, person, "core_skills")
    assert await service.revoke_many(session, issuer, [core.id], "issued in error", now=NOW) == 1
    await session.commit()
    session.expire_all()
    assert (await session.get(Credential, core.id)).state == "revoked"  # type: ignore[union-attr]
    assert await session.get(CredentialHold, (person, "core_skills")) is None
    result = await service.reissue_all(database.session, issuer, now=NOW + dt.timedelta(minutes=1))
    assert result.held == 0
    [again] = await held(session, app, person, "core_skills")
    assert again.id != core.id
    assert again.state == "valid"
