"""``--data DIR``: reading and checking the canonical CSV files, every problem with file, row, column."""

import datetime as dt
from pathlib import Path

import pytest

from service.benchmark.csv_inputs import InputsRejected, read_folder
from tests.benchmark.conftest import FILES, write_folder

TODAY = dt.date(2026, 11, 1)


def problems(folder: Path, year: int = 2025) -> list[tuple[str, int, str | None, str]]:
    with pytest.raises(InputsRejected) as caught:
        read_folder(folder, year, today=TODAY)
    return [tuple(p) for p in caught.value.problems]  # type: ignore[misc]


def test_a_good_folder_gives_the_canonical_tables(folder: Path) -> None:
    inputs = read_folder(folder, 2025, today=TODAY)
    assert sorted(inputs.organisations["kind"].to_list()) == [
        "icb",
        "independent_provider",
        "independent_site",
        "independent_site",
        "region",
    ]  # the NHS trust is out of scope
    assert inputs.placements.height == 7
    # logbook: counted per year, trainee, site, specialty (from volumes) and supervision;
    # RAP is not independent
    assert inputs.logbook.filter(inputs.logbook["site_code"] == "NT302").rows() == [
        (2025, "7000100", "CT2", "NT302", "ophthalmology", "P", 1)  # grade from the placement in the year
    ]
    assert inputs.volumes["financial_year"].to_list() == [2024, 2025, 2025]
    assert inputs.learners["learners"].to_list() == [9, 12]


def test_the_same_folder_gives_the_same_hash(folder: Path, tmp_path: Path) -> None:
    other = write_folder(
        tmp_path / "copy",
        placements="\n".join(reversed(FILES["placements.csv"].splitlines()[1:])).join(
            [FILES["placements.csv"].splitlines()[0] + "\n", "\n"]
        ),
    )
    assert read_folder(folder, 2025, today=TODAY).sha256() == read_folder(other, 2025, today=TODAY).sha256()


def test_only_organisations_are_required(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "d", placements=None, logbook=None, volumes=None, people=None, learners=None
    )
    assert read_folder(folder, 2025, today=TODAY).placements.height == 0
    assert problems(write_folder(tmp_path / "e", organisations=None)) == [
        ("organisations.csv", 0, None, "the file is missing")
    ]


def test_unknown_codes_reversed_and_overlapping_dates(tmp_path: Path) -> None:
    placements = FILES["placements.csv"] + (
        "7000200,NX999,ent,ST3,medical,doctors_in_training,2025-05-01,2025-06-01\n"
        "7000201,NT301,ent,ST3,medical,doctors_in_training,2025-06-01,2025-05-01\n"
        "7000001,NT301,ent,ST4,medical,doctors_in_training,2025-09-01,2025-10-01\n"
        "7000202,NT301,ent,ST3,nursing,doctors_in_training,2025-05-01,2025-06-01\n"
        "7000203,NT301,ent,ST3,medical,bus,2025-02-30,2025-06-01\n"
    )
    found = problems(write_folder(tmp_path / "d", placements=placements))
    assert ("placements.csv", 9, "site_code", "no organisation in organisations.csv has this code") in found
    assert ("placements.csv", 10, "end_date", "must be on or after start_date") in found
    assert (
        "placements.csv",
        11,
        "start_date",
        "overlaps the placement of the same person at the same site in row 2",
    ) in found
    assert (
        "placements.csv",
        12,
        "staff_group",
        "must be medical for a doctor in training (a grade other than 'other')",
    ) in found
    assert (
        "placements.csv",
        13,
        "route",
        "must be one of doctors_in_training, apprenticeship, student_placement, other",
    ) in found
    assert ("placements.csv", 13, "start_date", "must be a date YYYY-MM-DD") in found


def test_negative_counts_and_bad_years_in_volumes(tmp_path: Path) -> None:
    volumes = FILES["volumes.csv"] + "NT301,ent,tonsillectomy,2025-27,10\nNT301,ent,grommets,2025,-4\n"
    found = problems(write_folder(tmp_path / "d", volumes=volumes))
    assert ("volumes.csv", 5, "financial_year", "must be a financial year such as 2025-26 (or 2025)") in found
    assert ("volumes.csv", 6, "nhs_funded_count", "must be a whole number, 0 or more") in found


def test_logbook_problems_name_row_and_column(tmp_path: Path) -> None:
    logbook = FILES["logbook.csv"] + "7000001,cataract,2025-13-01,Q,NT301\n,cataract,2025-05-01,P,NT301\n"
    found = problems(write_folder(tmp_path / "d", logbook=logbook))
    assert ("logbook.csv", 10, "date", "must be a date YYYY-MM-DD") in found
    assert ("logbook.csv", 10, "supervision", "must be one of O, A, S-TS, S-TU, P, T") in found
    assert ("logbook.csv", 11, "trainee_id", "is required") in found


def test_a_wrong_header_refuses_the_file(tmp_path: Path) -> None:
    found = problems(write_folder(tmp_path / "d", people="given_name,family_name,gmc\nA,B,1\n"))
    assert found[0][:3] == ("people.csv", 1, None)
    assert "missing gmc_number, staff_group, grade, specialty" in found[0][3]


def test_organisation_references_are_checked(tmp_path: Path) -> None:
    orgs = (
        FILES["organisations.csv"]
        + "NT399,Orphan Site,independent_site,QMJ,NT3,,,\nQMJ,Duplicate,icb,Y56,,,,\n"
    )
    found = problems(write_folder(tmp_path / "d", organisations=orgs))
    assert (
        "organisations.csv",
        8,
        "parent_code",
        "must be the code of a independent provider in this file",
    ) in found
    assert ("organisations.csv", 8, "icb_code", "must be the code of an ICB in this file") in found
    assert ("organisations.csv", 9, "code", "repeats the code of row 3") in found


def test_learners_rows_are_checked_against_the_organisations(tmp_path: Path) -> None:
    learners = (
        FILES["learners.csv"]
        + "NT3,RAP,2025-26,nursing,student_placement,1,1,1\n"
        + "NT3,NT301,2025-26,nursing,student_placement,5,5,5\n"
    )
    found = problems(write_folder(tmp_path / "d", learners=learners))
    assert ("learners.csv", 4, "site_code", "RAP is not an independent site") in found
    assert ("learners.csv", 5, "route", "repeats the site, year, staff group and route of row 2") in found


def test_not_a_folder(tmp_path: Path) -> None:
    assert problems(tmp_path / "nothing")[0][3] == "is not a folder"
