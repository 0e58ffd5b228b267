"""``passport users``: provision, list and disable the people who sign in to web pages."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from service.audit import AuditEvent
from service.auth import User
from service.cli import main
from service.db import Database, make_engine, upgrade
from tests.factories import create_organisation


async def _passport(*argv: str) -> int:
    # The command runs its own event loop, so it runs in a thread of its own.
    return await asyncio.to_thread(main, list(argv))


async def test_users_create_list_disable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await asyncio.to_thread(upgrade, url)
    database = Database(make_engine(url))
    try:
        async with database.session() as session:
            await create_organisation(session, "RCLI")
            await session.commit()
        monkeypatch.setenv("PASSPORT_DATABASE_URL", url)

        args = ["--name", "Sam Verifier", "--role", "verifier", "--organisation", "RCLI"]
        assert await _passport("users", "create", "--email", "Sam@Trust.example", *args) == 0
        assert "created sam@trust.example (verifier)" in capsys.readouterr().out

        assert await _passport("users", "create", "--email", "sam@trust.example", *args) == 1
        assert "already exists" in capsys.readouterr().err

        holder = ["--email", "dr@trust.example", "--name", "Dr", "--role", "holder", "--organisation", "RCLI"]
        assert await _passport("users", "create", *holder) == 1
        assert "person record" in capsys.readouterr().err
        assert await _passport("users", "create", *holder, "--person-id", "not-a-uuid") == 1
        assert "is not a person id" in capsys.readouterr().err

        assert await _passport("users", "list") == 0
        listing = capsys.readouterr().out.splitlines()
        assert listing[0].split() == ["email", "role", "organisation", "status", "bound", "name"]
        row = ["sam@trust.example", "verifier", "RCLI", "active", "no", "Sam Verifier"]
        assert listing[1].split(maxsplit=5) == row

        assert await _passport("users", "disable", "SAM@trust.example") == 0
        assert "disabled sam@trust.example" in capsys.readouterr().out
        assert await _passport("users", "disable", "nobody@trust.example") == 1
        assert "no user nobody@trust.example" in capsys.readouterr().err

        async with database.session() as session:
            user = await session.scalar(select(User))
            assert user is not None
            assert user.disabled_at is not None
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        # Only the two changes that happened are recorded; the refused commands left nothing.
        assert [(e.action, e.subject, e.organisation, e.outcome) for e in events] == [
            ("cli users create", f"user:{user.id}", "RCLI", "success"),
            ("cli users disable", f"user:{user.id}", "RCLI", "success"),
        ]
        assert all(e.actor.startswith("cli:") for e in events)
    finally:
        await database.dispose()
