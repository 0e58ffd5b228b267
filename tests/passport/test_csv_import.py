"""Reading CSV files of records (service/passport/csv_import.py): columns, cells, the row-by-row report."""

import datetime as dt

import msgspec

from service.errors import field_errors_from_msgspec
from service.passport import csv_import
from service.passport.schemas import CoreSkillCreate, OccupationalHealthCreate

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
ASSURANCE = "assurance_policy,assurance_outcome,verification_method"
CHECKED = "CSTF attainment,verified,source_system"
OH = "OH,verified,clinical_assessment"
SOMEONE = "3f6c1c5e-8d2b-4f7a-9a57-2f1d2b8c9e10"
SKILLS_HEADER = f"gmc_number,subject,level,date_awarded,learning_provider,learning_method,{ASSURANCE}"


def parse(text: str, kind: str = "core_skills") -> csv_import.Parsed:
    return csv_import.parse(text.encode("utf-8"), kind, NOW)


def test_the_documented_columns() -> None:
    assert csv_import.template("core_skills") == (
        "person_id,gmc_number,origin_organisation_code,assurance_policy,assurance_outcome,verification_method,"
        "last_refreshed_at,subject,level,date_awarded,date_to,learning_provider,learning_method"
    )
    assert csv_import.columns("occupational_health").required == (
        "assurance_policy",
        "assurance_outcome",
        "verification_method",
        "item",
        "outcome",
        "assessed_on",
    )


def test_rows_become_records_with_optional_columns_left_out() -> None:
    parsed = parse(
        "\ufeff" + SKILLS_HEADER + "\r\n"
        f"7123456,fire_safety,1,2026-03-01,e-Learning for Healthcare,e_learning,{CHECKED}\r\n"
        "\r\n"
        f'7123457,resuscitation,2,2026-04-01,"Resus Council, London",face_to_face,{CHECKED}\r\n'
    )
    assert parsed.problems == []
    assert [line for line, _ in parsed.rows] == [2, 4]
    first, second = (record for _, record in parsed.rows)
    assert isinstance(first, CoreSkillCreate)
    assert first.date_awarded == dt.date(2026, 3, 1)
    assert isinstance(second, CoreSkillCreate)
    assert second.level == 2
    assert second.learning_provider == "Resus Council, London"


def test_every_problem_of_every_row_is_reported() -> None:
    parsed = parse(
        SKILLS_HEADER + "\n"
        "7123456,fire_safety,2,2026-03-01,ELfH,e_learning,CSTF,verified,source_system\n"
        "71234,fire_drill,one,2026-13-01,,e_learning,CSTF,verified,source_system\n"
        "7123456,fire_safety,1,2026-03-01,ELfH\n"
    )
    assert parsed.rows == []
    assert sorted(parsed.problems) == [
        (2, "level", "must be 1 for Fire safety"),
        (3, "date_awarded", "must be a date as YYYY-MM-DD"),
        (3, "gmc_number", "must be a GMC number of 7 digits"),
        (3, "learning_provider", "is required"),
        (3, "level", "must be the subject's level, 1 to 3 (as the subject has)"),
        (
            3,
            "subject",
            "must be one of equality_diversity_human_rights, health_safety_welfare, conflict_resolution, "
            "fire_safety, infection_prevention_control, information_governance, moving_handling, "
            "safeguarding_adults, safeguarding_children, resuscitation, preventing_radicalisation",
        ),
        (4, None, "has 5 cells; the header has 9"),
    ]


def test_a_bad_header_refuses_the_file() -> None:
    parsed = parse("gmc_number,subject,subject,diagnosis\n7123456,fire_safety,fire_safety,x\n")
    problems = {(p.column, p.reason) for p in parsed.problems}
    assert ("subject", "column appears more than once in the header") in problems
    assert ("level", "missing column in the header") not in problems  # level has a default
    assert ("date_awarded", "missing column in the header") in problems
    assert any(column == "diagnosis" and reason.startswith("unknown column") for column, reason in problems)
    assert all(p.row == 1 for p in parsed.problems)


def test_empty_and_non_utf8_files() -> None:
    assert parse("").problems == [(1, None, "the file is empty: a header row is required")]
    latin = csv_import.parse(b"gmc_number\n\xe9\n", "core_skills", NOW)
    assert latin.problems == [(2, None, "is not UTF-8 text: save the file as CSV UTF-8")]


def test_an_occupational_health_row_never_echoes_a_value() -> None:
    header = "person_id,item,outcome,assessed_on,assurance_policy,assurance_outcome,verification_method"
    parsed = parse(
        header + "\n"
        f"{SOMEONE},hepatitis_b,HBsAg positive,2026-10-01,{OH}\n"
        f"{SOMEONE},HIV status,immune,2026-10-01,{OH}\n"
        f"{SOMEONE},varicella,immune,2026-10-01,{OH}\n",
        "occupational_health",
    )
    report = " ".join(f"{p.column} {p.reason}" for p in parsed.problems)
    assert "HBsAg" not in report
    assert "HIV" not in report
    assert [(p.row, p.column) for p in parsed.problems] == [(2, "outcome"), (3, "item")]
    assert [line for line, _ in parsed.rows] == [4]
    assert isinstance(parsed.rows[0][1], OccupationalHealthCreate)


def test_a_bad_cell_has_the_json_apis_reason() -> None:
    """One wording for one mistake, whichever way the record came: the CSV import's reason for a cell is
    the JSON API's (service.errors) for the same value, not the field's description."""
    cases = {
        "gmc_number": "71234",
        "origin_organisation_code": "R!K",
        "date_awarded": "2026-13-01",
        "person_id": "not-a-uuid",
        "last_refreshed_at": "yesterday",
    }
    for field, value in cases.items():
        body = {"subject": "fire_safety", "level": 1, field: value}
        try:
            msgspec.json.decode(msgspec.json.encode(body), type=CoreSkillCreate)
        except msgspec.ValidationError as exc:
            (api,) = field_errors_from_msgspec(str(exc))
        else:  # pragma: no cover - every case is a bad value
            raise AssertionError(field)
        assert api.field == f"body.{field}"
        cells = {"subject": "fire_safety", "level": "1", field: value}
        record, issues = csv_import.convert_row(cells, "core_skills", NOW)
        assert record is None
        assert (field, api.reason) in issues, (field, issues)
    assert ("gmc_number", "must be a GMC number of 7 digits") in csv_import.convert_row(
        {"gmc_number": "71234"}, "core_skills", NOW
    )[1]
