"""Reading the placement files: every problem named by file, row and column; all or nothing."""

from pathlib import Path

import pytest
from hypothesis import given, settings

from service.placements import csv_import
from service.placements.csv_import import FileProblem, InputRejected, parse_files, read_file
from service.placements.model import Inputs
from tests.placements.builders import files_of, inputs

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "placements"


def example_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in EXAMPLE.glob("*.csv")}


def _problems(files: dict[str, bytes]) -> list[FileProblem]:
    with pytest.raises(InputRejected) as caught:
        parse_files(files)
    return caught.value.problems


def test_the_worked_example_is_read() -> None:
    inputs_ = parse_files(example_files())
    assert inputs_.trainee_id[:2] == ["7100001", "7100002"]
    assert inputs_.weight_value == [1500]  # thousandths
    assert inputs_.cap_slots == [2, 2, 3]


@settings(max_examples=100, deadline=None)
@given(inputs())
def test_files_round_trip(data: Inputs) -> None:
    parsed = parse_files(files_of(data))
    assert parsed.trainee_id == data.trainee_id
    assert parsed.cap_slots == data.cap_slots
    assert parsed.vol_count == data.vol_count
    assert parsed.pref_rank == data.pref_rank
    assert parsed.weight_value == data.weight_value
    assert parsed.excluded_pair_site == data.excluded_pair_site


def _replace(files: dict[str, bytes], name: str, old: str, new: str) -> dict[str, bytes]:
    text = files[name].decode()
    assert old in text
    return {**files, name: text.replace(old, new, 1).encode()}


def test_unknown_site() -> None:
    files = _replace(example_files(), "capacity.csv", "NT402,trauma", "NT999,trauma")
    assert _problems(files) == [FileProblem("capacity.csv", 3, "site_code", "no site NT999 in sites.csv")]


def test_negative_count() -> None:
    files = _replace(example_files(), "volumes.csv", ",480", ",-480")
    assert _problems(files) == [
        FileProblem("volumes.csv", 3, "nhs_funded_count", "must be a whole number from 0 to 10,000,000")
    ]


def test_grade_out_of_range() -> None:
    files = _replace(example_files(), "trainees.csv", "7100003,CT2", "7100003,ST9")
    files = _replace(files, "capacity.csv", "2,1,2,CT1,ST8", "2,1,2,ST8,CT1")
    reasons = {(p.file, p.row, p.column): p.reason for p in _problems(files)}
    assert reasons[("trainees.csv", 4, "grade")].startswith("must be one of FY1, FY2, CT1")
    assert reasons[("capacity.csv", 3, "max_grade")] == "must not be below min_grade (ST8)"


def test_duplicate_trainee() -> None:
    files = example_files()
    files["trainees.csv"] += b"7100002,ST6,trauma_and_orthopaedics,51.3,-0.1,25\n"
    assert _problems(files) == [
        FileProblem("trainees.csv", 8, "trainee_id", "repeats the trainee_id of row 3")
    ]


def test_missing_file() -> None:
    files = example_files()
    del files["capacity.csv"]
    assert _problems(files) == [FileProblem("capacity.csv", None, None, "is required but missing")]


def test_every_problem_of_every_file_is_reported() -> None:
    files = _replace(example_files(), "trainees.csv", "51.5400,-0.1400,30", "91,-0.1400,0")
    files = _replace(files, "logbook.csv", "2026-03-02", "2026-02-30")
    files = _replace(files, "preferences.csv", "7100002,NT301,2", "7100002,NT402,2")
    files = _replace(files, "weights.csv", "1.5", "1.5555")
    found = {(p.file, p.row, p.column) for p in _problems(files)}
    assert found == {
        ("trainees.csv", 2, "latitude"),
        ("trainees.csv", 2, "max_travel_km"),
        ("logbook.csv", 2, "date"),
        ("preferences.csv", 3, "site_code"),
        ("weights.csv", 2, "weight"),
    }


def test_references_to_unknown_trainees() -> None:
    files = example_files()
    files["preferences.csv"] += b"7999999,NT301,1\n"
    files["logbook.csv"] += b"7999999,cataract,2026-01-01,P,RRK\n"
    problems = _problems(files)
    assert FileProblem("preferences.csv", 5, "trainee_id", "no trainee 7999999 in trainees.csv") in problems
    assert FileProblem("logbook.csv", 10, "trainee_id", "no trainee 7999999 in trainees.csv") in problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [FileProblem("needs.csv", 1, None, "the file is empty: a header row is required")]),
        (
            b"trainee_id,procedure_group\n",
            [FileProblem("needs.csv", 1, "remaining", "missing column in the header")],
        ),
        (
            b"trainee_id,procedure_group,remaining,extra\n",
            [
                FileProblem(
                    "needs.csv",
                    1,
                    "extra",
                    "unknown column; the columns are trainee_id, procedure_group, remaining",
                )
            ],
        ),
        (
            b"trainee_id,trainee_id,procedure_group,remaining\n",
            [FileProblem("needs.csv", 1, "trainee_id", "column appears more than once in the header")],
        ),
        (
            b"trainee_id,procedure_group,remaining\n7100001,cataract\n",
            [FileProblem("needs.csv", 2, None, "has 2 cells; the header has 3")],
        ),
        (
            b"trainee_id,procedure_group,remaining\n\xff\n",
            [FileProblem("needs.csv", 2, None, "is not UTF-8 text: save the file as CSV UTF-8")],
        ),
        (
            b'trainee_id,procedure_group,remaining\n"7100001,cataract,3\n',
            [FileProblem("needs.csv", 2, None, "is not valid CSV: unexpected end of data")],
        ),
    ],
)
def test_file_level_problems(data: bytes, expected: list[FileProblem]) -> None:
    _, problems = read_file("needs.csv", data)
    assert problems == expected


def test_bom_blank_lines_any_column_order_quoted_cells_and_line_numbers() -> None:
    data = (
        "\ufeffremaining,trainee_id,procedure_group\n\n"
        '3,7100001,"knee, total"\n'
        ",,\n"
        '4,7100002,"multi\nline"\n'
        "x,7100003,cataract\n"
    ).encode()
    table, problems = read_file("needs.csv", data)
    assert table.columns["procedure_group"][0] == "knee, total"
    assert table.lines == [3, 5, 7]  # the quoted line break moves the next record to line 7
    assert problems == [
        FileProblem(
            "needs.csv", 5, "procedure_group", "must be 1 to 60 characters without control characters"
        ),
        FileProblem("needs.csv", 7, "remaining", "must be a whole number from 0 to 100,000"),
    ]


def test_codes_are_normalised_and_cells_trimmed() -> None:
    table, problems = read_file("excluded_sites.csv", b"site_code,reason\n nt301 , failed additionality \n")
    assert problems == []
    assert table.columns == {"site_code": ["NT301"], "reason": ["failed additionality"]}


def test_problem_text_names_file_row_and_column() -> None:
    assert str(FileProblem("capacity.csv", 3, "slots", "must be a whole number")) == (
        "capacity.csv row 3 column slots: must be a whole number"
    )
    assert str(FileProblem("capacity.csv", None, None, "is required but missing")) == (
        "capacity.csv: is required but missing"
    )


def test_every_documented_file_has_a_format_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "placements.md").read_text(encoding="utf-8")
    for name, columns in csv_import.FILES.items():
        assert f"### {name}" in docs
        header = ",".join(c.name for c in columns)
        assert header in docs, f"the example header of {name} is missing from docs/placements.md"


def test_a_large_logbook_read_in_a_forked_process_gives_the_same_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = example_files()
    files["logbook.csv"] += b"7100001,total_knee_replacement,2026-03-02,P,RRK\n" * 2000
    monkeypatch.setattr(csv_import, "BACKGROUND_MIN_BYTES", 1)
    assert parse_files(files, workers=2) == parse_files(files)
    files["logbook.csv"] += b"7100001,total_knee_replacement,2026-02-31,P,RRK\n"
    with pytest.raises(InputRejected) as caught:
        parse_files(files, workers=2)
    assert caught.value.problems[0].column == "date"


@pytest.mark.parametrize(
    "extra",
    [
        b"",
        b"7100001,knee_arthroscopy,2026-01-02,P,RRK\n,,,,\n7100002,cataract,2026-01-03,A,RRK\n",
        b"7100001,knee_arthroscopy,2026-01-02,X,RRK\n7100001,knee arthroscopy, 2026-01-02 ,P,rrk\n",
        b'7100001,"knee, arthroscopy",2026-01-02,P,RRK\n',
        b"7100001,knee_arthroscopy,2026-01-02,P\n",
        b"7100001,knee_arthroscopy,2026-01-02,P,RRK,extra\n",
        b"\n7100001,knee_arthroscopy,2026-01-02,P,RRK",
    ],
)
def test_large_plain_files_read_fast_give_what_the_csv_module_gives(
    extra: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = example_files()["logbook.csv"] + extra
    slow = read_file("logbook.csv", data)
    monkeypatch.setattr(csv_import, "PLAIN_MIN_CHARS", 0)
    assert read_file("logbook.csv", data) == slow
    assert read_file("logbook.csv", data.replace(b"\n", b"\r\n")) == slow


def test_a_location_a_few_metres_from_the_meridian_is_written_back_as_a_plain_decimal() -> None:
    """Regression: a stored sites.csv with longitude 0.00005 was written back as 5e-05, which the file
    format refuses, so the dataset could not be read again."""
    data = b"site_code,name,icb_code,latitude,longitude\nNT301,Meridian Hospital,QMJ,51.4778,0.00005\n"
    table, problems = csv_import.read_file("sites.csv", data)
    assert problems == []
    written = csv_import.write_file("sites.csv", table)
    assert b"0.00005" in written
    again, problems = csv_import.read_file("sites.csv", written)
    assert problems == []
    assert again.columns["longitude"] == [0.00005]
