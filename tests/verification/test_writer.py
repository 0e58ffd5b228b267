"""service/verification/writer.py: group commit across worker processes, on committed databases.

Each test has a database of its own (an SQLite file, or a fresh PostgreSQL database), and two
``BatchWriter``s on two engines play the two worker processes of ``passport serve --workers 2``. On an
SQLite file each writer keeps its own connection, used on the event loop, behind the batch lock file
(decision 0039); on PostgreSQL the batch is SQLAlchemy Core in a session. The other verification
tests run the in-session path on the tests' rolled-back connection.
"""

import asyncio
import datetime as dt
import fcntl
import os
import secrets
import sqlite3
import struct
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite.core
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

from service import audit, auth
from service.db import Database, make_engine, upgrade
from service.passport import service as passport
from service.passport.schemas import PolicyCreate
from service.verification import repository, writer
from service.verification import service as verification
from service.verification.errors import RequestAnswered
from service.verification.models import PresentationRequest, Verification
from service.workforce.models import Organisation
from tests.conftest import ConnectionDatabase

NOW = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


class Scene:
    """An organisation, a policy, and two writers on two engines (two worker processes)."""

    def __init__(self, url: str) -> None:
        self.databases = [Database(make_engine(url, pool_size=2)) for _ in range(2)]
        self.writers = [writer.BatchWriter(database, lambda: NOW) for database in self.databases]
        self.policy_id = uuid.uuid4()

    async def seed(self) -> None:
        async with self.databases[0].session() as session:
            session.add(
                Organisation(
                    code="NT301",
                    name="Theatre site",
                    kind="independent_site",
                    parent_code=None,
                    icb_code=None,
                    postcode=None,
                    latitude=None,
                    longitude=None,
                    created_at=NOW,
                )
            )
            await session.flush()
            admin = auth.Principal(subject="admin", kind="client", role=auth.Role.ADMIN, organisation=None)
            policy = {
                "organisation_code": "NT301",
                "name": "fire",
                "title": "Fire safety in date",
                "role": "anyone",
                "rules": [{"type": "core_skills", "subjects": [{"subject": "fire_safety"}]}],
            }
            made = await passport.create_policy(session, admin, msgspec.convert(policy, PolicyCreate), NOW)
            self.policy_id = made.id
            await session.commit()

    async def add_request(self) -> uuid.UUID:
        request = PresentationRequest(
            id=uuid.uuid4(),
            organisation_code="NT301",
            verifier="hr",
            audience="hr",
            nonce=secrets.token_urlsafe(16),
            policy_id=self.policy_id,
            purpose="checks",
            subject_hint=None,
            evaluate_on=None,
            created_at=NOW,
            expires_at=NOW + dt.timedelta(minutes=10),
            state="pending",
            answered_at=None,
        )
        async with self.databases[0].session() as session:
            session.add(request)
            await session.commit()
        return request.id

    def item(
        self,
        nonce: str,
        request_id: uuid.UUID | None = None,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> writer.Item:
        verification_id = new_id()

        def finish(first_use: bool) -> tuple[dict[str, Any], audit.Entry, Any]:
            row = {
                "id": verification_id,
                "request_id": request_id,
                "organisation_code": "NT301",
                "verifier": "hr",
                "submitted_by": "verifier",
                "policy_id": self.policy_id,
                "purpose": "checks",
                "evaluated_on": NOW.date(),
                "verdict": "valid" if first_use else "invalid",
                "holder_id": None,
                "holder_jkt": "jkt",
                "disclosed": [{"vct": "core_skills", "claims": ["subject"]}],
                "result_key_id": "k1",
                "result_sealed": b"\x00sealed\xff",
                "created_at": NOW,
            }
            entry = audit.Entry(
                at=NOW,
                actor="hr",
                organisation="NT301",
                action="POST verify_presentations",
                subject=f"verification:{verification_id}",
                request_id=None,
                outcome="valid" if first_use else "invalid",
            )
            return row, entry, (verification_id, nonce, first_use)

        return writer.Item(
            finish=finish, nonce=nonce, nonce_expires=NOW + dt.timedelta(minutes=5), request_id=request_id
        ).prepare()

    def close_writers(self) -> None:
        for each in self.writers:
            each.close()

    async def close(self) -> None:
        self.close_writers()
        for database in self.databases:
            await database.dispose()


@pytest.fixture
async def scene(own_database_url: str) -> AsyncIterator[Scene]:
    found = Scene(own_database_url)
    await found.seed()
    yield found
    await found.close()


async def test_two_workers_accept_each_nonce_once_and_keep_one_audit_chain(scene: Scene) -> None:
    shared = [f"shared-{i}" for i in range(10)]
    work = [
        scene.writers[w].submit(scene.item(nonce))
        for w in (0, 1)
        for nonce in [*shared, *(f"own-{w}-{i}" for i in range(30))]
    ]
    answers = await asyncio.gather(*work)
    firsts = [nonce for _, nonce, first_use in answers if first_use]
    assert len(answers) == 80
    assert sorted(firsts) == sorted({nonce for _, nonce, _ in answers}), "every nonce accepted exactly once"
    async with scene.databases[1].session() as session:
        stored = await session.scalar(select(func.count()).select_from(Verification))
        grouped = await session.execute(
            select(Verification.verdict, func.count()).group_by(Verification.verdict)
        )
        verdicts = {verdict: number for verdict, number in grouped.all()}
        checked, broken = await audit.verify_chain(session)
    assert stored == 80
    assert verdicts == {"valid": 70, "invalid": 10}, "the second use of each shared nonce is a replay"
    assert (checked, broken) == (80, None)


async def test_a_request_is_answered_once_across_workers(scene: Scene) -> None:
    request_id = await scene.add_request()
    answers: tuple[Any, ...] = await asyncio.gather(
        scene.writers[0].submit(scene.item("n-0", request_id)),
        scene.writers[1].submit(scene.item("n-1", request_id)),
        return_exceptions=True,
    )
    outcomes = sorted(type(answer).__name__ for answer in answers)
    assert outcomes == ["RequestAnswered", "tuple"]
    async with scene.databases[0].session() as session:
        request = await session.get(PresentationRequest, request_id)
        rows = (
            await session.scalars(select(Verification).where(Verification.request_id == request_id))
        ).all()
    assert request is not None
    assert (request.state, request.answered_at) == ("answered", NOW)
    assert len(rows) == 1
    with pytest.raises(RequestAnswered):
        await scene.writers[1].submit(scene.item("n-2", request_id))


async def test_what_the_own_connection_stores_reads_back_as_written(
    scene: Scene, own_database_url: str
) -> None:
    item = scene.item("n-read")
    verification_id, _, first_use = await scene.writers[0].submit(item)
    assert first_use
    row = item.finish(True)[0]
    async with scene.databases[1].session() as session:
        stored = await session.get(Verification, verification_id)
        nonce = await session.scalar(
            select(repository.USED_NONCES).where(repository.USED_NONCES.c.nonce == "n-read")
        )
    assert stored is not None
    assert nonce == "n-read"
    assert {name: getattr(stored, name) for name in row} == row


def test_the_sqlite_inserts_name_every_column_of_their_tables() -> None:
    statements = writer.SQLiteStatements(SQLiteDialect_aiosqlite())
    assert set(statements.verification.columns) == set(repository.VERIFICATIONS.c.keys())
    assert set(statements.audit.columns) == set(audit.AUDIT_TABLE.c.keys())
    assert set(statements.nonce.columns) == set(repository.USED_NONCES.c.keys())


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        (
            repository.VERIFICATIONS,
            "created_at",
            [
                NOW,
                NOW.replace(microsecond=0),
                NOW.replace(microsecond=999_999),
                NOW.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
                dt.datetime(1, 1, 1, tzinfo=dt.UTC),
                dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
            ],
        ),
        (audit.AUDIT_TABLE, "at", [NOW, NOW.astimezone(dt.timezone(dt.timedelta(hours=14)))]),
        (repository.USED_NONCES, "expires_at", [NOW + dt.timedelta(seconds=420)]),
        (
            repository.VERIFICATIONS,
            "evaluated_on",
            [dt.date(2026, 12, 1), dt.date(1, 1, 1), dt.date(999, 2, 3), NOW],
        ),
        (
            repository.VERIFICATIONS,
            "disclosed",
            [
                [{"credential_type": "core_skills", "claims": ["core_skills/*/level", "holder_id"]}],
                [{"credential_type": "core_skills", "claims": ["core_skills/*/level", "holder_id"]}],
                [{"credential_type": "occupational_health", "claims": ["é", "\u2028"]}],
                [],
                [{"n": 1}],
                [{"n": 1.0}],
                [{"n": True}],
                [{"n": None}],
                [{"n": float("nan")}],
            ],
        ),
    ],
    ids=["utc-time", "audit-time", "nonce-expiry", "date", "json"],
)
def test_the_own_connection_binds_each_value_as_sqlalchemy_does(
    table: Any, column: str, values: list[Any]
) -> None:
    dialect = SQLiteDialect_aiosqlite()
    sqlalchemy_binds = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    other = next(name for name in table.c.keys() if name != column)  # noqa: SIM118 - a Table's columns
    sql = f"INSERT INTO {table.name} ({column}, {other}) VALUES (?, ?)"  # noqa: S608 - names of our tables
    insert = writer._Insert(sql, table, dialect)
    rows = [{column: value, other: None} for value in values]
    assert [found[0] for found in insert.params(rows)] == [sqlalchemy_binds(value) for value in values]


def test_the_own_connection_refuses_what_json_cannot_hold_after_writing_its_text() -> None:
    statements = writer.SQLiteStatements(SQLiteDialect_aiosqlite())
    day, key = dt.date(2026, 12, 1), uuid.uuid4()
    twins = [
        ([{"day": day.isoformat()}], [{"day": day}]),
        ([{"id": str(key)}], [{"id": key}]),
        ([["a"]], [{"a"}]),
    ]
    for text, refused in twins:
        columns = {name: None for name in repository.VERIFICATIONS.c.keys()}  # noqa: SIM118
        statements.verification.params([{**columns, "disclosed": text}])
        with pytest.raises(TypeError, match="not JSON serializable"):
            statements.verification.params([{**columns, "disclosed": refused}])


def test_the_own_connection_refuses_a_naive_time_as_sqlalchemy_does() -> None:
    statements = writer.SQLiteStatements(SQLiteDialect_aiosqlite())
    with pytest.raises(ValueError, match="naive datetime"):
        statements.nonce.params([{"nonce": "n", "used_at": NOW.replace(tzinfo=None), "expires_at": NOW}])


def test_the_writer_keeps_its_own_connection_only_on_an_sqlite_file_it_may_commit_to(
    tmp_path: Path, database: ConnectionDatabase
) -> None:
    file_url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert writer.own_connection_path(Database(make_engine(file_url))) == str(tmp_path / "x.db")
    assert writer.own_connection_path(database) is None, "a test's rolled-back connection: in its session"


async def test_a_batch_waits_for_another_writer_without_holding_up_the_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    await asyncio.to_thread(upgrade, url)
    scene = Scene(url)
    await scene.seed()
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another kind of writer holds SQLite's write lock
        waiting = asyncio.create_task(scene.writers[0].submit(scene.item("n-busy")))
        await asyncio.sleep(0.1)
        # a batch that waited on the loop's thread (a busy timeout) would have blocked this sleep and
        # then failed; it waits asynchronously instead, and commits once the lock is free
        assert not waiting.done(), "the batch cannot commit while another writer holds the lock"
        other.execute("COMMIT")
        _, _, first_use = await asyncio.wait_for(waiting, timeout=10)
        assert first_use
    finally:
        other.close()
        await scene.close()


async def test_on_an_sqlite_file_a_batch_makes_no_hop_to_a_driver_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}"
    await asyncio.to_thread(upgrade, url)
    scene = Scene(url)
    await scene.seed()
    calls: list[str] = []
    original: Any = aiosqlite.core.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    try:
        answers = await asyncio.gather(*(scene.writers[0].submit(scene.item(f"n-{i}")) for i in range(5)))
        assert all(first_use for _, _, first_use in answers)
        assert calls == [], "the batch runs on the writer's own connection, on the event loop"
    finally:
        await scene.close()


async def test_the_wal_starts_again_while_batches_keep_coming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load batches append while a checkpoint runs beside them; the WAL must still be reused from its
    start (before the checkpoint was finished under the batch lock it never was, and grew by every batch
    without end: 1.5 GB after 30,000 verifications). Here every checkpoint made while the batch lock is
    free has a write beside it that commits after it, as a batch would: no timing is left to chance."""
    monkeypatch.setattr(writer, "CHECKPOINT_FRAMES", 1)  # a checkpoint after every commit it can
    path = tmp_path / "wal.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    real = writer._checkpoint

    def checkpoint_with_a_write_beside_it(at: str) -> None:
        probe = os.open(at + writer.LOCK_SUFFIX, os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the phase beside the batches
        except BlockingIOError:
            real(at)  # the phase under the batch lock: no batch writes meanwhile
            return
        finally:
            os.close(probe)  # (closing it gives the lock back if it was taken)
        other = sqlite3.connect(at, timeout=5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # a batch that began before the checkpoint ends ...
            other.execute("PRAGMA user_version = 7")
            real(at)
            other.execute("COMMIT")  # ... and commits after it: one frame the checkpoint did not copy
        finally:
            other.close()

    monkeypatch.setattr(writer, "_checkpoint", checkpoint_with_a_write_beside_it)
    scene = Scene(url)
    await scene.seed()
    wal = Path(f"{path}-wal")
    salts: set[bytes] = set()  # the WAL header's salts change each time the WAL starts again
    try:
        for batch in range(40):
            await asyncio.gather(*(scene.writers[0].submit(scene.item(f"n-{batch}-{i}")) for i in range(3)))
            await asyncio.sleep(0.02)  # the checkpoint's thread
            with wal.open("rb") as header:
                salts.add(header.read(24)[16:24])
        async with scene.databases[0].session() as session:
            stored = await session.scalar(select(func.count()).select_from(Verification))
    finally:
        await scene.close()
    assert stored == 40 * 3, "nothing accepted is lost across the checkpoints"
    assert len(salts) > 1, "the WAL never started again from its beginning"


def _frames_to_copy(path: str) -> int:
    """Frames of the WAL not yet copied back: ``mxFrame`` less ``nBackfill``, from the WAL index (the
    ``-shm`` file: the header at 0, ``mxFrame`` at 16; the checkpoint information after two copies of
    the 48-byte header, ``nBackfill`` first)."""
    with Path(f"{path}-shm").open("rb") as shm:
        head = shm.read(100)
    return int(struct.unpack_from("=I", head, 16)[0]) - int(struct.unpack_from("=I", head, 96)[0])


async def test_the_pass_under_the_batch_lock_copies_only_what_the_last_short_pass_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch of every worker waits for the checkpoint's pass under the batch lock, and it takes
    about 25 us a frame it copies (decision 0043). Here the first pass beside the batches of each
    checkpoint has a write beside it of 300 pages that commits after it, as batches do under load, and
    every later pass one of 20: the passes go on until one copies back at most
    ``CHECKPOINT_BUDGET`` frames, so the pass under the lock finds the last 20 (and the batches since),
    not the 300 (a single pass beside the batches left it those)."""
    monkeypatch.setattr(writer, "CHECKPOINT_FRAMES", 1)
    path = tmp_path / "passes.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE beside (page BLOB)")
    setup.close()
    real, real_first_phase = writer._checkpoint, writer._first_phase
    found_under_the_lock: list[int] = []
    first_of_its_checkpoint = [True]
    beside = [False]

    async def first_phase(at: str) -> None:  # its passes run beside the batches; any other, under the lock
        beside[0] = True
        try:
            await real_first_phase(at)
        finally:
            beside[0] = False

    def checkpoint_with_writes_beside_it(at: str) -> int | None:
        if not beside[0]:
            found_under_the_lock.append(_frames_to_copy(at))
            first_of_its_checkpoint[0] = True
            return real(at)
        pages = 300 if first_of_its_checkpoint[0] else 20
        first_of_its_checkpoint[0] = False
        other = sqlite3.connect(at, timeout=5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.executemany("INSERT INTO beside VALUES (?)", [(os.urandom(4000),) for _ in range(pages)])
            frames = real(at)
            other.execute("COMMIT")  # after the pass: frames it did not copy
        finally:
            other.close()
        return frames

    monkeypatch.setattr(writer, "_checkpoint", checkpoint_with_writes_beside_it)
    monkeypatch.setattr(writer, "_first_phase", first_phase)
    scene = Scene(url)
    await scene.seed()
    try:
        for batch in range(40):
            await asyncio.gather(*(scene.writers[0].submit(scene.item(f"p-{batch}-{i}")) for i in range(3)))
            await asyncio.sleep(0.05)  # the passes' thread
    finally:
        await scene.close()
    assert len(found_under_the_lock) >= 3, "checkpoints ran to their end"
    assert max(found_under_the_lock) < 100, found_under_the_lock


def _wal_pages_of(path: Path, index: str) -> int:
    """Frames in the database's WAL that hold a page of ``index`` (the WAL file read as SQLite writes it:
    a 32-byte header, then per frame a 24-byte header starting with the page number, and the page)."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        page_size = int(raw.execute("PRAGMA page_size").fetchone()[0])
        pages = {row[0] for row in raw.execute("SELECT pageno FROM dbstat WHERE name = ?", (index,))}
    finally:
        raw.close()
    wal = Path(f"{path}-wal").read_bytes()
    frames = range(32, len(wal) - 24, 24 + page_size)
    return sum(1 for at in frames if int.from_bytes(wal[at : at + 4], "big") in pages)


async def _primary_key_pages(path: Path, new_id: Callable[[], uuid.UUID]) -> int:
    """WAL frames of the verifications' primary key index that 20 batches of 10 verifications write into a
    table already holding 3,000, their ids made by ``new_id``."""
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    scene = Scene(url)
    await scene.seed()
    try:
        for batch in range(30):
            await asyncio.gather(
                *(scene.writers[0].submit(scene.item(f"f-{batch}-{i}", new_id=new_id)) for i in range(100))
            )
        scene.close_writers()
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nobody else writes: the WAL starts again, empty
        raw.close()
        for batch in range(20):
            await asyncio.gather(
                *(scene.writers[0].submit(scene.item(f"m-{batch}-{i}", new_id=new_id)) for i in range(10))
            )
        scene.close_writers()
        return _wal_pages_of(path, "sqlite_autoindex_verifications_1")
    finally:
        await scene.close()


async def test_a_batch_rewrites_the_last_pages_of_the_verifications_primary_key_not_one_per_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page a batch changes is written to the WAL and copied back by the checkpoint, which holds up
    every batch for its last part (decision 0039): a verification's id made in time order goes to the end
    of the primary key's index, where a random one changed a page of its own (decision 0043)."""
    monkeypatch.setattr(writer, "CHECKPOINT_FRAMES", 10**9)  # the WAL keeps every frame of the test
    ticks = iter(range(10**6))

    def in_time_order() -> uuid.UUID:  # one millisecond apart, as verifications under load are
        return verification.new_verification_id(NOW + dt.timedelta(milliseconds=next(ticks)))

    ordered = await _primary_key_pages(tmp_path / "ordered.db", in_time_order)
    random = await _primary_key_pages(tmp_path / "random.db", uuid.uuid4)
    assert ordered <= 20 * 3, "the last page and, when it splits, its neighbours: 49 here"
    assert random >= 20 * 6, "a random id lands on a page of its own (about 9 of 10 in a batch): 190 to 210"


def test_verification_ids_sort_in_time_order_and_are_uuid7() -> None:
    made = [verification.new_verification_id(NOW + dt.timedelta(milliseconds=ms)) for ms in range(0, 50, 5)]
    assert all(made_id.version == 7 and made_id.variant == uuid.RFC_4122 for made_id in made)
    assert sorted(made) == made, "PostgreSQL's uuid order"
    assert sorted(made_id.hex for made_id in made) == [made_id.hex for made_id in made], "SQLite's (text)"
    assert made[0].int >> 80 == int(NOW.timestamp() * 1000), "the first 48 bits: milliseconds since 1970"
    same = {verification.new_verification_id(NOW) for _ in range(1000)}
    assert len(same) == 1000, "74 random bits: ids of one millisecond differ"


def _under_the_batch_lock(path: str) -> bool:
    """Whether some writer holds the batch lock (a probe on a descriptor of its own cannot take it)."""
    probe = os.open(path + writer.LOCK_SUFFIX, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(probe)  # (closing it gives the lock back if it was taken)
    return False


async def test_a_batch_waiting_for_the_lock_is_woken_on_its_loop_when_it_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waited for on a thread, the lock was taken by the thread, then held idle while the thread waited
    for the GIL the loop held (decision 0048). Now the waiter's loop is woken by the release's byte in the
    FIFO and takes the lock itself; no thread, and no try again after ``WAKE_SECONDS`` needed here."""
    monkeypatch.setattr(writer, "WAKE_SECONDS", 30.0)

    async def no_thread(self: Any) -> None:
        raise AssertionError("waited on a thread")

    monkeypatch.setattr(writer._BatchLock, "_acquire_on_a_thread", no_thread)
    path = str(tmp_path / "db")
    holder = writer._BatchLock(path + writer.LOCK_SUFFIX, path + writer.WAKE_SUFFIX)
    waiter = writer._BatchLock(path + writer.LOCK_SUFFIX, path + writer.WAKE_SUFFIX)
    try:
        assert holder.try_acquire()
        for _ in range(3):  # releases nobody waited for leave bytes behind: they are not a wake-up
            holder.release()
            assert holder.try_acquire()
        waiting = asyncio.create_task(waiter.acquire())
        await asyncio.sleep(0.1)
        assert not waiting.done(), "the lock is held"
        holder.release()
        await asyncio.wait_for(waiting, timeout=2)
        assert not holder.try_acquire(), "the waiter holds it"
        waiter.release()
        assert holder.try_acquire()
        holder.release()
    finally:
        holder.close()
        waiter.close()


async def test_one_worker_checkpoints_the_wal_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "CHECKPOINT_FRAMES", 1)  # every commit finds the WAL long enough
    path = tmp_path / "turns.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    passes: list[str] = []
    real = writer._checkpoint

    def counted(at: str) -> int | None:
        passes.append(at)
        return real(at)

    monkeypatch.setattr(writer, "_checkpoint", counted)
    scene = Scene(url)
    await scene.seed()
    other = os.open(f"{path}{writer.CHECKPOINT_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)  # another worker's checkpoint is under way
        for batch in range(5):
            for each in (0, 1):
                await scene.writers[each].submit(scene.item(f"t-{batch}-{each}"))
            await asyncio.sleep(0.02)
        assert passes == [], "no second checkpoint beside another worker's"
        fcntl.flock(other, fcntl.LOCK_UN)
        for batch in range(5):
            await scene.writers[1].submit(scene.item(f"u-{batch}"))
            await asyncio.sleep(0.05)
        assert passes, "once it is over, the next commit starts one"
    finally:
        os.close(other)
        await scene.close()


async def test_the_pass_under_the_batch_lock_holds_back_the_batches_of_its_process_and_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch lock is a ``flock`` per process: the checkpoint's pass under it must also wait for, and
    hold back, its own process's batches (the writer's turn), or one could commit meanwhile and the WAL
    would not start again. It runs without waiting for another batch to come."""
    monkeypatch.setattr(writer, "CHECKPOINT_FRAMES", 1)
    path = tmp_path / "held.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    real = writer._checkpoint
    entered, leave = threading.Event(), threading.Event()

    def held(at: str) -> int | None:
        if _under_the_batch_lock(at):
            entered.set()
            leave.wait(10)
        return real(at)

    monkeypatch.setattr(writer, "_checkpoint", held)
    scene = Scene(url)
    await scene.seed()
    try:
        await scene.writers[0].submit(scene.item("h-0"))  # its commit starts a checkpoint
        for _ in range(200):  # the pass under the lock begins with no other batch coming
            if entered.is_set():
                break
            await asyncio.sleep(0.02)
        assert entered.is_set()
        same = asyncio.create_task(scene.writers[0].submit(scene.item("h-1")))
        other = asyncio.create_task(scene.writers[1].submit(scene.item("h-2")))
        await asyncio.sleep(0.2)
        assert not same.done(), "this process's batch waits for the pass under the lock"
        assert not other.done(), "so does another process's"
        leave.set()
        answers = await asyncio.wait_for(asyncio.gather(same, other), timeout=10)
        assert all(first_use for _, _, first_use in answers)
    finally:
        leave.set()
        await scene.close()
