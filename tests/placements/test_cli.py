"""``passport placements match`` on a folder of files, in a real child process."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.placements.factories import EXAMPLE


def _passport(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own program, fixed arguments
        [sys.executable, "-m", "service.cli", "placements", "match", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_match_writes_the_result(tmp_path: Path) -> None:
    output = tmp_path / "out" / "result.json"
    done = _passport("--data", str(EXAMPLE), "--mode", "fair", "--seed", "3", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("fair: 5 of 6 trainees placed, total value 769.5, 2 blocking pair(s)")
    result = json.loads(output.read_text())
    assert result["summary"]["seed"] == 3
    assert result["summary"]["mode"] == "fair"


def test_csv_format_and_parameters(tmp_path: Path) -> None:
    output = tmp_path / "result.csv"
    done = _passport(
        "--data",
        str(EXAMPLE),
        "--training-share",
        "0.25",
        "--rotation-months",
        "4",
        "--year",
        "2024-25",
        "--format",
        "csv",
        "--output",
        str(output),
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text().startswith("trainee_id,site_code,specialty,value,expected_cases")


def test_refused_files_are_listed_by_file_row_and_column(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    capacity = data / "capacity.csv"
    capacity.write_text(capacity.read_text().replace("NT402,trauma", "NT999,trauma"))
    (data / "sites.csv").unlink()
    done = _passport("--data", str(data), "--output", str(tmp_path / "r.json"))
    assert done.returncode == 1
    assert "capacity.csv row 3 column site_code: no site NT999 in sites.csv" in done.stderr
    assert "sites.csv: is required but missing" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_bad_parameters_are_one_line(tmp_path: Path) -> None:
    done = _passport("--data", str(EXAMPLE), "--training-share", "1.5", "--output", str(tmp_path / "r.json"))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "passport: training_share must be more than 0 and at most 1, with at most six decimals"
    )
    missing = _passport("--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "r.json"))
    assert missing.returncode == 1
    assert "not a folder" in missing.stderr
    year = _passport("--data", str(EXAMPLE), "--year", "2019-20", "--output", str(tmp_path / "r.json"))
    assert "volumes.csv has no rows for financial year 2019-20" in year.stderr
