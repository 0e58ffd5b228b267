"""The model's formulas: needs, effective slots, cases per slot, values, eligibility, gates."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.placements import model
from service.placements.model import GRADE_LEVEL, Inputs, ModelError, Parameters, build
from tests.placements.builders import inputs, replace_columns, rotation


def _half_even(x: Fraction) -> int:
    floor = math.floor(x)
    rest = x - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


def _reference(data: Inputs, parameters: Parameters) -> dict[tuple[str, str], tuple[int, float]]:
    """Eligible (trainee, site) -> (value in hundredths, km), straight from the issue's definitions with
    exact fractions; written apart from the model."""
    year = parameters.financial_year or max(data.vol_year)
    share = Fraction(str(parameters.training_share))
    weights = {g: Fraction(w, 1000) for g, w in zip(data.weight_group, data.weight_value, strict=True)}
    excluded = set(data.excluded_site)
    excluded_pairs = set(zip(data.excluded_pair_trainee, data.excluded_pair_site, strict=True))
    site = {s: (la, lo) for s, la, lo in zip(data.site_code, data.site_lat, data.site_lon, strict=True)}
    result = {}
    for t, grade, spec, la, lo, travel in zip(
        data.trainee_id,
        data.trainee_grade,
        data.trainee_specialty,
        data.trainee_lat,
        data.trainee_lon,
        data.trainee_travel,
        strict=True,
    ):
        need: dict[str, int] = {}
        for s2, g, n, minimum in zip(
            data.cur_specialty, data.cur_group, data.cur_indicative, data.cur_min_supervision, strict=True
        ):
            if s2 == spec:
                done = sum(
                    1
                    for lt, lg, sup in zip(
                        data.log_trainee, data.log_group, data.log_supervision, strict=True
                    )
                    if lt == t
                    and lg == g
                    and model.SUPERVISION.index(sup) >= model.SUPERVISION.index(minimum)
                )
                need[g] = max(0, n - done)
        for nt, g, n in zip(data.need_trainee, data.need_group, data.need_remaining, strict=True):
            if nt == t:
                need[g] = n
        for s, cs, slots, sup, per, low, high in zip(
            data.cap_site,
            data.cap_specialty,
            data.cap_slots,
            data.cap_supervisors,
            data.cap_per_supervisor,
            data.cap_min_grade,
            data.cap_max_grade,
            strict=True,
        ):
            effective = min(slots, sup * per)
            if (
                cs != spec
                or effective == 0
                or not GRADE_LEVEL[low] <= GRADE_LEVEL[grade] <= GRADE_LEVEL[high]
            ):
                continue
            p1, p2 = math.radians(la), math.radians(site[s][0])
            h = (
                math.sin((p2 - p1) / 2) ** 2
                + math.cos(p1) * math.cos(p2) * math.sin(math.radians(site[s][1] - lo) / 2) ** 2
            )
            km = 2 * 6371.0088 * math.asin(math.sqrt(h))
            if km > travel:
                continue
            total = Fraction(0)
            for vs, vspec, g, y, count in zip(
                data.vol_site, data.vol_specialty, data.vol_group, data.vol_year, data.vol_count, strict=True
            ):
                if (vs, vspec, y) == (s, spec, year):
                    cases = Fraction(
                        _half_even(count * share * parameters.rotation_months / 12 / effective * 100), 100
                    )
                    total += weights.get(g, Fraction(1)) * min(cases, Fraction(need.get(g, 0)))
            value = _half_even(total * 100)
            if value > 0 and s not in excluded and (t, s) not in excluded_pairs:
                result[(t, s)] = (value, km)
    return result


@settings(max_examples=200, deadline=None)
@given(inputs(), st.sampled_from([0.5, 0.35, 1.0]), st.integers(1, 12))
def test_eligibility_and_values_follow_the_definitions(data: Inputs, share: float, months: int) -> None:
    parameters = Parameters(training_share=share, rotation_months=months)
    instance = build(data, parameters)
    mine = {
        (instance.trainee_ids[t], instance.site_codes[int(instance.pool_site[p])]): (int(v), float(km))
        for t, p, v, km in zip(
            instance.arc_trainee.tolist(),
            instance.arc_pool.tolist(),
            instance.arc_value.tolist(),
            instance.arc_distance_km.tolist(),
            strict=True,
        )
    }
    expected = _reference(data, parameters)
    assert mine.keys() == expected.keys()
    for key, (value, km) in expected.items():
        assert mine[key][0] == value
        assert mine[key][1] == pytest.approx(km, abs=1e-9)


def test_the_worked_example_numbers_by_hand() -> None:
    """480 knee replacements a year, half to trainees, over 6 of 12 months, shared by 2 slots: 60 each."""
    data = rotation(vol_count=[480], cap_slots=[2], cap_supervisors=[3], cur_indicative=[40])
    instance = build(data, Parameters())
    assert instance.pool_slots.tolist() == [2]  # min(2 slots, 3 supervisors x 1)
    assert instance.cases.tolist() == [[6_000]]
    assert instance.arc_value.tolist() == [4_000]  # min(60, need 40)
    supervised = build(
        replace_columns(data, cap_slots=[5], cap_supervisors=[2], cap_per_supervisor=[2]), Parameters()
    )
    assert supervised.pool_slots.tolist() == [4]  # min(5, 2 x 2)


def test_remaining_need_counts_logbook_entries_at_or_above_the_minimum_supervision() -> None:
    data = rotation(
        cur_indicative=[10],
        cur_min_supervision=["S-TS"],
        log_trainee=["7100001"] * 4,
        log_group=["total_knee_replacement"] * 4,
        log_supervision=["O", "A", "S-TS", "P"],
    )
    assert build(data, Parameters()).needs.tolist() == [[8]]  # O and A do not count
    overridden = replace_columns(
        data, need_trainee=["7100001"], need_group=["total_knee_replacement"], need_remaining=[3]
    )
    assert build(overridden, Parameters()).needs.tolist() == [[3]]  # needs.csv wins


def test_a_need_never_goes_below_zero() -> None:
    data = rotation(
        cur_indicative=[1],
        log_trainee=["7100001"] * 3,
        log_group=["total_knee_replacement"] * 3,
        log_supervision=["P"] * 3,
    )
    instance = build(data, Parameters())
    assert instance.needs.tolist() == [[0]]
    assert instance.unmatched_reason[0].startswith("the site(s) within 30.0 km do none of the procedures")


def test_volumes_of_the_latest_year_by_default_or_the_year_asked() -> None:
    data = rotation(
        vol_site=["NT301"] * 2,
        vol_specialty=["trauma_and_orthopaedics"] * 2,
        vol_group=["total_knee_replacement"] * 2,
        vol_year=["2024-25", "2025-26"],
        vol_count=[40, 80],
    )
    assert build(data, Parameters()).financial_year == "2025-26"
    assert build(data, Parameters()).cases.tolist() == [[2_000]]
    assert build(data, Parameters(financial_year="2024-25")).cases.tolist() == [[1_000]]
    with pytest.raises(ModelError, match="no rows for financial year 2023-24; it has 2024-25, 2025-26"):
        build(data, Parameters(financial_year="2023-24"))


def test_rounding_is_half_to_even_in_hundredths() -> None:
    assert model.round_div(np.array([5, 15, 25, 7]), 10).tolist() == [0, 2, 2, 1]
    # 1 procedure x 0.5 x 1/12 / 1 slot = 0.041666...: 0.04 cases; 3 x 0.5 x 1/12 = 0.125: 0.12 (to even)
    assert build(rotation(vol_count=[1]), Parameters(rotation_months=1)).cases.tolist() == [[4]]
    assert build(rotation(vol_count=[3]), Parameters(rotation_months=1)).cases.tolist() == [[12]]


@pytest.mark.parametrize(
    ("share", "ok"),
    [(0.5, True), (1.0, True), (0.123456, True), (0.1234567, False), (0.0, False), (1.5, False)],
)
def test_training_share_has_at_most_six_decimals(share: float, ok: bool) -> None:
    if ok:
        assert model.share_units(share) == round(share * 1_000_000)
    else:
        with pytest.raises(ModelError, match="training_share"):
            model.share_units(share)


def test_grades_are_ordered_with_run_through_grades_beside_core_grades() -> None:
    levels = [
        GRADE_LEVEL[g] for g in ("FY1", "FY2", "CT1", "CT2", "CT3", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8")
    ]
    assert levels == sorted(levels)
    assert len(set(levels)) == len(levels)
    assert GRADE_LEVEL["ST1"] == GRADE_LEVEL["CT1"]
    assert GRADE_LEVEL["ST2"] == GRADE_LEVEL["CT2"]
    too_junior = build(rotation(trainee_grade=["CT2"], cap_min_grade=["ST3"]), Parameters())
    assert len(too_junior.arc_trainee) == 0
    assert "takes grade CT2" in too_junior.unmatched_reason[0]


def test_great_circle_distance() -> None:
    one_degree = model.great_circle_km(np.array([51.0]), np.array([0.0]), np.array([52.0]), np.array([0.0]))
    assert one_degree[0] == pytest.approx(6371.0088 * math.pi / 180)
    # Big Ben to the Eiffel Tower, about 341 km
    paris = model.great_circle_km(
        np.array([51.5007]), np.array([-0.1246]), np.array([48.8584]), np.array([2.2945])
    )
    assert paris[0] == pytest.approx(341, abs=1)


def test_travel_limit_and_the_nearest_site_in_the_reason() -> None:
    far = rotation(trainee_lat=[52.525], trainee_travel=[50.0])  # one degree north: 111 km
    instance = build(far, Parameters())
    assert len(instance.arc_trainee) == 0
    assert instance.unmatched_reason[0] == (
        "no site taking grade ST4 in trauma_and_orthopaedics is within 50.0 km; "
        "the nearest, NT301, is 111.2 km away"
    )
    near = build(replace_columns(far, trainee_travel=[112.0]), Parameters())
    assert len(near.arc_trainee) == 1


def test_no_site_for_the_specialty() -> None:
    instance = build(rotation(trainee_specialty=["urology"]), Parameters())
    assert instance.unmatched_reason[0] == "no site in the data offers placements in urology"


def test_gates_exclude_and_are_reported() -> None:
    two_sites = rotation(
        site_code=["NT301", "NT302"],
        site_name=["A", "B"],
        site_icb=["QMJ", "QMJ"],
        site_lat=[51.525, 51.53],
        site_lon=[-0.139, -0.14],
        vol_site=["NT301", "NT302"],
        vol_specialty=["trauma_and_orthopaedics"] * 2,
        vol_group=["total_knee_replacement"] * 2,
        vol_year=["2025-26"] * 2,
        vol_count=[100, 100],
        cap_site=["NT301", "NT302"],
        cap_specialty=["trauma_and_orthopaedics"] * 2,
        cap_slots=[1, 1],
        cap_supervisors=[1, 1],
        cap_per_supervisor=[1, 1],
        cap_min_grade=["FY1"] * 2,
        cap_max_grade=["ST8"] * 2,
        excluded_site=["NT301"],
        excluded_site_reason=["failed the additionality check"],
        excluded_pair_trainee=["7100001"],
        excluded_pair_site=["NT302"],
        excluded_pair_reason=["passport does not meet the site's policy"],
    )
    instance = build(two_sites, Parameters())
    assert len(instance.arc_trainee) == 0
    assert instance.exclusions.sites == [("NT301", "failed the additionality check", 1)]
    assert instance.exclusions.pairs == [
        ("7100001", "NT302", "passport does not meet the site's policy", True)
    ]
    assert instance.unmatched_reason[0] == (
        "every site that would suit you is excluded by a gate (NT301: failed the additionality check, "
        "NT302: passport does not meet the site's policy)"
    )


def test_weights_scale_the_value() -> None:
    data = rotation(
        vol_count=[480], cur_indicative=[100], weight_group=["total_knee_replacement"], weight_value=[1500]
    )
    assert build(data, Parameters()).arc_value.tolist() == [15_000]  # 1.5 x min(120 cases, need 100)
