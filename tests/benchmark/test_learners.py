"""learners.csv and the rules for provider submissions (pure)."""

from service.benchmark.learners import HEADER, Org, parse_csv, reference_problems

LATEST = 2026
GOOD = "NT3,NT301,2025-26,nursing,student_placement,12,14,80.5"


def csv(*rows: str, header: str = ",".join(HEADER)) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def problems(data: bytes) -> list[tuple[int, str | None, str]]:
    return [(p.row, p.column, p.reason) for p in parse_csv(data, LATEST)[1]]


def test_a_good_file() -> None:
    rows, found = parse_csv(
        b"\xef\xbb\xbf" + csv(GOOD, "nt3,nt302,2025,allied_health,apprenticeship,0,0,0"), LATEST
    )
    assert found == []
    assert [(line, item.site_code, item.financial_year) for line, item in rows] == [
        (2, "NT301", 2025),
        (3, "NT302", 2025),
    ]


def test_every_problem_of_every_row_is_reported() -> None:
    found = problems(
        csv("NT3,NT301,2031-32,nursing,student_placement,-1,x,80.5", "NT3,NT301,2025-26,doctors,bus,5,4,900")
    )
    assert (
        2,
        "financial_year",
        "must be a financial year such as 2025-26",
    ) not in found  # it is one, but too late?
    assert (2, "learners", "must be a whole number, 0 or more") in found
    assert (2, "placements", "must be a whole number, 0 or more") in found
    assert (3, "staff_group", "must be one of nursing, allied_health, other") in found
    assert (
        3,
        "route",
        "must be one of doctors_in_training, apprenticeship, student_placement, other",
    ) in found


def test_a_year_that_has_not_started_is_refused() -> None:
    assert problems(csv("NT3,NT301,2027-28,nursing,student_placement,12,14,80.5")) == [
        (2, "financial_year", "must be a year that has started: 2026 or earlier")
    ]


def test_counts_must_add_up() -> None:
    found = problems(csv("NT3,NT301,2025-26,nursing,student_placement,12,10,600.05"))
    assert (2, "placements", "must be at least learners: every learner has a placement") in found
    assert (2, "placement_weeks", "must have at most one decimal place") in found
    assert (2, "placement_weeks", "is more than the placements can hold (52.3 weeks each at most)") in found


def test_header_and_shape_problems() -> None:
    assert problems(csv(GOOD, header="provider_code,site_code,year"))[0][0:2] == (1, None)
    assert problems(csv("NT3,NT301,2025-26")) == [(2, None, "has 3 cells; the header has 8")]
    assert problems(b"\xff\xfe") == [(1, None, "the file is not UTF-8 text")]
    assert problems(b"")[0][2].startswith("the file is empty")


def test_references() -> None:
    rows, _ = parse_csv(csv(GOOD), LATEST)
    item = rows[0][1]
    orgs = {"NT3": Org("independent_provider", None), "NT301": Org("independent_site", "NV1")}
    assert reference_problems(item, orgs) == [("site_code", "NT301 is not a site of NT3")]
    assert reference_problems(item, {}) == [
        ("provider_code", "no organisation has the code NT3"),
        ("site_code", "no organisation has the code NT301"),
    ]


def test_a_file_that_is_not_csv_is_refused_at_its_line() -> None:
    huge = "x" * 200_000  # over the csv module's field limit of 131,072 characters
    assert problems(csv(GOOD, f"NT3,{huge},2025-26,nursing,student_placement,12,14,80.5")) == [
        (3, None, "is not CSV: field larger than field limit (131072)")
    ]


def test_rows_are_numbered_by_the_line_they_start_on() -> None:
    quoted = 'NT3,NT302,2025-26,nursing,"student_\nplacement",12,14,80.5'  # a line break in a quoted cell
    found = problems(csv(quoted, "NT3,NT301,2025-26,nursing,student_placement,-1,14,80.5"))
    assert (
        2,
        "route",
        "must be one of doctors_in_training, apprenticeship, student_placement, other",
    ) in found
    assert (4, "learners", "must be a whole number, 0 or more") in found
