"""``passport additionality ...`` in-process (service/cli.py) on a SQLite file."""

import asyncio
import datetime as dt
import os
import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest

from service.additionality import service
from service.additionality.schemas import OfferCreate, RosterEntryCreate
from service.auth import Principal, Role
from service.cli import main
from service.db import Database, make_engine, upgrade
from tests.additionality.factories import D, create_england, create_person, employ

ADMIN = Principal(subject="test", kind="client", role=Role.ADMIN, organisation=None)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PASSPORT_") and not name.startswith("PASSPORT_TEST_"):
            monkeypatch.delenv(name)
    path = tmp_path / "passport.db"
    monkeypatch.setenv("PASSPORT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("PASSPORT_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PASSPORT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", "cli-test-passphrase")
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _offer(path: Path) -> uuid.UUID:
    async def prepare() -> uuid.UUID:
        db = Database(make_engine(f"sqlite+aiosqlite:///{path}"))
        try:
            async with db.session() as session:
                await create_england(session)
                nurse = await create_person(session)
                await employ(session, nurse, "RRK")
                body = OfferCreate(
                    reference="CLI-1",
                    site_code="NT301",
                    specialty="ent",
                    sessions_per_week=10,
                    start_date=D(2026, 4, 1),
                    end_date=D(2027, 3, 31),
                    roster=[RosterEntryCreate(person_id=nurse.id, sessions=2)],
                )
                created = await service.create_offer(session, ADMIN, body, dt.datetime.now(dt.UTC))
                await session.commit()
                return created.id
        finally:
            await db.dispose()

    return asyncio.run(prepare())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_one_offer_prints_each_rule_and_stores_an_audited_check(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offer_id = _offer(database)
    code, out, _ = run(capsys, "additionality", "check", "--offer", str(offer_id))
    assert code == 0
    assert out.splitlines()[0] == f"offer {offer_id} at NT301 for QMM: FAIL"
    assert "FAIL dual_running:" in out
    assert "- overlap:" in out
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM additionality_checks").fetchone() == (1,)
        audited = conn.execute("SELECT actor, action FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
    assert audited == ("passport cli", "cli additionality_check")


def test_check_a_year_reproduce_summarise_and_export(
    database: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    offer_id = _offer(database)
    code, out, _ = run(capsys, "additionality", "check", "--year", "2026")
    assert code == 0
    assert out.startswith(
        "financial year 2026: 1 offers checked (0 pass, 0 warn, 1 fail), parameter version 1"
    )
    check_id = int(out.split("check ")[-1])
    code, out, _ = run(capsys, "additionality", "reproduce", "--check", str(check_id))
    found = msgspec.json.decode(out)
    assert (code, found["reproduced"], found["inputs_changed"]) == (0, True, False)
    code, out, _ = run(capsys, "additionality", "summary", "--year", "2026")
    assert msgspec.json.decode(out)["totals"]["verdicts"] == {"pass": 0, "warn": 0, "fail": 1}
    for kind, name in (("html", "report.html"), ("results", "results.csv"), ("evidence", "evidence.csv")):
        target = tmp_path / name
        code, out, _ = run(
            capsys, "additionality", "export", "--year", "2026", "--format", kind, "--output", str(target)
        )
        assert code == 0
        assert out.startswith(f"wrote {target}")
    assert "CLI-1" in (tmp_path / "report.html").read_text()
    assert str(offer_id) in (tmp_path / "results.csv").read_text()
    assert "overlap" in (tmp_path / "evidence.csv").read_text()


def test_bad_arguments_are_one_line(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "additionality", "check", "--offer", "not-an-id")
    assert (code, err) == (1, "passport: --offer 'not-an-id' is not an offer id (a UUID)\n")
    missing = uuid.uuid4()
    code, _, err = run(capsys, "additionality", "check", "--offer", str(missing))
    assert (code, err) == (1, f"passport: No offer {missing}.\n")
    code, _, err = run(capsys, "additionality", "reproduce", "--check", "42")
    assert (code, err) == (1, "passport: No check 42.\n")
    with pytest.raises(SystemExit) as exited:
        main(["additionality", "check", "--year", "1999"])
    assert exited.value.code == 2
    assert "1999 is not a financial year from 2000 to 2098" in capsys.readouterr().err
