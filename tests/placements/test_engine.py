"""Files in, result out: the documented JSON and CSV shapes, the input hash, the worked example."""

import csv
import hashlib
import io
import subprocess
from pathlib import Path

import msgspec
import pytest

from service.placements import engine
from service.placements.model import Parameters
from service.placements.schemas import MatchResult
from tests.placements.factories import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]


def _files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in EXAMPLE.glob("*.csv")}


def test_the_input_hash_is_what_sha256sum_prints() -> None:
    result = engine.run(_files(), "optimal", Parameters())
    listing = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(EXAMPLE.glob("*.csv"))
    )
    assert result.summary.input_sha256 == hashlib.sha256(listing.encode()).hexdigest()
    assert (
        result.summary.inputs["sites.csv"] == hashlib.sha256((EXAMPLE / "sites.csv").read_bytes()).hexdigest()
    )
    sha256sum = subprocess.run(  # noqa: S603 - a fixed tool on our own files
        ["/usr/bin/sha256sum", *sorted(p.name for p in EXAMPLE.glob("*.csv"))],
        cwd=EXAMPLE,
        capture_output=True,
        check=True,
    ).stdout
    assert sha256sum.decode() == listing


@pytest.mark.parametrize(
    ("mode", "value", "placed", "unplaced"),
    [("optimal", 798.5, 5, "7100006"), ("stable", 796.5, 5, "7100006"), ("fair", 769.5, 5, "7100003")],
)
def test_the_worked_example_in_the_docs(mode: str, value: float, placed: int, unplaced: str) -> None:
    result = engine.run(_files(), mode, Parameters())
    assert (result.summary.total_value, result.summary.matched) == (value, placed)
    assert [u.trainee_id for u in result.unmatched] == [unplaced]
    docs = (ROOT / "docs" / "placements.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| {mode} | {value} | {placed} |" in docs
    assert f"| `{mode}` | {value} | {placed} of 6 |" in readme
    assert result.summary.input_sha256 in docs


def test_the_documented_explanation_is_the_one_given() -> None:
    result = engine.run(_files(), "optimal", Parameters())
    first = result.placements[0]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert first.explanation in readme
    assert first.expected_cases == {"total_hip_replacement": 39.0, "total_knee_replacement": 37.5}
    assert (first.value, first.distance_km, first.preference_rank) == (95.25, 18.467, None)


def test_json_shape_is_the_documented_one() -> None:
    document = msgspec.json.decode(engine.to_json(engine.run(_files(), "stable", Parameters())))
    assert set(document) == {"summary", "placements", "unmatched"}
    assert set(document["placements"][0]) == {
        "trainee_id",
        "site_code",
        "specialty",
        "value",
        "expected_cases",
        "distance_km",
        "preference_rank",
        "explanation",
    }
    assert set(document["unmatched"][0]) == {"trainee_id", "reason"}
    assert document["summary"]["blocking_pairs"] == 0
    msgspec.convert(document, MatchResult)


def test_csv_has_the_same_rows() -> None:
    result = engine.run(_files(), "optimal", Parameters())
    rows = list(csv.DictReader(io.StringIO(engine.to_csv(result).decode())))
    assert list(rows[0]) == list(engine.CSV_COLUMNS)
    assert len(rows) == len(result.placements) + len(result.unmatched)
    assert rows[0]["expected_cases"] == "total_hip_replacement=39;total_knee_replacement=37.5"
    assert rows[-1]["site_code"] == ""
    assert rows[-1]["explanation"] == result.unmatched[0].reason


def test_the_seed_is_recorded_and_the_placements_repeat() -> None:
    first = engine.run(_files(), "optimal", Parameters(seed=5))
    second = engine.run(_files(), "optimal", Parameters(seed=5))
    assert first.summary.seed == 5
    assert first.placements == second.placements
