"""Reading and checking CSV files, without a database."""

import datetime as dt
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from service.workforce import csv_import
from service.workforce.csv_import import (
    EMPLOYMENTS,
    ORGANISATIONS,
    PEOPLE,
    Resolved,
    RowProblem,
    convert_row,
    duplicate_employment_problems,
    insertion_order,
    organisation_problems,
    parse_employments,
    parse_organisations,
    parse_people,
    read_table,
    resolve_employments,
)
from service.workforce.schemas import EmploymentCreate

ORG_HEADER = ",".join(ORGANISATIONS.columns)
PEOPLE_HEADER = ",".join(PEOPLE.columns)


def test_documented_columns() -> None:
    assert ORGANISATIONS.columns == (
        "code",
        "name",
        "kind",
        "parent_code",
        "icb_code",
        "postcode",
        "latitude",
        "longitude",
    )
    assert PEOPLE.columns == ("given_name", "family_name", "gmc_number", "staff_group", "grade", "specialty")
    assert EMPLOYMENTS.columns == (
        "person_id",
        "gmc_number",
        "organisation_code",
        "role",
        "staff_group",
        "specialty",
        "start_date",
        "end_date",
        "contracted_sessions",
    )


# ---------------------------------------------------------------- reading


def test_rows_are_numbered_by_their_line_in_the_file() -> None:
    data = (
        "\ufeffb,a\r\n"  # BOM, columns in another order
        "\r\n"  # line 2: empty, skipped
        '1,"two\r\nlines"\r\n'  # lines 3-4: one record
        " 5 , 6 \r\n"  # line 5: cells are trimmed
        ",,\r\n"  # line 6: wrong cell count, but empty: skipped
    ).encode()
    rows, problems = read_table(data, ["a", "b"])
    assert problems == []
    assert rows == [(3, {"b": "1", "a": "two\r\nlines"}), (5, {"b": "5", "a": "6"})]


def test_wrong_cell_counts_and_bad_quoting_are_reported_per_row() -> None:
    data = b'a,b\n1\n1,2,3\n"x"y,2\n1,2\n'
    rows, problems = read_table(data, ["a", "b"])
    assert rows == [(5, {"a": "1", "b": "2"})]
    assert [(p.row, p.column) for p in problems] == [(2, None), (3, None), (4, None)]


def test_header_problems_are_reported_on_line_one() -> None:
    _, problems = read_table(b"a,a,c\n1,2,3\n", ["a", "b"])
    assert {(p.row, p.column) for p in problems} == {(1, "a"), (1, "c"), (1, "b")}
    _, problems = read_table(b"", ["a"])
    assert problems == [RowProblem(1, None, "the file is empty: a header row is required")]


def test_text_that_is_not_utf8_is_reported_with_its_line() -> None:
    _, problems = read_table(b"a\nok\n\xe9t\xe9\nfine\ncaf\xe9\n", ["a"])
    assert [(p.row, p.column) for p in problems] == [(3, None), (5, None)]


# ---------------------------------------------------------------- converting


def test_every_bad_cell_of_a_row_is_reported_with_a_plain_reason() -> None:
    cells = {
        "code": "R!K",
        "name": "",
        "kind": "hospital",
        "parent_code": "",
        "icb_code": "",
        "postcode": "nowhere",
        "latitude": "95",
        "longitude": "",
    }
    record, issues = convert_row(cells, ORGANISATIONS)
    assert record is None
    assert dict(issues) == {
        "code": "must be an ODS code of 3 to 6 letters or digits",
        "name": "is required",
        "kind": "must be one of region, icb, nhs_trust, independent_provider, independent_site",
        "latitude": "must be a latitude in degrees, -90 to 90",
        "postcode": "must be a UK postcode such as SW1A 1AA",
    }


def test_rules_across_fields_still_run_when_another_cell_is_bad() -> None:
    cells = dict.fromkeys(ORGANISATIONS.columns, "")
    cells.update(code="RRK", name="A trust", kind="nhs_trust", latitude="north", postcode="XX1 1XX")
    _, issues = convert_row(cells, ORGANISATIONS)
    assert [field for field, _ in issues] == ["latitude", "postcode", "parent_code"]


def test_employment_cells() -> None:
    cells = dict.fromkeys(EMPLOYMENTS.columns, "")
    cells.update(
        person_id="nope", organisation_code="rrk", role="FY1", staff_group="medical", start_date="05/08/2026"
    )
    cells.update(contracted_sessions="7.3")
    _, issues = convert_row(cells, EMPLOYMENTS)
    assert dict(issues) == {
        "person_id": "must be a UUID",
        "start_date": "must be a date as YYYY-MM-DD",
        "contracted_sessions": "must be sessions a week: 0.5 to 20 in steps of 0.5",
    }
    cells.update(person_id=str(uuid.uuid4()), start_date="2026-08-05", contracted_sessions="7.5")
    record, issues = convert_row(cells, EMPLOYMENTS)
    assert issues == []
    assert record is not None
    assert (record.organisation_code, record.contracted_sessions) == ("RRK", 7.5)


# ---------------------------------------------------------------- organisations


def test_references_resolve_within_the_file_in_any_order() -> None:
    data = "\n".join(
        [
            ORG_HEADER,
            "NT301,Site,independent_site,nt3,qmm,,,",
            "NT3,Provider,independent_provider,,,,,",
            "RRK,Trust,nhs_trust,QMM,,,,",
            "QMM,ICB,icb,Y56,,,,",
        ]
    ).encode()
    parsed, declared = parse_organisations(data)
    assert parsed.problems == []
    assert organisation_problems(parsed.rows, declared, {"Y56": "region"}) == []
    assert [o.code for o in insertion_order(parsed.rows)] == ["NT3", "QMM", "NT301", "RRK"]


def test_a_parent_on_a_bad_row_is_not_reported_as_unknown() -> None:
    data = f"{ORG_HEADER}\nQMM,ICB,icb,Y56,,,999,0\nRRK,Trust,nhs_trust,QMM,,,,\n".encode()
    parsed, declared = parse_organisations(data)
    assert [(p.row, p.column) for p in parsed.problems] == [(2, "latitude")]
    assert organisation_problems(parsed.rows, declared, {"Y56": "region"}) == []


def test_codes_in_the_registry_and_repeated_codes_are_reported() -> None:
    data = f"{ORG_HEADER}\nQMM,ICB,icb,Y56,,,,\nqmm,Again,icb,Y56,,,,\nQOP,Taken,icb,Y56,,,,\n".encode()
    parsed, declared = parse_organisations(data)
    assert parsed.problems == [RowProblem(3, "code", "repeats the code of row 2")]
    problems = organisation_problems(parsed.rows, declared, {"Y56": "region", "QOP": "icb"})
    assert problems == [RowProblem(4, "code", "an organisation with the code QOP already exists")]


# ---------------------------------------------------------------- people and employments


def test_repeated_gmc_numbers_in_a_file() -> None:
    data = (
        f"{PEOPLE_HEADER}\nA,B,7000001,medical,FY1,\nC,D,7000001,medical,FY2,\nE,F,,nursing,other,\n".encode()
    )
    parsed = parse_people(data)
    assert parsed.problems == [RowProblem(3, "gmc_number", "repeats the GMC number of row 2")]
    assert len(parsed.rows) == 2


def test_a_bad_gmc_number_reads_as_the_json_api_says_it() -> None:
    people = parse_people(f"{PEOPLE_HEADER}\nA,B,70001,medical,FY1,\n".encode())
    assert people.problems == [RowProblem(2, "gmc_number", "must be a GMC number of 7 digits")]


def test_employments_resolve_people_by_id_or_gmc_number() -> None:
    known, by_gmc = uuid.uuid4(), uuid.uuid4()
    header = ",".join(EMPLOYMENTS.columns)
    data = "\n".join(
        [
            header,
            f"{known},,RRK,FY1,medical,,2026-08-05,,10",
            ",7000001,RRK,FY1,medical,,2026-08-05,,10",
            ",7000002,RRK,FY1,medical,,2026-08-05,,10",
            f"{uuid.uuid4()},,RRK,FY1,medical,,2026-08-05,,10",
            f"{known},,ZZZ,FY1,medical,,2026-08-05,,10",
        ]
    ).encode()
    parsed = parse_employments(data)
    assert parsed.problems == []
    resolved, problems = resolve_employments(
        parsed.rows, organisations={"RRK"}, people={known}, by_gmc={"7000001": by_gmc}
    )
    assert [(r.line, r.person_id) for r in resolved] == [(2, known), (3, by_gmc)]
    assert [(p.row, p.column) for p in problems] == [
        (4, "gmc_number"),
        (5, "person_id"),
        (6, "organisation_code"),
    ]


def test_duplicate_employments_in_the_file_and_the_registry() -> None:
    person = uuid.uuid4()

    def resolved(line: int, start: dt.date) -> Resolved:
        employment = EmploymentCreate(
            person_id=person,
            organisation_code="RRK",
            role="FY1",
            staff_group="medical",
            start_date=start,
            contracted_sessions=10,
        )
        return Resolved(line, employment, person)

    rows = [
        resolved(2, dt.date(2026, 8, 5)),
        resolved(3, dt.date(2026, 8, 5)),
        resolved(4, dt.date(2025, 8, 6)),
    ]
    existing = {csv_import.employment_key(person, "RRK", "FY1", dt.date(2025, 8, 6))}
    problems = duplicate_employment_problems(rows, existing)
    assert sorted((p.row, p.column) for p in problems) == [(3, "start_date"), (4, "start_date")]


# ---------------------------------------------------------------- every bad row, however many

GOOD_PERSON = "Ada,Okafor,,medical,FY1,"
BAD_PEOPLE = [
    "Ada,Okafor,123,medical,FY1,",
    "Ada,,,medical,FY1,",
    "Ada,Okafor,,medical,ST9,",
    "Ada,Okafor,,nursing,FY1,",
    "Ada,Okafor,,medical",
    'Ada,"Oka"for,,medical,FY1,',
]


@given(st.lists(st.one_of(st.just(GOOD_PERSON), st.sampled_from(BAD_PEOPLE)), max_size=30))
def test_every_bad_row_is_reported_and_only_bad_rows(rows: list[str]) -> None:
    data = "\n".join([PEOPLE_HEADER, *rows]).encode()
    parsed = parse_people(data)
    bad_lines = {line for line, row in enumerate(rows, start=2) if row != GOOD_PERSON}
    assert {p.row for p in parsed.problems} == bad_lines
    assert [line for line, _ in parsed.rows] == sorted(set(range(2, len(rows) + 2)) - bad_lines)


def test_a_large_file_is_read_whole() -> None:
    rows = [f"Given{i},Family{i},{7_000_000 + i},medical,ST3,urology" for i in range(50_000)]
    parsed = parse_people("\n".join([PEOPLE_HEADER, *rows]).encode())
    assert parsed.problems == []
    assert len(parsed.rows) == 50_000
    assert parsed.rows[-1][0] == 50_001


CSV_ALPHABET = st.sampled_from(
    [",", '"', "\n", "\r", " ", "\x00", "a", "7", "-", "\ufeff", "\u00e9", "RRK", "FY1"]
)


@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(CSV_ALPHABET, max_size=80).map(lambda parts: "".join(parts).encode()),
        st.lists(CSV_ALPHABET, max_size=80).map(
            lambda parts: (",".join(PEOPLE.columns) + "\n" + "".join(parts)).encode()
        ),
    )
)
def test_no_input_breaks_the_parser(data: bytes) -> None:
    """Any bytes give rows and problems, never an exception; a refused line is within the file."""
    lines = data.count(b"\n") + data.count(b"\r") + 1
    for parse in (parse_people, parse_employments, lambda d: parse_organisations(d)[0]):
        parsed = parse(data)
        assert all(1 <= p.row <= lines for p in parsed.problems)
        assert not {line for line, _ in parsed.rows} & {p.row for p in parsed.problems}


def test_the_documented_examples_are_accepted() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "workforce.md").read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    fenced: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            if fenced:
                blocks[fenced[0]] = "\n".join(fenced)
            fenced = [] if fenced is None else None
        elif fenced is not None:
            fenced.append(line)
    organisations, declared = parse_organisations(blocks[",".join(ORGANISATIONS.columns)].encode())
    assert organisations.problems == []
    assert organisation_problems(organisations.rows, declared, {}) == []
    assert len(organisations.rows) == 5
    people = parse_people(blocks[",".join(PEOPLE.columns)].encode())
    assert (people.problems, len(people.rows)) == ([], 2)
    employments = parse_employments(blocks[",".join(EMPLOYMENTS.columns)].encode())
    assert (employments.problems, len(employments.rows)) == ([], 2)
