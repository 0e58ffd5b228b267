"""The three modes against brute force on small random instances, and the invariants (hypothesis)."""

import dataclasses
import itertools
import random
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.placements import matching
from service.placements.model import Inputs, Instance, Parameters, build
from tests.placements.builders import inputs, relabel, replace_columns, rotation

SETTINGS = settings(max_examples=150, deadline=None)


def _assignments(instance: Instance) -> Iterator[tuple[int, ...]]:
    """Every feasible assignment: per trainee -1 (unplaced) or one of its arcs, within capacity."""
    options = [[-1, *np.flatnonzero(instance.arc_trainee == t).tolist()] for t in range(instance.n_trainees)]
    for combo in itertools.product(*options):
        arcs = [a for a in combo if a >= 0]
        load = np.bincount(instance.arc_pool[arcs], minlength=instance.n_pools) if arcs else 0
        if np.all(load <= instance.pool_slots):
            yield combo


def _objective(instance: Instance, combo: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The optimal mode's objective as defined in docs/decisions/0006: larger is better."""
    arcs = [a for a in combo if a >= 0]
    value = sum(int(instance.arc_value[a]) for a in arcs)
    worst = instance.worst_rank
    ranks = sum(int(instance.arc_rank[a]) or worst for a in arcs) + (len(combo) - len(arcs)) * (worst + 1)
    longest = int(instance.arc_distance_m.max()) if len(instance.arc_distance_m) else 0
    distance = sum(int(instance.arc_distance_m[a]) for a in arcs) + (len(combo) - len(arcs)) * (longest + 1)
    tie = matching.tie_break_gains(instance)
    return value, -ranks, -distance, sum(int(tie[a]) for a in arcs)


def _combo(chosen: np.ndarray) -> tuple[int, ...]:
    return tuple(int(a) for a in chosen)


def _instance(data: Inputs, seed: int = 0) -> Instance:
    return build(data, Parameters(seed=seed))


def _feasible(instance: Instance, chosen: np.ndarray) -> None:
    """No slot over capacity, only eligible pairs, each arc its own trainee's."""
    placed = chosen[chosen >= 0]
    assert set(instance.arc_trainee[placed].tolist()) == set(np.flatnonzero(chosen >= 0).tolist())
    assert (instance.arc_trainee[chosen[chosen >= 0]] == np.flatnonzero(chosen >= 0)).all()
    load = np.bincount(instance.arc_pool[placed], minlength=instance.n_pools)
    assert (load <= instance.pool_slots).all()
    assert (instance.arc_value[placed] > 0).all()


# ---------------------------------------------------------------- optimal


@SETTINGS
@given(inputs(), st.integers(0, 3))
def test_optimal_is_the_lexicographic_best_of_all_assignments(data: Inputs, seed: int) -> None:
    instance = _instance(data, seed)
    chosen = matching.match_optimal(instance)
    _feasible(instance, chosen)
    best = max(_objective(instance, c) for c in _assignments(instance))
    assert _objective(instance, _combo(chosen)) == best


def _optimal_value(instance: Instance) -> int:
    chosen = matching.match_optimal(instance)
    return int(instance.arc_value[chosen[chosen >= 0]].sum())


@SETTINGS
@given(inputs())
def test_adding_a_slot_never_lowers_the_optimal_value(data: Inputs) -> None:
    """More capacity at the same values never lowers the optimum (the solver's invariant)."""
    before = _instance(data)
    value = _optimal_value(before)
    for pool in range(before.n_pools):
        slots = before.pool_slots.copy()
        slots[pool] += 1
        assert _optimal_value(dataclasses.replace(before, pool_slots=slots)) >= value


def test_a_slot_added_in_the_data_dilutes_cases_per_slot() -> None:
    """In the data, one more slot spreads a site's volume thinner (the formula divides by effective
    slots, filled or not), so the total can fall: the case the invariant above leaves out on purpose."""
    data = rotation(cur_indicative=[100])
    one = _optimal_value(_instance(data))
    two = _optimal_value(_instance(replace_columns(data, cap_slots=[2], cap_supervisors=[2])))
    assert (one, two) == (2_500, 1_250)  # 100 x 0.5 x 6/12 = 25 cases for one slot, 12.5 each for two


# ---------------------------------------------------------------- stable


def _stable_reference(instance: Instance) -> tuple[int, ...] | None:
    """The trainee-optimal stable matching by enumeration (None when the instance has no arcs)."""
    lists, starts = matching.preference_lists(instance)
    position = {int(a): i - int(starts[instance.arc_trainee[a]]) for i, a in enumerate(lists.tolist())}

    def trainee_prefers(t: int, a: int, current: int) -> bool:
        return a in position and (current < 0 or position[a] < position[current])

    def site_prefers(a: int, b: int) -> bool:  # does the site of arc a rank a's trainee above b's?
        va, vb = int(instance.arc_value[a]), int(instance.arc_value[b])
        return va > vb or (va == vb and instance.arc_trainee[a] < instance.arc_trainee[b])

    stable = []
    for combo in _assignments(instance):
        if any(a >= 0 and a not in position for a in combo):
            continue
        blocked = False
        for a in range(len(instance.arc_trainee)):
            t, pool = int(instance.arc_trainee[a]), int(instance.arc_pool[a])
            if not trainee_prefers(t, a, combo[t]):
                continue
            held = [b for b in combo if b >= 0 and instance.arc_pool[b] == pool]
            if len(held) < instance.pool_slots[pool] or any(site_prefers(a, b) for b in held):
                blocked = True
                break
        if not blocked:
            stable.append(combo)
    assert stable, "a stable matching always exists"
    best = []
    for t in range(instance.n_trainees):
        partners = {c[t] for c in stable}
        top = min(partners, key=lambda a: position[a] if a >= 0 else 10**9)
        best.append(top)
    assert tuple(best) in stable, "the trainee-optimal stable matching is one of them"
    return tuple(best)


@SETTINGS
@given(inputs())
def test_stable_has_no_blocking_pair_and_is_trainee_optimal(data: Inputs) -> None:
    instance = _instance(data)
    chosen = matching.match_stable(instance)
    _feasible(instance, chosen)
    assert len(matching.blocking_pairs(instance, chosen)) == 0
    assert _combo(chosen) == _stable_reference(instance)


@settings(max_examples=400, deadline=None)
@given(inputs(), st.randoms(use_true_random=False))
def test_the_blocking_pair_check_finds_what_the_definition_finds(data: Inputs, rnd: random.Random) -> None:
    """The independent checker against the definition, on arbitrary feasible assignments."""
    instance = _instance(data)
    lists, starts = matching.preference_lists(instance)
    position = {int(a): i - int(starts[instance.arc_trainee[a]]) for i, a in enumerate(lists.tolist())}
    combos = list(_assignments(instance))
    combo = rnd.choice(combos)  # any feasible assignment, even one placing trainees off their lists
    expected = set()
    for a in range(len(instance.arc_trainee)):
        t, pool = int(instance.arc_trainee[a]), int(instance.arc_pool[a])
        current = combo[t]
        if a not in position or (current >= 0 and current in position and position[current] <= position[a]):
            continue
        held = [b for b in combo if b >= 0 and instance.arc_pool[b] == pool]
        better = [
            b
            for b in held
            if (instance.arc_value[a], -instance.arc_trainee[a])
            > (instance.arc_value[b], -instance.arc_trainee[b])
        ]
        if len(held) < instance.pool_slots[pool] or better:
            expected.add(a)
    chosen = np.array(combo, dtype=np.int64)
    assert set(matching.blocking_pairs(instance, chosen).tolist()) == expected


# ---------------------------------------------------------------- fair


def _share(instance: Instance, arc: int) -> Fraction:
    t = int(instance.arc_trainee[arc])
    return Fraction(int(instance.arc_value[arc]), int(instance.weighted_need[t]))


@SETTINGS
@given(inputs())
def test_fair_places_the_most_then_the_best_smallest_share_then_the_most_value(data: Inputs) -> None:
    instance = _instance(data)
    outcome = matching.match_fair(instance)
    chosen = outcome.chosen
    _feasible(instance, chosen)
    combos = list(_assignments(instance))
    most = max(sum(a >= 0 for a in c) for c in combos)

    def key(c: tuple[int, ...]) -> tuple[Fraction, int]:
        arcs = [a for a in c if a >= 0]
        smallest = min((_share(instance, a) for a in arcs), default=Fraction(0))
        return smallest, sum(int(instance.arc_value[a]) for a in arcs)

    best = max(key(c) for c in combos if sum(a >= 0 for a in c) == most)
    mine = _combo(chosen)
    assert sum(a >= 0 for a in mine) == most == outcome.most_placed
    assert key(mine) == best
    if most:
        assert outcome.min_share == best[0]


# ---------------------------------------------------------------- labels and order


def _placements(instance: Instance, chosen: np.ndarray) -> set[tuple[str, str]]:
    return {
        (instance.trainee_ids[t], instance.site_codes[int(instance.pool_site[instance.arc_pool[a]])])
        for t, a in enumerate(chosen.tolist())
        if a >= 0
    }


MODES: dict[str, Callable[[Instance], npt.NDArray[np.int64]]] = {
    "optimal": matching.match_optimal,
    "stable": matching.match_stable,
    "fair": lambda i: matching.match_fair(i).chosen,
}


@SETTINGS
@given(inputs(), st.sampled_from(sorted(MODES)), st.randoms(use_true_random=False))
def test_relabelling_trainees_in_order_and_shuffling_rows_change_nothing_but_labels(
    data: Inputs, mode: str, rnd: random.Random
) -> None:
    mapping = {t: str(int(t) + 1_000_000) for t in data.trainee_id}  # keeps the order of the ids
    renamed = relabel(data, mapping)
    order = list(range(len(data.trainee_id)))
    rnd.shuffle(order)
    shuffled = replace_columns(
        renamed,
        trainee_id=[renamed.trainee_id[i] for i in order],
        trainee_grade=[renamed.trainee_grade[i] for i in order],
        trainee_specialty=[renamed.trainee_specialty[i] for i in order],
        trainee_lat=[renamed.trainee_lat[i] for i in order],
        trainee_lon=[renamed.trainee_lon[i] for i in order],
        trainee_travel=[renamed.trainee_travel[i] for i in order],
    )
    first, second = _instance(data), _instance(shuffled)
    expected = {(mapping[t], s) for t, s in _placements(first, MODES[mode](first))}
    assert _placements(second, MODES[mode](second)) == expected


@SETTINGS
@given(inputs(), st.permutations(range(5)))
def test_any_relabelling_keeps_the_optimal_and_fair_objectives(data: Inputs, permutation: list[int]) -> None:
    ids = sorted(data.trainee_id)
    mapping = {t: ids[permutation[i] % len(ids)] for i, t in enumerate(ids)}
    if len(set(mapping.values())) != len(ids):
        mapping = dict(zip(ids, reversed(ids), strict=True))
    first, second = _instance(data), _instance(relabel(data, mapping))
    a, b = matching.match_optimal(first), matching.match_optimal(second)
    assert _objective(first, _combo(a))[:3] == _objective(second, _combo(b))[:3]
    fa, fb = matching.match_fair(first), matching.match_fair(second)
    assert (fa.most_placed, fa.min_share) == (fb.most_placed, fb.min_share)
    assert int(first.arc_value[fa.chosen[fa.chosen >= 0]].sum()) == int(
        second.arc_value[fb.chosen[fb.chosen >= 0]].sum()
    )


@settings(max_examples=30, deadline=None)
@given(inputs(), st.sampled_from(sorted(MODES)))
def test_same_inputs_and_seed_give_the_same_placements(data: Inputs, mode: str) -> None:
    first, second = _instance(data), _instance(data)
    assert _placements(first, MODES[mode](first)) == _placements(second, MODES[mode](second))


# ---------------------------------------------------------------- the face and the fold


@SETTINGS
@given(inputs())
def test_folded_stages_rank_exactly_like_separate_stages(data: Inputs) -> None:
    instance = _instance(data)
    problem = matching.problem_of(instance)
    rank, distance = matching.rank_gains(instance), matching.distance_gains(instance)
    folded = matching.lexicographic(problem, [[instance.arc_value], [rank, distance]])
    separate = matching.lexicographic(problem, [[instance.arc_value], [rank], [distance]])
    assert _objective(instance, _combo(folded))[:3] == _objective(instance, _combo(separate))[:3]


def test_components_split_specialties_and_distant_regions() -> None:
    problem = matching.Problem(
        n_trainees=4,
        n_pools=4,
        arcs=np.arange(5),
        arc_trainee=np.array([0, 0, 1, 2, 3]),
        arc_pool=np.array([0, 1, 1, 2, 3]),
        capacity=np.ones(4, dtype=np.int64),
        optional_trainee=np.ones(4, dtype=np.bool_),
        optional_pool=np.ones(4, dtype=np.bool_),
    )
    labels = matching.components(problem).tolist()
    assert labels[0] == labels[1] == labels[2]
    assert len({labels[0], labels[3], labels[4]}) == 3


def test_values_too_large_for_64_bits_are_refused_not_wrapped() -> None:
    problem = matching.Problem(
        n_trainees=1,
        n_pools=1,
        arcs=np.arange(1),
        arc_trainee=np.zeros(1, dtype=np.int64),
        arc_pool=np.zeros(1, dtype=np.int64),
        capacity=np.ones(1, dtype=np.int64),
        optional_trainee=np.ones(1, dtype=np.bool_),
        optional_pool=np.ones(1, dtype=np.bool_),
    )
    from service.placements.model import ModelError

    with pytest.raises(ModelError, match="too large"):
        matching.solve(problem, np.array([2**62], dtype=np.int64))


@settings(max_examples=20, deadline=None)
@given(inputs(max_trainees=5, max_sites=3))
def test_components_solved_in_forked_processes_give_the_same_result(data: Inputs) -> None:
    instance = _instance(data)
    serial = matching.match_optimal(instance)
    original = matching.PARALLEL_MIN_ARCS
    try:
        matching.PARALLEL_MIN_ARCS = 0  # type: ignore[misc]
        parallel = matching.match_optimal(instance, workers=2)
    finally:
        matching.PARALLEL_MIN_ARCS = original  # type: ignore[misc]
    assert np.array_equal(serial, parallel)
