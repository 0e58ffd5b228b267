"""The measures, splits, year-on-year change and suppression of the benchmark, on constructed inputs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.benchmark.canonical import STAFF_CATEGORIES
from service.benchmark.compute import CHILD_OF, PEOPLE_DIMENSIONS, _Benchmark, _keys, compute
from service.benchmark.schemas import Cell, Report, Row, Table
from tests.benchmark.factories import YEAR, inputs, many, placement
from tests.benchmark.test_disclosure import recoverable as exactly_recoverable

COUNTED = ("learners", "placements", "procedures", "trainees")


def table(report: Report, table_id: str) -> Table:
    return next(t for t in report.tables if t.id == table_id)


def row(t: Table, code: str) -> Row:
    return t.total if code == "total" else next(r for r in t.rows if r.code == code)


def cell(t: Table, code: str, column: str) -> Cell:
    r = row(t, code)
    if column == "total":
        return r.total
    return r.cells[[c.code for c in t.columns].index(column)]


def run(**kwargs: object) -> Report:
    return compute(inputs(**kwargs), registry_version="9.9.9")  # type: ignore[arg-type]


def test_a_person_placed_twice_is_one_learner_but_two_placements() -> None:
    first = many(10, "NT301", "2025-04-01", "2025-07-31")
    second = many(10, "NT302", "2025-09-01", "2025-12-31")  # the same ten people, later in the year
    report = run(placements=first + second)
    learners, placements = table(report, "learners_by_provider"), table(report, "placements_by_provider")
    assert cell(learners, "NT3", "specialty").value == 10
    assert cell(placements, "NT3", "specialty").value == 20
    assert cell(table(report, "learners_by_site"), "NT301", "specialty").value == 10
    assert cell(learners, "total", "total").value == 10


def test_placement_weeks_count_only_the_days_inside_the_year() -> None:
    # 1 March to 14 April: 14 days fall in 2025-26, i.e. 2 weeks each
    report = run(placements=many(5, "NT301", "2025-03-01", "2025-04-14"))
    weeks = table(report, "placement_weeks_by_site")
    assert cell(weeks, "NT301", "specialty").value == 10.0
    assert cell(table(report, "placements_by_site"), "NT301", "specialty").value == 5


def test_only_independent_sites_and_the_two_years_count() -> None:
    nhs = many(9, "RAP", "2025-05-01", "2025-06-01")
    too_old = many(9, "NT301", "2022-05-01", "2022-06-01", first=7_100_000)
    counted = many(6, "NT301", "2025-05-01", "2025-06-01", first=7_200_000)
    report = run(placements=nhs + too_old + counted)
    assert cell(table(report, "learners_by_region"), "total", "total").value == 6
    assert [r.code for r in table(report, "learners_by_site").rows] == ["NT301", "NT302", "NV101"]


def test_grades_fall_into_bands_and_other_staff_into_their_groups() -> None:
    people = (
        many(5, "NT301", "2025-05-01", "2025-06-01", grade="FY2")
        + many(6, "NT301", "2025-05-01", "2025-06-01", grade="ST2", first=7_100_000)  # run-through: core
        + many(7, "NT301", "2025-05-01", "2025-06-01", grade="ST3", first=7_200_000)
        + many(8, "NT301", "2025-05-01", "2025-06-01", grade=None, staff_group="nursing", first=7_300_000)
    )
    learners = table(run(placements=people), "learners_by_site")
    assert [c.value for c in row(learners, "NT301").cells] == [5, 6, 7, 8, 0, 0]


def test_change_from_the_year_before() -> None:
    before = many(8, "NV101", "2024-05-01", "2024-09-01")
    now = many(12, "NV101", "2025-05-01", "2025-09-01", first=7_100_000)
    learners = cell(table(run(placements=before + now), "learners_by_region"), "Y63", "specialty")
    assert (learners.value, learners.previous, learners.change) == (12, 8, 4)


def test_submitted_learners_are_added_as_given() -> None:
    submitted = [
        (YEAR, "NT3", "NT301", "nursing", "student_placement", 12, 14, 80.5),
        (YEAR - 1, "NT3", "NT301", "nursing", "student_placement", 9, 9, 50.0),
    ]
    report = run(learners=submitted)
    learners = cell(table(report, "learners_by_route"), "student_placement", "nurse")
    assert (learners.value, learners.previous, learners.change) == (12, 9, 3)
    assert cell(table(report, "placement_weeks_by_site"), "NT301", "nurse").value == 80.5
    assert cell(table(report, "learners_by_specialty"), "not_recorded", "nurse").value == 12


def test_procedures_by_supervision_with_distinct_trainees_and_share_of_volume() -> None:
    logbook = [(YEAR, f"70000{n:02d}", "ST5", "NT301", "ophthalmology", "P", 20) for n in range(6)] + [
        (YEAR, f"70000{n:02d}", "ST5", "NT301", "ophthalmology", "S-TS", 10) for n in range(6)
    ]
    volumes = [(YEAR, "NT301", "ophthalmology", 900)]
    report = run(logbook=logbook, volumes=volumes)
    procedures = table(report, "procedures_by_site")
    assert cell(procedures, "NT301", "P").value == 120
    assert cell(procedures, "NT301", "S-TS").value == 60
    assert cell(procedures, "NT301", "total").value == 180
    volume, share = row(procedures, "NT301").extras
    assert (volume.value, share.value) == (900, 20.0)  # 180 of 900
    trainees = table(report, "trainees_by_staff_group")
    assert cell(trainees, "specialty", "total").value == 6  # six people, however many entries


def test_small_counts_are_withheld_and_weeks_follow_their_placements() -> None:
    report = run(
        placements=many(3, "NV101", "2025-05-01", "2025-06-01")
        + many(30, "NT301", "2025-05-01", "2025-06-01", first=7_100_000)
    )
    assert cell(table(report, "learners_by_site"), "NV101", "specialty").value is None
    assert cell(table(report, "placement_weeks_by_site"), "NV101", "specialty").value is None
    assert cell(table(report, "learners_by_region"), "Y63", "specialty").value is None


@pytest.mark.parametrize("seed", range(5))
def test_no_table_ever_shows_a_count_from_1_to_4(seed: int) -> None:
    import random

    rng = random.Random(seed)
    sites = ["NT301", "NT302", "NV101", "RAP"]
    people = [
        placement(
            str(7_000_000 + n),
            rng.choice(sites),
            "2025-05-01",
            "2025-06-30",
            grade=rng.choice(["FY1", "CT2", "ST4", "ST7"]),
            specialty=rng.choice(["ent", "urology", None]),
        )
        for n in range(rng.randint(5, 60))
    ]
    logbook = [
        (
            YEAR - rng.randint(0, 1),
            str(7_000_000 + rng.randint(0, 30)),
            "ST4",
            rng.choice(sites[:3]),
            "ent",
            rng.choice(["O", "A", "P"]),
            rng.randint(1, 9),
        )
        for _ in range(rng.randint(0, 80))
    ]
    report = run(placements=people, logbook=logbook)
    for t in report.tables:
        if t.measure not in COUNTED:
            continue
        for r in [*t.rows, t.total]:
            for c in [*r.cells, r.total]:
                assert c.value is None or not 1 <= c.value <= 4, (t.id, r.code)
                assert c.previous is None or not 1 <= c.previous <= 4, (t.id, r.code)


def test_the_report_names_its_year_version_and_inputs() -> None:
    report = run(placements=many(5, "NT301", "2025-05-01", "2025-06-01"))
    assert (report.financial_year, report.previous_financial_year) == ("2025-26", "2024-25")
    assert report.registry_version == "9.9.9"
    assert len(report.inputs_sha256) == 64
    assert {t.id for t in report.tables} >= {
        "learners_by_region",
        "learners_by_icb",
        "learners_by_provider",
        "learners_by_site",
        "learners_by_specialty",
        "learners_by_route",
        "procedures_by_staff_group",
        "trainees_by_site",
    }


# ---------------------------------------------------------------- linked tables, checked independently

WIDE_ORGS = [
    ("Y56", "London", "region", None, None),
    ("Y63", "North East", "region", None, None),
    ("QA1", "ICB A", "icb", "Y56", None),
    ("QB1", "ICB B", "icb", "Y56", None),
    ("QC1", "ICB C", "icb", "Y63", None),
    *[(p, f"Provider {p}", "independent_provider", None, None) for p in ("NA1", "NB1", "NC1")],
    ("NA101", "Site 1", "independent_site", "NA1", "QA1"),
    ("NA102", "Site 2", "independent_site", "NA1", "QB1"),
    ("NB101", "Site 3", "independent_site", "NB1", "QA1"),
    ("NB102", "Site 4", "independent_site", "NB1", "QC1"),
    ("NC101", "Site 5", "independent_site", "NC1", "QC1"),
    ("NC102", "Site 6", "independent_site", "NC1", "QB1"),
]
SITES = [o[0] for o in WIDE_ORGS if o[2] == "independent_site"]
GRADES = ["FY1", "CT2", "ST5", None]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(SITES), st.sampled_from(GRADES), st.integers(1, 9)), min_size=1, max_size=14
    )
)
def test_no_withheld_learner_count_can_be_worked_out_from_all_the_tables_together(
    groups: list[tuple[str, str | None, int]],
) -> None:
    people = []
    first = 7_000_000
    for site, grade, count in groups:
        group = "medical" if grade else "nursing"
        people += many(count, site, "2025-05-01", "2025-06-01", first=first, grade=grade, staff_group=group)
        first += count
    figures = _Benchmark(inputs(placements=people, organisations=WIDE_ORGS))
    values = figures.people[YEAR]["learners"]
    hidden = figures.hidden[("learners", YEAR)]
    lines: list[list[tuple[str, str, str]]] = []
    for dim in PEOPLE_DIMENSIONS:
        grid = _keys(dim, figures.frame.rows[dim], STAFF_CATEGORIES)
        lines += [list(row) for row in grid]
        lines += [[row[j] for row in grid] for j in range(len(grid[0]))]
    for parent, child in CHILD_OF.items():
        for code, children in figures.frame.children[parent].items():
            for col in (*STAFF_CATEGORIES, "total"):
                lines.append([*((child, c, col) for c in children), (parent, code, col)])
    every = {key for line in lines for key in line}
    assert not [k for k in every if k not in hidden and 1 <= values.get(k, 0) <= 4]
    assert exactly_recoverable(lines, every, set(hidden)) == set()
