"""The synthetic workforce generator: determinism, shape, referential integrity and formats."""

import datetime
import itertools
import re
from collections import Counter, defaultdict

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.workforce.synthetic import (
    DEFAULT_TODAY,
    SynthEmployment,
    SynthOrganisation,
    SynthWorld,
    generate,
)

ODS_CODE = re.compile(r"^[A-Z0-9]{3,6}$")
GMC_NUMBER = re.compile(r"^\d{7}$")
UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}$")
ENGLAND_LAT = (49.9, 55.9)
ENGLAND_LON = (-6.5, 1.8)
REGION_NAMES = {
    "London",
    "South East",
    "South West",
    "East of England",
    "Midlands",
    "North West",
    "North East and Yorkshire",
}
ICBS_PER_REGION = {
    "London": 5,
    "South East": 6,
    "South West": 7,
    "East of England": 6,
    "Midlands": 11,
    "North West": 3,
    "North East and Yorkshire": 4,
}
DOCTOR_GRADES = ("FY1", "FY2", "CT1", "CT2", "CT3", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8")
DOCTOR_ROLES = {"Foundation doctor", "Core trainee", "Specialty registrar"}

small_scales = st.floats(min_value=0.01, max_value=0.2, allow_nan=False)
seeds = st.integers(min_value=0, max_value=2**63)
todays = st.dates(min_value=datetime.date(2015, 1, 1), max_value=datetime.date(2040, 12, 31))
few = settings(max_examples=20, deadline=None)


@pytest.fixture(scope="module")
def world() -> SynthWorld:
    return generate()


# ---------------------------------------------------------------------------------------------
# validators


def by_kind(world: SynthWorld, kind: str) -> list[SynthOrganisation]:
    return [org for org in world.organisations if org.kind == kind]


def employments_by_person(world: SynthWorld) -> dict[str, list[SynthEmployment]]:
    found: dict[str, list[SynthEmployment]] = defaultdict(list)
    for employment in world.employments:
        found[employment.person_key].append(employment)
    for history in found.values():
        history.sort(key=lambda e: e.start)
    return found


def is_rotation_day(day: datetime.date) -> bool:
    """The first Wednesday of February or August."""
    return day.month in (2, 8) and day.weekday() == 2 and day.day <= 7


def check_references(world: SynthWorld) -> None:
    orgs = {org.code: org for org in world.organisations}
    keys = {person.key for person in world.people}
    expected_parent = {"icb": "region", "nhs_trust": "icb", "independent_site": "icb"}
    for org in world.organisations:
        if org.kind in expected_parent:
            assert org.parent_code in orgs, org
            assert orgs[org.parent_code].kind == expected_parent[org.kind], org
        else:
            assert org.parent_code is None, org
        if org.kind == "independent_site":
            assert org.provider_code in orgs, org
            assert orgs[org.provider_code].kind == "independent_provider", org
        else:
            assert org.provider_code is None, org
    for employment in world.employments:
        assert employment.person_key in keys, employment
        assert employment.organisation_code in orgs, employment
        assert orgs[employment.organisation_code].kind in {"nhs_trust", "independent_site"}, employment


def check_uniqueness(world: SynthWorld) -> None:
    codes = [org.code for org in world.organisations]
    names = [org.name for org in world.organisations]
    keys = [person.key for person in world.people]
    gmc = [person.gmc_number for person in world.people if person.gmc_number is not None]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert len(set(keys)) == len(keys)
    assert len(set(gmc)) == len(gmc)


def check_formats(world: SynthWorld) -> None:
    code_shape = {
        "region": r"^Y\d{2}$",
        "icb": r"^Q[A-Z0-9]{2}$",
        "nhs_trust": r"^R[A-Z0-9]{2}$",
        "independent_provider": r"^N[A-Z]\d$",
        "independent_site": r"^N[A-Z0-9]{4}$",
    }
    for org in world.organisations:
        assert ODS_CODE.match(org.code), org
        assert re.match(code_shape[org.kind], org.code), org
        if org.provider_code is not None:
            assert org.code.startswith(org.provider_code), org
        if org.kind != "region":
            assert org.postcode is not None, org
            assert UK_POSTCODE.match(org.postcode), org
    for person in world.people:
        if person.staff_group == "medical":
            assert person.gmc_number is not None, person
            assert GMC_NUMBER.match(person.gmc_number), person
            assert person.grade in DOCTOR_GRADES, person
        else:
            assert person.gmc_number is None, person
            assert person.grade == "other", person
            assert person.staff_group in {"nursing", "allied_health", "other"}, person


def check_coordinates(world: SynthWorld) -> None:
    for org in world.organisations:
        if org.kind == "region":
            continue
        assert org.latitude is not None, org
        assert org.longitude is not None, org
        assert ENGLAND_LAT[0] <= org.latitude <= ENGLAND_LAT[1], org
        assert ENGLAND_LON[0] <= org.longitude <= ENGLAND_LON[1], org


def check_histories(world: SynthWorld, today: datetime.date) -> None:
    histories = employments_by_person(world)
    people = {person.key: person for person in world.people}
    assert set(histories) == set(people)  # everybody has at least one employment
    for key, history in histories.items():
        doctor = people[key].staff_group == "medical"
        if doctor:
            assert 1 <= len(history) <= 4, history
        for employment in history:
            assert 1 <= employment.contracted_sessions <= 10, employment
            assert employment.start <= today, employment
            assert employment.staff_group == people[key].staff_group, employment
        for earlier, later in itertools.pairwise(history):
            assert earlier.end is not None, history
            assert earlier.start <= earlier.end < later.start, history
            assert earlier.end <= today, history
            if doctor:  # rotations follow one another without a gap
                assert earlier.end + datetime.timedelta(days=1) == later.start, history
        current = history[-1]
        assert current.end is None or current.end > today, history
        if doctor:
            assert all(is_rotation_day(employment.start) for employment in history), history
            assert all(employment.role in DOCTOR_ROLES for employment in history), history


def check_all(world: SynthWorld, today: datetime.date = DEFAULT_TODAY) -> None:
    check_references(world)
    check_uniqueness(world)
    check_formats(world)
    check_coordinates(world)
    check_histories(world, today)


# ---------------------------------------------------------------------------------------------
# the default world


def test_default_world_is_valid(world: SynthWorld) -> None:
    check_all(world)


def test_organisation_counts(world: SynthWorld) -> None:
    counts = Counter(org.kind for org in world.organisations)
    assert counts["region"] == 7
    assert counts["icb"] == 42
    assert 190 <= counts["nhs_trust"] <= 210
    assert 15 <= counts["independent_provider"] <= 25
    assert 140 <= counts["independent_site"] <= 160


def test_people_counts(world: SynthWorld) -> None:
    groups = Counter(person.staff_group for person in world.people)
    assert groups["medical"] == 5000
    assert groups["nursing"] + groups["allied_health"] + groups["other"] == 500
    assert min(groups["nursing"], groups["allied_health"], groups["other"]) > 0


def test_regions_and_icbs_are_the_real_ones(world: SynthWorld) -> None:
    regions = {org.code: org.name for org in by_kind(world, "region")}
    assert set(regions.values()) == REGION_NAMES
    assert regions["Y56"] == "London"
    icbs = by_kind(world, "icb")
    assert all(icb.name.startswith("NHS ") and icb.name.endswith(" ICB") for icb in icbs)
    per_region = Counter(regions[icb.parent_code] for icb in icbs if icb.parent_code is not None)
    assert per_region == ICBS_PER_REGION
    region_of = {icb.name: regions[icb.parent_code] for icb in icbs if icb.parent_code is not None}
    assert region_of["NHS Cheshire and Merseyside ICB"] == "North West"
    assert region_of["NHS Frimley ICB"] == "South East"
    assert region_of["NHS Lincolnshire ICB"] == "Midlands"
    assert region_of["NHS Humber and North Yorkshire ICB"] == "North East and Yorkshire"
    assert {icb.code for icb in icbs if icb.name == "NHS Lancashire and South Cumbria ICB"} == {"QE1"}


def test_organisation_names_are_plausible(world: SynthWorld) -> None:
    assert all(" NHS " in org.name and org.name.endswith("Trust") for org in by_kind(world, "nhs_trust"))
    providers = {org.code: org.name for org in by_kind(world, "independent_provider")}
    for site in by_kind(world, "independent_site"):
        assert site.provider_code is not None
        assert site.name.split()[0] == providers[site.provider_code].split()[0], site


def test_grades_are_weighted_towards_the_junior_end(world: SynthWorld) -> None:
    grades = Counter(person.grade for person in world.people)
    assert set(DOCTOR_GRADES) <= set(grades)
    assert grades["FY1"] + grades["FY2"] > 3 * grades["ST8"]
    assert grades["CT1"] + grades["CT2"] + grades["CT3"] > grades["ST8"]
    assert grades["FY1"] > grades["ST8"]


def test_specialties(world: SynthWorld) -> None:
    doctors = [person for person in world.people if person.staff_group == "medical"]
    for person in doctors:
        assert (person.specialty is None) == (person.grade in {"FY1", "FY2"}), person
    specialties = Counter(person.specialty for person in doctors if person.specialty is not None)
    for specialty in (
        "trauma_and_orthopaedics",
        "general_surgery",
        "ophthalmology",
        "anaesthetics",
        "general_medicine",
        "obstetrics_and_gynaecology",
        "urology",
        "ent",
    ):
        assert specialties[specialty] > 0, specialty


def test_doctors_rotate_mostly_through_trusts_in_one_region(world: SynthWorld) -> None:
    orgs = {org.code: org for org in world.organisations}
    region_of_icb = {org.code: org.parent_code for org in by_kind(world, "icb")}
    kinds: Counter[str] = Counter()
    for history in employments_by_person(world).values():
        if history[0].staff_group != "medical":
            continue
        regions = set()
        for employment in history:
            org = orgs[employment.organisation_code]
            kinds[org.kind] += 1
            assert org.parent_code is not None
            regions.add(region_of_icb[org.parent_code])
        assert len(regions) == 1, history
    share = kinds["independent_site"] / sum(kinds.values())
    assert 0 < share < 0.1


def test_gmc_numbers_follow_seniority(world: SynthWorld) -> None:
    by_grade: dict[str, list[int]] = defaultdict(list)
    for person in world.people:
        if person.gmc_number is not None:
            by_grade[person.grade].append(int(person.gmc_number))
    assert max(by_grade["ST8"]) < min(by_grade["FY1"])


def test_default_today_is_fixed() -> None:
    assert datetime.date(2026, 11, 1) == DEFAULT_TODAY
    assert generate(0.02) == generate(0.02, today=datetime.date(2026, 11, 1))


def test_negative_or_infinite_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(-0.5)
    with pytest.raises(ValueError, match="scale"):
        generate(float("inf"))


def test_zero_scale_has_organisations_and_no_people() -> None:
    empty = generate(0.0)
    assert empty.people == []
    assert empty.employments == []
    assert len(empty.organisations) == len(generate(0.01).organisations)


# ---------------------------------------------------------------------------------------------
# properties over seeds, scales and dates


@few
@given(scale=small_scales, seed=seeds)
def test_same_arguments_give_identical_output(scale: float, seed: int) -> None:
    first = generate(scale, seed, datetime.date(2025, 3, 14))
    second = generate(scale, seed, datetime.date(2025, 3, 14))
    assert first == second
    assert msgspec.json.encode(first) == msgspec.json.encode(second)


@few
@given(scale=small_scales, seed=seeds)
def test_different_seeds_differ(scale: float, seed: int) -> None:
    first = generate(scale, seed)
    second = generate(scale, seed + 1)
    assert first != second
    assert first.people != second.people


@few
@given(scale=small_scales, seed=seeds)
def test_people_scale_and_organisations_do_not(scale: float, seed: int) -> None:
    generated = generate(scale, seed)
    doctors = [person for person in generated.people if person.staff_group == "medical"]
    assert len(doctors) == round(5000 * scale)
    assert len(generated.people) - len(doctors) == round(500 * scale)
    assert Counter(org.kind for org in generated.organisations) == Counter(
        org.kind for org in generate(0.0).organisations
    )


@few
@given(scale=small_scales, seed=seeds, today=todays)
def test_any_world_is_valid(scale: float, seed: int, today: datetime.date) -> None:
    check_all(generate(scale, seed, today), today)


@pytest.mark.parametrize(
    "today",
    [
        datetime.date(2026, 8, 4),  # the day before the August changeover
        datetime.date(2026, 8, 5),  # the August changeover
        datetime.date(2027, 2, 2),  # the day before the February changeover
        datetime.date(2027, 2, 3),  # the February changeover
        datetime.date(2026, 1, 1),
    ],
)
def test_histories_around_changeover_days(today: datetime.date) -> None:
    check_all(generate(0.1, seed=3, today=today), today)
