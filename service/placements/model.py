"""The placement model: needs, effective slots, cases per slot, values, eligibility (pure: no web, no DB).

Every quantity is exact so that anyone can check a result with a pencil or a spreadsheet:

- remaining need of trainee t in group g = max(0, indicative_number - logbook entries of t in g at or
  above the curriculum's min_supervision), unless ``needs.csv`` gives it for (t, g);
- effective slots of (site, specialty) = min(slots, recognised_supervisors x trainees_per_supervisor);
- cases per slot in group g = nhs_funded_count x training_share x rotation_months / 12 / effective slots,
  over the volumes of one financial year, **rounded half to even to a hundredth of a case**;
- value of t at s = sum over g of weight_g x min(cases per slot, remaining need), **rounded half to even
  to a hundredth of a weighted case**;
- t is eligible for s when the specialties match, min_grade <= grade <= max_grade, the great-circle
  distance is at most max_travel_km, the value is positive, and no gate excludes the site or the pair.

Values are held as integers in hundredths (:data:`UNITS`), so the solvers compare them exactly; see
``docs/decisions/0006-matching-objective.md`` for why hundredths and why they fit in 64 bits.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UNITS: Final = 100
"""Cases, needs and values are integers in hundredths of a (weighted) case."""
WEIGHT_UNITS: Final = 1000
"""Weights have at most three decimals: held in thousandths."""
SHARE_UNITS: Final = 1_000_000
"""training_share has at most six decimals: held in millionths."""
EARTH_RADIUS_KM: Final = 6371.0088
"""Mean Earth radius (IUGG), used by :func:`great_circle_km`."""

GRADES: Final = ("FY1", "FY2", "CT1", "CT2", "CT3", "ST1", "ST2", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8")
GRADE_LEVEL: Final[Mapping[str, int]] = {
    "FY1": 0,
    "FY2": 1,
    "CT1": 2,
    "ST1": 2,
    "CT2": 3,
    "ST2": 3,
    "CT3": 4,
    "ST3": 5,
    "ST4": 6,
    "ST5": 7,
    "ST6": 8,
    "ST7": 9,
    "ST8": 10,
}
"""FY1 < FY2 < CT1 < CT2 < CT3 < ST3 < ... < ST8; run-through ST1 and ST2 rank with CT1 and CT2."""
SUPERVISION: Final = ("O", "A", "S-TS", "S-TU", "P", "T")
"""Logbook supervision codes in increasing independence: observed, assisted, supervised with trainer
scrubbed, supervised with trainer unscrubbed, performed, training a more junior trainee."""
SUPERVISION_LEVEL: Final[Mapping[str, int]] = {code: level for level, code in enumerate(SUPERVISION)}

BLOCK: Final = 1024
"""Trainees per block when pairing trainees with sites: small enough for a narrow latitude band."""
DEFAULT_TRAINING_SHARE: Final = 0.5
DEFAULT_ROTATION_MONTHS: Final = 6


class ModelError(ValueError):
    """The inputs cannot be modelled (for example: no volumes in the chosen year)."""


@dataclass(frozen=True)
class Parameters:
    """The parameters of a run (recorded with it)."""

    training_share: float = DEFAULT_TRAINING_SHARE
    rotation_months: int = DEFAULT_ROTATION_MONTHS
    financial_year: str | None = None
    """``YYYY-YY``; None: the latest year in the volumes."""
    seed: int = 0


def share_units(share: float) -> int:
    """``share`` (0 < share <= 1, at most six decimals) in millionths; ModelError otherwise."""
    try:
        exact = Decimal(repr(float(share)))
    except (InvalidOperation, ValueError):
        raise ModelError("training_share must be a number") from None
    scaled = exact * SHARE_UNITS
    if not (0 < exact <= 1) or scaled != scaled.to_integral_value():
        raise ModelError("training_share must be more than 0 and at most 1, with at most six decimals")
    return int(scaled)


def round_div(numerator: IntArray, denominator: IntArray | int) -> IntArray:
    """``numerator / denominator`` rounded half to even, exactly, for non-negative integer arrays."""
    quotient, remainder = np.divmod(numerator, denominator)
    twice = 2 * remainder
    up = (twice > denominator) | ((twice == denominator) & (quotient % 2 == 1))
    result: IntArray = quotient + up
    return result


def great_circle_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Haversine distance in km on a sphere of radius :data:`EARTH_RADIUS_KM` (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlambda = np.radians(lon2) - np.radians(lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlambda / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return result


def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Points on the unit sphere, (n x 3): their dot product is the cosine of the central angle."""
    phi, lam = np.radians(lat), np.radians(lon)
    result: FloatArray = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    return result


# ---------------------------------------------------------------- inputs (columnar)


@dataclass(frozen=True)
class Inputs:
    """The checked contents of the input files, one list per column (see ``csv_import.py``).

    Codes are normalised (upper case), numbers converted; ``*_line`` give each row's line in its file
    (header = 1) so that problems found across files can still name file, row and column.
    """

    site_code: list[str]
    site_name: list[str]
    site_icb: list[str]
    site_lat: list[float]
    site_lon: list[float]

    vol_site: list[str]
    vol_specialty: list[str]
    vol_group: list[str]
    vol_year: list[str]
    vol_count: list[int]

    cap_site: list[str]
    cap_specialty: list[str]
    cap_slots: list[int]
    cap_supervisors: list[int]
    cap_per_supervisor: list[int]
    cap_min_grade: list[str]
    cap_max_grade: list[str]

    trainee_id: list[str]
    trainee_grade: list[str]
    trainee_specialty: list[str]
    trainee_lat: list[float]
    trainee_lon: list[float]
    trainee_travel: list[float]

    cur_specialty: list[str]
    cur_group: list[str]
    cur_indicative: list[int]
    cur_min_supervision: list[str]

    log_trainee: list[str]
    log_group: list[str]
    log_supervision: list[str]

    need_trainee: list[str] = field(default_factory=list)
    need_group: list[str] = field(default_factory=list)
    need_remaining: list[int] = field(default_factory=list)

    pref_trainee: list[str] = field(default_factory=list)
    pref_site: list[str] = field(default_factory=list)
    pref_rank: list[int] = field(default_factory=list)

    weight_group: list[str] = field(default_factory=list)
    weight_value: list[int] = field(default_factory=list)
    """In thousandths (:data:`WEIGHT_UNITS`)."""

    excluded_site: list[str] = field(default_factory=list)
    excluded_site_reason: list[str] = field(default_factory=list)
    excluded_pair_trainee: list[str] = field(default_factory=list)
    excluded_pair_site: list[str] = field(default_factory=list)
    excluded_pair_reason: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the instance


@dataclass(frozen=True)
class Instance:
    """Everything the solvers and the explanations need, as arrays.

    Trainees are indexed in trainee_id order, sites in site_code order, pools (a site's capacity for
    one specialty) in (site_code, specialty) order, groups in name order. Arcs are the eligible
    (trainee, pool) pairs in (trainee, site) order.
    """

    parameters: Parameters
    financial_year: str
    trainee_ids: list[str]
    trainee_specialty: list[str]
    trainee_grade: list[str]
    site_codes: list[str]
    site_names: list[str]
    groups: list[str]
    weights: IntArray
    """Per group, in thousandths."""
    pool_site: IntArray
    pool_specialty: list[str]
    pool_slots: IntArray
    """Effective slots per pool."""
    cases: IntArray
    """Cases per slot, (pools x groups), in hundredths."""
    needs: IntArray
    """Remaining need, (trainees x groups), whole cases."""
    weighted_need: IntArray
    """Per trainee: sum of weight x need, in hundredths."""
    arc_trainee: IntArray
    arc_pool: IntArray
    arc_value: IntArray
    """Hundredths of a weighted case."""
    arc_distance_m: IntArray
    """Great-circle distance rounded to the metre."""
    arc_distance_km: FloatArray
    arc_rank: IntArray
    """The trainee's preference rank of the site; 0 when the site is not ranked."""
    has_preferences: BoolArray
    """Per trainee: gave at least one preference."""
    worst_rank: int
    """Rank counted for an unranked site: one more than the largest rank given (1 with none)."""
    exclusions: "Exclusions"
    unmatched_reason: list[str]
    """Per trainee: why no site is eligible ("" when some site is)."""

    @property
    def n_trainees(self) -> int:
        return len(self.trainee_ids)

    @property
    def n_pools(self) -> int:
        return len(self.pool_specialty)


@dataclass(frozen=True)
class Exclusions:
    """The gates applied, each reported in the result."""

    sites: list[tuple[str, str, int]]
    """(site_code, reason, trainees it would otherwise have been eligible for)."""
    pairs: list[tuple[str, str, str, bool]]
    """(trainee_id, site_code, reason, whether the pair would otherwise have been eligible)."""


def latest_year(years: Sequence[str]) -> str | None:
    return max(years) if years else None


def _index(values: Sequence[str]) -> dict[str, int]:
    return {value: i for i, value in enumerate(values)}


def _codes(mapping: Mapping[str, int], values: Sequence[str], missing: int | None = None) -> IntArray:
    """``values`` looked up in ``mapping`` (``missing`` for unknown ones; None: all are known), vectorised."""
    if missing is not None:
        lookup = dict.fromkeys(set(values), missing)
        lookup.update(mapping)
        mapping = lookup
    return np.fromiter(map(mapping.__getitem__, values), dtype=np.int64, count=len(values))


def remaining_needs(
    inputs: Inputs, trainees: Mapping[str, int], groups: Mapping[str, int], specialty_of: Sequence[str]
) -> IntArray:
    """(trainees x groups) remaining need: curriculum minus qualifying logbook entries, or needs.csv."""
    specialties = sorted(set(inputs.cur_specialty) | set(specialty_of))
    spec_index = _index(specialties)
    target = np.zeros((len(specialties), len(groups)), dtype=np.int64)
    min_level = np.full((len(specialties), len(groups)), len(SUPERVISION), dtype=np.int64)
    cs, cg = _codes(spec_index, inputs.cur_specialty), _codes(groups, inputs.cur_group)
    target[cs, cg] = inputs.cur_indicative
    min_level[cs, cg] = _codes(SUPERVISION_LEVEL, inputs.cur_min_supervision)
    t_spec = _codes(spec_index, specialty_of)
    needs: IntArray = target[t_spec]
    if inputs.log_trainee:
        lt = _codes(trainees, inputs.log_trainee)
        lg = _codes(groups, inputs.log_group, missing=-1)
        logged = _codes(SUPERVISION_LEVEL, inputs.log_supervision)
        known = lg >= 0  # a group in no curriculum, volume or need counts towards nothing
        lt, lg, logged = lt[known], lg[known], logged[known]
        counts = logged >= min_level[t_spec[lt], lg]
        done = np.bincount(lt[counts] * len(groups) + lg[counts], minlength=needs.size)
        needs = np.maximum(needs - done.reshape(needs.shape), 0)
    if inputs.need_trainee:
        needs[_codes(trainees, inputs.need_trainee), _codes(groups, inputs.need_group)] = (
            inputs.need_remaining
        )
    return needs


def cases_per_slot(volumes: IntArray, slots: IntArray, share: int, months: int) -> IntArray:
    """Hundredths of a case per slot: count x share x months / 12 / slots, rounded half to even.

    ``volumes`` is (pools x groups) whole procedures, ``share`` in millionths; slots > 0.
    """
    numerator = volumes * share * months * UNITS  # at most 1e7 x 1e6 x 24 x 1e2: fits in 63 bits
    return round_div(numerator, (12 * SHARE_UNITS * slots)[:, None])


def pair_values(cases: IntArray, needs: IntArray, weights: IntArray) -> IntArray:
    """Hundredths of a weighted case: sum of weight x min(cases, need), rounded half to even.

    ``cases`` and ``needs`` (pairs x groups) in hundredths, ``weights`` per group in thousandths.
    """
    covered = np.minimum(cases, needs)
    return round_div((covered * weights).sum(axis=1), WEIGHT_UNITS)


def _describe_list(codes: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


class _Reasons:
    """Why a trainee has no eligible site: the first filter that left them with nothing."""

    def __init__(self, n: int) -> None:
        # filters passed: 0 no pool in the specialty, 1 none takes the grade, 2 none within reach,
        # 3 no value, 4 every valuable site excluded by a gate
        self.stage = np.zeros(n, dtype=np.int64)
        self.nearest = np.full(n, np.inf)
        self.nearest_pool = np.full(n, -1, dtype=np.int64)

    def passed(self, trainees: IntArray, stage: int) -> None:
        self.stage[trainees] = np.maximum(self.stage[trainees], stage)


@dataclass
class _Sides:
    """Trainees (in trainee_id order) and pools (in site, specialty order) as arrays."""

    level: IntArray
    lat: FloatArray
    lon: FloatArray
    travel: FloatArray
    vectors: FloatArray
    pool_site: IntArray
    pool_min: IntArray
    pool_max: IntArray
    pool_slots: IntArray
    site_lat: FloatArray
    site_lon: FloatArray
    site_vectors: FloatArray
    cases: IntArray
    needs: IntArray
    weights: IntArray


def _grade_ok(sides: _Sides, tt: IntArray, pp: IntArray) -> BoolArray:
    level = sides.level[tt][:, None]
    ok: BoolArray = (
        (sides.pool_min[pp][None, :] <= level)
        & (level <= sides.pool_max[pp][None, :])
        & (sides.pool_slots[pp] > 0)[None, :]
    )
    return ok


def _nearest(sides: _Sides, tt: IntArray, pp: IntArray, reasons: _Reasons) -> None:
    """For trainees no site reaches: the nearest site that takes their grade (for the reason given)."""
    grade_ok = _grade_ok(sides, tt, pp)
    site_of = sides.pool_site[pp]
    dot = np.where(grade_ok, sides.vectors[tt] @ sides.site_vectors[site_of].T, -np.inf)
    nearest = dot.argmax(axis=1)
    sel = np.flatnonzero(np.isfinite(dot[np.arange(len(tt)), nearest]))
    near = site_of[nearest[sel]]
    reasons.nearest[tt[sel]] = great_circle_km(
        sides.lat[tt[sel]], sides.lon[tt[sel]], sides.site_lat[near], sides.site_lon[near]
    )
    reasons.nearest_pool[tt[sel]] = pp[nearest[sel]]


def _pairs_for(
    sides: _Sides, tt: IntArray, pp: IntArray, spec_groups: IntArray, reasons: _Reasons
) -> tuple[IntArray, IntArray, FloatArray, IntArray] | None:
    """The (trainee, pool) pairs of one block (trainees of one specialty, the pools that might be within
    their reach) that pass grade, travel and value."""
    grade_ok = _grade_ok(sides, tt, pp)
    # Filter on the dot product of unit vectors (one matrix product), then measure the candidates
    # exactly: d <= limit  <=>  cos(d / R) >= cos(limit / R); the margin keeps every borderline pair.
    site_of = sides.pool_site[pp]
    dot = sides.vectors[tt] @ sides.site_vectors[site_of].T
    threshold = np.cos(np.minimum(sides.travel[tt] / EARTH_RADIUS_KM, np.pi)) - 1e-9
    rows, cols = np.nonzero(grade_ok & (dot >= threshold[:, None]))
    cand = site_of[cols]
    exact = great_circle_km(
        sides.lat[tt[rows]], sides.lon[tt[rows]], sides.site_lat[cand], sides.site_lon[cand]
    )
    inside = exact <= sides.travel[tt[rows]]
    rows, cols, exact = rows[inside], cols[inside], exact[inside]
    reasons.passed(tt[np.unique(rows)], 3)
    if len(rows) == 0:
        return None
    at, ap = tt[rows], pp[cols]
    if len(spec_groups):
        g = spec_groups
        value = pair_values(sides.cases[ap][:, g], sides.needs[at][:, g] * UNITS, sides.weights[g])
    else:
        value = np.zeros(len(at), dtype=np.int64)
    positive = value > 0
    reasons.passed(np.unique(at[positive]), 4)
    return at[positive], ap[positive], exact[positive], value[positive]


def _grade_takes(sides: _Sides, pp: IntArray) -> BoolArray:
    """Per grade level, whether some pool among ``pp`` with slots takes it."""
    takes = np.zeros(max(GRADE_LEVEL.values()) + 1, dtype=np.bool_)
    open_ = sides.pool_slots[pp] > 0
    for low, high in zip(sides.pool_min[pp][open_].tolist(), sides.pool_max[pp][open_].tolist(), strict=True):
        takes[low : high + 1] = True
    return takes


def _blocks(sides: _Sides, tt: IntArray, pp: IntArray, size: int) -> list[tuple[IntArray, IntArray]]:
    """Trainees in latitude order, in blocks, each with only the pools in its latitude band: a site more
    than the block's longest travel limit north or south is farther than that (d >= R x |dlat|)."""
    tt = tt[np.argsort(sides.lat[tt], kind="stable")]
    pool_lat = sides.site_lat[sides.pool_site[pp]]
    blocks = []
    for start in range(0, len(tt), size):
        block = tt[start : start + size]
        reach = np.degrees(sides.travel[block].max() / EARTH_RADIUS_KM) + 1e-6
        low, high = sides.lat[block].min() - reach, sides.lat[block].max() + reach
        blocks.append((block, pp[(pool_lat >= low) & (pool_lat <= high)]))
    return blocks


@dataclass
class _Gates:
    """The exclusions, and which would-be arcs each removed."""

    sites: dict[str, str]
    pairs: dict[tuple[int, int], str]
    site_index: BoolArray
    pair_keys: IntArray
    n_sites: int
    site_lost: dict[str, set[int]] = field(default_factory=dict)
    pair_lost: set[tuple[int, int]] = field(default_factory=set)

    def apply(self, at: IntArray, ap_site: IntArray, site_codes: Sequence[str]) -> BoolArray:
        """Which of the arcs (trainee, site) survive the gates; records what each gate took."""
        gated = self.site_index[ap_site]
        for t, s in zip(at[gated].tolist(), ap_site[gated].tolist(), strict=True):
            self.site_lost.setdefault(site_codes[s], set()).add(t)
        keep = ~gated
        if len(self.pair_keys):
            hit = keep & np.isin(at * self.n_sites + ap_site, self.pair_keys)
            self.pair_lost.update(zip(at[hit].tolist(), ap_site[hit].tolist(), strict=True))
            keep &= ~hit
        return keep


def _weights(inputs: Inputs, groups: Mapping[str, int]) -> IntArray:
    weights = np.full(len(groups), WEIGHT_UNITS, dtype=np.int64)
    if inputs.weight_group:
        weights[_codes(groups, inputs.weight_group)] = inputs.weight_value
    return weights


def _year(inputs: Inputs, parameters: Parameters) -> str:
    years = sorted(set(inputs.vol_year))
    year = parameters.financial_year or latest_year(years)
    if year is None:
        raise ModelError("volumes.csv has no rows: no site has procedure volumes")
    if year not in years:
        raise ModelError(f"volumes.csv has no rows for financial year {year}; it has {', '.join(years)}")
    return year


def _ranks(
    inputs: Inputs,
    trainees: Mapping[str, int],
    sites: Mapping[str, int],
    arc_trainee: IntArray,
    arc_site: IntArray,
) -> tuple[IntArray, BoolArray, int]:
    """Per arc the trainee's rank of the site (0: not ranked); who ranked; the worst rank."""
    has_preferences = np.zeros(len(trainees), dtype=np.bool_)
    arc_rank = np.zeros(len(arc_trainee), dtype=np.int64)
    if not inputs.pref_trainee:
        return arc_rank, has_preferences, 1
    pt, ps = _codes(trainees, inputs.pref_trainee), _codes(sites, inputs.pref_site)
    ranks = np.array(inputs.pref_rank, dtype=np.int64)
    has_preferences[pt] = True
    keys = pt * len(sites) + ps
    by_key = np.argsort(keys)
    keys, ranks_sorted = keys[by_key], ranks[by_key]
    arc_keys = arc_trainee * len(sites) + arc_site
    where = np.minimum(np.searchsorted(keys, arc_keys), len(keys) - 1)
    arc_rank = np.where(keys[where] == arc_keys, ranks_sorted[where], 0)
    return arc_rank, has_preferences, int(ranks.max()) + 1


def build(inputs: Inputs, parameters: Parameters) -> Instance:
    """The instance for ``parameters``; :class:`ModelError` when it cannot be built."""
    share = share_units(parameters.training_share)
    months = parameters.rotation_months
    if not 1 <= months <= 24:
        raise ModelError("rotation_months must be a whole number from 1 to 24")
    year = _year(inputs, parameters)

    order = np.argsort(np.array(inputs.trainee_id, dtype=str), kind="stable")
    trainee_ids = np.array(inputs.trainee_id, dtype=object)[order].tolist()
    t_spec = np.array(inputs.trainee_specialty, dtype=object)[order].tolist()
    t_grade = np.array(inputs.trainee_grade, dtype=object)[order].tolist()
    t_lat = np.array(inputs.trainee_lat, dtype=np.float64)[order]
    t_lon = np.array(inputs.trainee_lon, dtype=np.float64)[order]
    trainees = _index(trainee_ids)

    site_order = sorted(range(len(inputs.site_code)), key=inputs.site_code.__getitem__)
    site_codes = [inputs.site_code[i] for i in site_order]
    s_lat = np.array(inputs.site_lat, dtype=np.float64)[site_order]
    s_lon = np.array(inputs.site_lon, dtype=np.float64)[site_order]
    sites = _index(site_codes)

    groups_list = sorted(
        set(inputs.cur_group) | set(inputs.vol_group) | set(inputs.need_group) | set(inputs.weight_group)
    )
    groups = _index(groups_list)
    weights = _weights(inputs, groups)

    pool_order = sorted(
        range(len(inputs.cap_site)), key=lambda i: (inputs.cap_site[i], inputs.cap_specialty[i])
    )
    pool_site = _codes(sites, [inputs.cap_site[i] for i in pool_order])
    pool_spec = [inputs.cap_specialty[i] for i in pool_order]
    raw_slots = np.array(inputs.cap_slots, dtype=np.int64)[pool_order]
    supervised = (np.array(inputs.cap_supervisors, dtype=np.int64) * inputs.cap_per_supervisor)[pool_order]
    pool_slots = np.minimum(raw_slots, supervised)
    pools = {(inputs.cap_site[i], inputs.cap_specialty[i]): k for k, i in enumerate(pool_order)}

    volumes = np.zeros((len(pool_order), len(groups_list)), dtype=np.int64)
    for s, spec, g, y, n in zip(
        inputs.vol_site,
        inputs.vol_specialty,
        inputs.vol_group,
        inputs.vol_year,
        inputs.vol_count,
        strict=True,
    ):
        pool = pools.get((s, spec))
        if y == year and pool is not None:
            volumes[pool, groups[g]] += n
    cases = np.zeros_like(volumes)
    open_pools = pool_slots > 0
    if open_pools.any():
        cases[open_pools] = cases_per_slot(volumes[open_pools], pool_slots[open_pools], share, months)

    needs = remaining_needs(inputs, trainees, groups, t_spec)
    weighted_need = round_div((needs * UNITS * weights).sum(axis=1), WEIGHT_UNITS)

    sides = _Sides(
        level=_codes(GRADE_LEVEL, t_grade),
        lat=t_lat,
        lon=t_lon,
        travel=np.array(inputs.trainee_travel, dtype=np.float64)[order],
        vectors=unit_vectors(t_lat, t_lon),
        pool_site=pool_site,
        pool_min=_codes(GRADE_LEVEL, [inputs.cap_min_grade[i] for i in pool_order]),
        pool_max=_codes(GRADE_LEVEL, [inputs.cap_max_grade[i] for i in pool_order]),
        pool_slots=pool_slots,
        site_lat=s_lat,
        site_lon=s_lon,
        site_vectors=unit_vectors(s_lat, s_lon),
        cases=cases,
        needs=needs,
        weights=weights,
    )
    excluded_pairs = {
        (trainees[t], sites[s]): r
        for t, s, r in zip(
            inputs.excluded_pair_trainee, inputs.excluded_pair_site, inputs.excluded_pair_reason, strict=True
        )
    }
    gates = _Gates(
        sites=dict(zip(inputs.excluded_site, inputs.excluded_site_reason, strict=True)),
        pairs=excluded_pairs,
        site_index=np.isin(np.arange(len(site_codes)), [sites[s] for s in inputs.excluded_site]),
        pair_keys=np.array([t * len(site_codes) + s for t, s in excluded_pairs], dtype=np.int64),
        n_sites=len(site_codes),
    )
    reasons = _Reasons(len(trainee_ids))
    spec_of_trainees: dict[str, list[int]] = {}
    for t, spec in enumerate(t_spec):
        spec_of_trainees.setdefault(spec, []).append(t)
    pool_of_spec: dict[str, list[int]] = {}
    for p, spec in enumerate(pool_spec):
        pool_of_spec.setdefault(spec, []).append(p)

    parts: list[tuple[IntArray, IntArray, FloatArray, IntArray]] = []
    for spec, members in spec_of_trainees.items():
        if spec not in pool_of_spec:
            continue
        tt = np.array(members, dtype=np.int64)
        pp = np.array(pool_of_spec[spec], dtype=np.int64)
        reasons.passed(tt, 1)
        takes = _grade_takes(sides, pp)
        reasons.passed(tt[takes[sides.level[tt]]], 2)
        spec_groups = np.flatnonzero(volumes[pp].any(axis=0) & needs[tt].any(axis=0))
        for block, band in _blocks(sides, tt, pp, BLOCK):
            found = _pairs_for(sides, block, band, spec_groups, reasons) if len(band) else None
            if found is not None:
                at, ap, km, value = found
                keep = gates.apply(at, pool_site[ap], site_codes)
                parts.append((at[keep], ap[keep], km[keep], value[keep]))
        unreached = tt[reasons.stage[tt] == 2]
        if len(unreached):
            _nearest(sides, unreached, pp, reasons)

    arc_trainee = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    arc_pool = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    arc_km = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=np.float64)
    arc_value = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    by_arc = np.lexsort((pool_site[arc_pool], arc_trainee))
    arc_trainee, arc_pool, arc_km, arc_value = (
        arc_trainee[by_arc],
        arc_pool[by_arc],
        arc_km[by_arc],
        arc_value[by_arc],
    )
    arc_rank, has_preferences, worst_rank = _ranks(inputs, trainees, sites, arc_trainee, pool_site[arc_pool])

    unmatched_reason = _no_site_reasons(
        np.bincount(arc_trainee, minlength=len(trainee_ids)),
        reasons,
        t_spec,
        t_grade,
        sides.travel,
        site_codes,
        pool_site,
        pool_of_spec,
        gates,
    )
    exclusions = Exclusions(
        sites=[(s, r, len(gates.site_lost.get(s, ()))) for s, r in sorted(gates.sites.items())],
        pairs=sorted(
            (trainee_ids[t], site_codes[s], r, (t, s) in gates.pair_lost)
            for (t, s), r in excluded_pairs.items()
        ),
    )
    return Instance(
        parameters=parameters,
        financial_year=year,
        trainee_ids=trainee_ids,
        trainee_specialty=t_spec,
        trainee_grade=t_grade,
        site_codes=site_codes,
        site_names=[inputs.site_name[i] for i in site_order],
        groups=groups_list,
        weights=weights,
        pool_site=pool_site,
        pool_specialty=pool_spec,
        pool_slots=pool_slots,
        cases=cases,
        needs=needs,
        weighted_need=weighted_need,
        arc_trainee=arc_trainee,
        arc_pool=arc_pool,
        arc_value=arc_value,
        arc_distance_m=np.rint(arc_km * 1000).astype(np.int64),
        arc_distance_km=arc_km,
        arc_rank=arc_rank,
        has_preferences=has_preferences,
        worst_rank=worst_rank,
        exclusions=exclusions,
        unmatched_reason=unmatched_reason,
    )


def _no_site_reasons(
    eligible_count: IntArray,
    reasons: _Reasons,
    t_spec: Sequence[str],
    t_grade: Sequence[str],
    t_travel: FloatArray,
    site_codes: Sequence[str],
    pool_site: IntArray,
    pool_of_spec: Mapping[str, list[int]],
    gates: _Gates,
) -> list[str]:
    out = [""] * len(t_spec)
    for t in np.flatnonzero(eligible_count == 0).tolist():
        stage = int(reasons.stage[t])
        spec = t_spec[t]
        if stage == 0:
            out[t] = f"no site in the data offers placements in {spec}"
        elif stage == 1:
            n = len(pool_of_spec.get(spec, ()))
            out[t] = (
                f"none of the {n} site(s) offering {spec} takes grade {t_grade[t]} "
                "(grade limits, or no slots)"
            )
        elif stage == 2:
            nearest = site_codes[pool_site[reasons.nearest_pool[t]]]
            out[t] = (
                f"no site taking grade {t_grade[t]} in {spec} is within {_km(t_travel[t])} km; "
                f"the nearest, {nearest}, is {_km(reasons.nearest[t])} km away"
            )
        elif stage == 3:
            out[t] = (
                f"the site(s) within {_km(t_travel[t])} km do none of the procedures you still need "
                "(or have no NHS-funded volume in them this year)"
            )
        else:
            found = [f"{s}: {r}" for s, r in gates.sites.items() if t in gates.site_lost.get(s, ())]
            found += [
                f"{site_codes[s]}: {r}"
                for (tt, s), r in gates.pairs.items()
                if tt == t and (tt, s) in gates.pair_lost
            ]
            out[t] = "every site that would suit you is excluded by a gate (" + _describe_list(found) + ")"
    return out


def _km(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "?"
