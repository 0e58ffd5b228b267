"""Issue 3, "The August changeover ... with a progress bar in the CLI": ``passport credentials reissue-all``
shows a bar on stderr that reaches every holder (``2/2``, 100 %), with worker processes and without, on the
SQLite file and on PostgreSQL.

The existing test (tests/credentials/test_cli.py) checks only that the bar's label ``re-issuing`` is printed,
which it is even when the bar never moves.
"""

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

from service.cli import main
from tests.credentials.test_cli import _count, seeded_registry

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", ["0", "1"])
def test_the_changeover_progress_bar_reaches_every_holder(
    workers: str,
    own_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = dt.datetime.now(dt.UTC)
    seeded_registry(own_database_url, tmp_path, monkeypatch, now)  # two holders with keys, four types each
    assert main(["credentials", "reissue-all", "--workers", workers]) == 0
    captured = capsys.readouterr()
    assert "re-issued 8 credential(s) of 2 holder(s)" in captured.out
    last = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    assert re.match(r"re-issuing: 100%\|.*\| 2/2 ", last), captured.err
    assert asyncio.run(_count(own_database_url)) == (8, 8)
