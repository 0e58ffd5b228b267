"""The harness finds Chromium where it is, says why not otherwise, and the install script is idempotent."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.harness import find_chromium

SCRIPT = Path(__file__).with_name("ensure-chromium.sh")


def test_the_configured_chromium_wins_and_a_missing_one_is_not_found(tmp_path: Path) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium({"PASSPORT_TEST_CHROMIUM": str(fake), "PATH": ""}) == str(fake)
    assert find_chromium({"PASSPORT_TEST_CHROMIUM": str(tmp_path / "missing"), "PATH": ""}) is None
    assert find_chromium({"PATH": str(tmp_path)}) is None
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    assert find_chromium({"PATH": str(tmp_path)}) == str(tmp_path / "chromium")


def test_the_script_reports_the_chromium_it_finds_and_changes_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    bash = shutil.which("bash")
    if bash is None:  # pragma: no cover - make needs bash
        pytest.skip("no bash")
    env = {**os.environ, "PASSPORT_TEST_CHROMIUM": str(fake)}
    for _ in range(2):
        done = subprocess.run([bash, str(SCRIPT)], env=env, capture_output=True, text=True, check=True)  # noqa: S603
        assert done.stdout.strip() == f"browser tests: Chromium at {fake} (PASSPORT_TEST_CHROMIUM)"
