"""The three matching modes and the independent stability check (pure: numpy and OR-Tools only).

- ``optimal``: lexicographic, in stages: maximise total value; then minimise the sum of preference
  ranks; then minimise total distance; then a seeded tie-break. Each stage is a min-cost flow solved by
  OR-Tools; the next stage is restricted to the *optimal face* of the previous one, found from the
  stage's dual prices (complementary slackness), so no stage needs one huge combined cost that would
  overflow 64 bits.
- ``fair``: among matchings that place the most trainees, maximise the smallest share of a placed
  trainee's weighted need that is covered; then the ``optimal`` stages.
- ``stable``: trainee-proposing deferred acceptance with site capacities (the trainee-optimal stable
  matching).

The objectives are defined exactly in ``docs/decisions/0006-matching-objective.md``.
"""

import heapq
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Final

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from service.placements.model import BoolArray, Instance, IntArray, ModelError

INT64_MAX: Final = 2**63 - 1
TIE_BREAK_RANGE: Final = 2**20
"""Seeded tie-break gains are drawn from 1 to this (PCG64, one per arc in arc order)."""


@dataclass(frozen=True)
class Problem:
    """A capacitated assignment: trainees take at most one pool, pools at most ``capacity`` trainees.

    ``arcs`` index the instance's arcs; a trainee that is not ``optional`` must be placed and a pool that
    is not ``optional`` must be full (both arise only inside an optimal face).
    """

    n_trainees: int
    n_pools: int
    arcs: IntArray
    arc_trainee: IntArray
    arc_pool: IntArray
    capacity: IntArray
    optional_trainee: BoolArray
    optional_pool: BoolArray
    pool_group: IntArray | None = None
    """Per pool, a label no trainee crosses (its specialty), to split large problems cheaply."""


def problem_of(instance: Instance, arcs: IntArray | None = None) -> Problem:
    chosen = np.arange(len(instance.arc_trainee), dtype=np.int64) if arcs is None else arcs
    return Problem(
        n_trainees=instance.n_trainees,
        n_pools=instance.n_pools,
        arcs=chosen,
        arc_trainee=instance.arc_trainee[chosen],
        arc_pool=instance.arc_pool[chosen],
        capacity=instance.pool_slots,
        optional_trainee=np.ones(instance.n_trainees, dtype=np.bool_),
        optional_pool=np.ones(instance.n_pools, dtype=np.bool_),
        pool_group=np.unique(np.array(instance.pool_specialty, dtype=str), return_inverse=True)[1].astype(
            np.int64
        )
        if instance.n_pools
        else None,
    )


# ---------------------------------------------------------------- one stage


def solve(problem: Problem, gains: IntArray) -> IntArray:
    """Maximise the sum of ``gains`` (per problem arc); returns the chosen problem arc per trainee (-1)."""
    chosen = np.full(problem.n_trainees, -1, dtype=np.int64)
    if len(problem.arcs) == 0:
        return chosen
    trainees, t_local = np.unique(problem.arc_trainee, return_inverse=True)
    forced = np.flatnonzero(~problem.optional_pool)
    pools, p_local = np.unique(np.concatenate([problem.arc_pool, forced]), return_inverse=True)
    p_local = p_local[: len(problem.arc_pool)]
    n_t, n_p = len(trainees), len(pools)
    sink = n_t + n_p
    n_nodes = sink + 1
    if len(gains) and int(np.abs(gains).max()) > INT64_MAX // (2 * n_nodes + 8):
        raise ModelError(
            "the values are too large to be compared exactly in 64 bits; lower the weights or the needs"
        )
    optional_t = problem.optional_trainee[trainees]
    optional_p = problem.optional_pool[pools]
    cap = problem.capacity[pools]
    t_opt = np.flatnonzero(optional_t)
    p_opt = np.flatnonzero(optional_p)
    tails = np.concatenate([t_local, t_opt, n_t + p_opt])
    heads = np.concatenate([n_t + p_local, np.full(len(t_opt), sink), np.full(len(p_opt), sink)])
    caps = np.concatenate([np.ones(len(t_local) + len(t_opt), dtype=np.int64), cap[p_opt]])
    costs = np.concatenate([-gains, np.zeros(len(t_opt) + len(p_opt), dtype=np.int64)])
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[:n_t] = 1
    supplies[n_t + np.flatnonzero(~optional_p)] = -cap[~optional_p]
    supplies[sink] = -(n_t - int(cap[~optional_p].sum()))
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_nodes_supplies(np.arange(n_nodes), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")  # a defect: faces are feasible
    used = np.flatnonzero(flow.flows(np.arange(len(t_local))) > 0)
    chosen[problem.arc_trainee[used]] = used
    return chosen


def _bellman_ford(n: int, src: IntArray, dst: IntArray, weight: IntArray) -> IntArray:
    """Shortest distances from a virtual root joined to every node by a 0 arc (no negative cycles)."""
    distance = np.zeros(n, dtype=np.int64)
    if len(src) == 0:
        return distance
    key = src * n + dst
    order = np.argsort(key, kind="stable")
    key, weight = key[order], weight[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    weight = np.minimum.reduceat(weight, starts)
    key = key[starts]
    src, dst = key // n, key % n
    by_dst = np.argsort(dst, kind="stable")
    src, dst, weight = src[by_dst], dst[by_dst], weight[by_dst]
    heads = np.flatnonzero(np.r_[True, dst[1:] != dst[:-1]])
    targets = dst[heads]
    for _ in range(n + 1):
        best = np.minimum.reduceat(distance[src] + weight, heads)
        better = best < distance[targets]
        if not better.any():
            return distance
        distance[targets[better]] = best[better]
    raise RuntimeError("negative cycle in the dual graph: the stage solution was not optimal")


def face(problem: Problem, gains: IntArray, chosen: IntArray) -> Problem:
    """The optimal face of ``problem`` for ``gains``, given one optimal solution ``chosen``.

    Dual prices ``w`` (one per pool) come from difference constraints that make every trainee's chosen
    arc at least as good as their others at those prices (a shortest-path problem over the pools);
    a trainee's own dual is ``u = gain - w``. By complementary slackness a solution is optimal exactly
    when it uses only arcs with ``u + w = gain``, places every trainee with ``u > 0`` and fills every
    pool with ``w > 0``: that is the restricted problem returned.
    """
    n = problem.n_pools + 1  # node 0: the zero price; node q + 1: pool q
    arc_t, arc_q = problem.arc_trainee, problem.arc_pool
    matched_arc = chosen[arc_t]  # per problem arc: its trainee's chosen arc (-1 unplaced)
    placed = matched_arc >= 0
    m = np.where(placed, matched_arc, 0)
    other = placed & (matched_arc != np.arange(len(arc_t)))
    edges_src = [arc_q[other] + 1]
    edges_dst = [arc_q[m[other]] + 1]
    edges_w = [gains[m[other]] - gains[other]]
    chosen_arcs = chosen[chosen >= 0]
    optional_placed = chosen_arcs[problem.optional_trainee[arc_t[chosen_arcs]]]
    edges_src.append(np.zeros(len(optional_placed), dtype=np.int64))
    edges_dst.append(arc_q[optional_placed] + 1)
    edges_w.append(gains[optional_placed])
    unplaced = ~placed
    edges_src.append(arc_q[unplaced] + 1)
    edges_dst.append(np.zeros(int(unplaced.sum()), dtype=np.int64))
    edges_w.append(-gains[unplaced])
    load = np.bincount(arc_q[chosen_arcs], minlength=problem.n_pools)
    slack_pools = np.flatnonzero(problem.optional_pool & (load < problem.capacity))
    optional_pools = np.flatnonzero(problem.optional_pool)
    zeros_a = np.zeros(len(slack_pools), dtype=np.int64)
    zeros_b = np.zeros(len(optional_pools), dtype=np.int64)
    edges_src += [zeros_a, optional_pools + 1]
    edges_dst += [slack_pools + 1, zeros_b]
    edges_w += [zeros_a, zeros_b]
    distance = _bellman_ford(
        n, np.concatenate(edges_src), np.concatenate(edges_dst), np.concatenate(edges_w).astype(np.int64)
    )
    price = distance[1:] - distance[0]
    u = np.zeros(problem.n_trainees, dtype=np.int64)
    u[arc_t[chosen_arcs]] = gains[chosen_arcs] - price[arc_q[chosen_arcs]]
    slack = u[arc_t] + price[arc_q] - gains
    if (
        (slack < 0).any()
        or (u[problem.optional_trainee] < 0).any()
        or (price[problem.optional_pool] < 0).any()
    ):
        raise RuntimeError("dual prices are infeasible: the stage solution was not optimal")
    keep = slack == 0
    return replace(
        problem,
        arcs=problem.arcs[keep],
        arc_trainee=arc_t[keep],
        arc_pool=arc_q[keep],
        optional_trainee=problem.optional_trainee & (u == 0),
        optional_pool=problem.optional_pool & (price == 0),
    )


def components(problem: Problem) -> IntArray:
    """Per arc, a label shared exactly by the arcs of one connected component of trainees and pools.

    Trainees of different specialties never share a pool, and distance splits regions further; solving
    components apart is exact and, the solver being superlinear, much faster.
    """
    at, ap = problem.arc_trainee, problem.arc_pool
    if len(at) == 0:
        return np.zeros(0, dtype=np.int64)
    by_t = np.argsort(at, kind="stable")
    t_heads = np.flatnonzero(np.r_[True, at[by_t][1:] != at[by_t][:-1]])
    t_sizes = np.diff(np.r_[t_heads, len(at)])
    by_p = np.argsort(ap, kind="stable")
    p_sorted = ap[by_p]
    p_heads = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    label = np.arange(problem.n_pools, dtype=np.int64)  # each pool points at a pool of its component
    via_trainee = np.empty(len(at), dtype=np.int64)
    while True:
        via_trainee[by_t] = np.repeat(np.minimum.reduceat(label[ap[by_t]], t_heads), t_sizes)
        new = label.copy()
        pools = p_sorted[p_heads]
        new[pools] = np.minimum(new[pools], np.minimum.reduceat(via_trainee[by_p], p_heads))
        new = new[new[new]]  # pointer jumping: labels are pools of the same component
        if np.array_equal(new, label):
            result: IntArray = label[ap]
            return result
        label = new


PARTITION_BY_COMPONENTS: Final = 200_000
"""Up to this many arcs, exact connected components; beyond, the pools' specialty groups (a union of
components: trainees of one specialty reach only its pools), which costs nothing to find."""


def _partition(problem: Problem) -> IntArray:
    if len(problem.arcs) <= PARTITION_BY_COMPONENTS or problem.pool_group is None:
        return components(problem)
    result: IntArray = problem.pool_group[problem.arc_pool]
    return result


def _restrict(problem: Problem, selected: IntArray) -> Problem:
    return replace(
        problem,
        arcs=problem.arcs[selected],
        arc_trainee=problem.arc_trainee[selected],
        arc_pool=problem.arc_pool[selected],
    )


def _fold(problem: Problem, stage: list[IntArray]) -> list[IntArray]:
    """One gain array ranking solutions exactly as ``stage`` does lexicographically (mixed radix), when
    its values fit the solver's 64-bit bound; otherwise the arrays apart (one solver stage each).

    Every gain is >= 0, so a solution's sum of the lower gains lies in [0, trainees x max]: a radix above
    that lets the higher gain decide whenever it differs.
    """
    if len(stage) == 1 or len(problem.arcs) == 0 or any(int(g.min()) < 0 for g in stage):
        return stage
    trainees = len(np.unique(problem.arc_trainee))
    limit = INT64_MAX // (2 * (trainees + len(np.unique(problem.arc_pool)) + 1) + 8)
    folded, folded_max = stage[-1], int(stage[-1].max())
    for gains in reversed(stage[:-1]):
        radix = trainees * folded_max + 1
        new_max = int(gains.max()) * radix + folded_max
        if new_max > limit:
            return stage
        folded, folded_max = gains * radix + folded, new_max
    return [folded]


def _lexicographic_component(problem: Problem, stages: list[list[IntArray]]) -> IntArray:
    chosen = np.full(problem.n_trainees, -1, dtype=np.int64)
    plan = [gains for stage in stages for gains in _fold(problem, [g[problem.arcs] for g in stage])]
    arcs = problem.arcs
    for step, gains in enumerate(plan):
        local = gains[np.searchsorted(arcs, problem.arcs)] if step else gains
        chosen = solve(problem, local)
        if step < len(plan) - 1:
            problem = face(problem, local, chosen)
    result = np.full(problem.n_trainees, -1, dtype=np.int64)
    placed = chosen >= 0
    result[placed] = problem.arcs[chosen[placed]]
    return result


PARALLEL_MIN_ARCS: Final = 100_000
"""With ``workers`` > 1 and at least this many eligible pairs, connected components are solved in forked
processes: the solver holds the interpreter lock, so threads would not help. Only the CLI asks for it
(``--workers``); a server process never forks."""
_SHARED: dict[str, tuple[Problem, list[list[IntArray]], list[IntArray]]] = {}
"""What forked workers read (inherited, never pickled): the problem, the stages, the components."""


def _solve_part(key: str, index: int) -> IntArray:
    problem, stages, parts = _SHARED[key]
    return _lexicographic_component(_restrict(problem, parts[index]), stages)


def _parallel(
    problem: Problem, stages: list[list[IntArray]], parts: list[IntArray], workers: int
) -> list[IntArray] | None:
    """Each part's solution, solved in forked processes; None where forking is not available."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(workers, os.cpu_count() or 1, len(parts))
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    key = f"{os.getpid()}-{id(problem)}"
    _SHARED[key] = (problem, stages, parts)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            largest_first = sorted(range(len(parts)), key=lambda i: -len(parts[i]))
            futures = {i: pool.submit(_solve_part, key, i) for i in largest_first}
            return [futures[i].result() for i in range(len(parts))]
    finally:
        del _SHARED[key]


def lexicographic(problem: Problem, stages: list[list[IntArray]], *, workers: int = 1) -> IntArray:
    """Optimise ``stages`` in order (each a list of gain arrays per *instance* arc, to be optimised in
    that order too); the chosen instance arc per trainee. Each connected component is solved alone."""
    result = np.full(problem.n_trainees, -1, dtype=np.int64)
    if len(problem.arcs) == 0:
        return result
    labels = _partition(problem)
    order = np.argsort(labels, kind="stable")
    heads = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]]).tolist()
    parts = [order[start:stop] for start, stop in zip(heads, [*heads[1:], len(order)], strict=True)]
    parallel = workers > 1 and len(order) >= PARALLEL_MIN_ARCS and len(parts) > 1
    solved = _parallel(problem, stages, parts, workers) if parallel else None
    if solved is None:
        solved = [_lexicographic_component(_restrict(problem, part), stages) for part in parts]
    for part in solved:
        placed = part >= 0
        result[placed] = part[placed]
    return result


# ---------------------------------------------------------------- objectives


def rank_gains(instance: Instance) -> IntArray:
    """Preference objective as gains: (worst + 1) - rank; an unranked site counts the worst rank and an
    unplaced trainee one more (gain 0), so the stage never prefers leaving a trainee out."""
    ranks = np.where(instance.arc_rank > 0, instance.arc_rank, instance.worst_rank)
    gains: IntArray = instance.worst_rank + 1 - ranks
    return gains


def distance_gains(instance: Instance) -> IntArray:
    """Distance objective as gains: (longest + 1 m) - distance; an unplaced trainee counts as further
    than any placement, so with as many placed it is exactly "minimise total distance"."""
    longest = int(instance.arc_distance_m.max()) if len(instance.arc_distance_m) else 0
    gains: IntArray = longest + 1 - instance.arc_distance_m
    return gains


def tie_break_gains(instance: Instance) -> IntArray:
    gains: IntArray = np.random.default_rng(instance.parameters.seed).integers(
        1, TIE_BREAK_RANGE + 1, len(instance.arc_trainee), dtype=np.int64
    )
    return gains


def match_optimal(instance: Instance, *, workers: int = 1) -> IntArray:
    """Max total value; then min preference ranks; then min distance; then the seeded tie-break."""
    stages = [
        [instance.arc_value],
        [rank_gains(instance), distance_gains(instance)],
        [tie_break_gains(instance)],
    ]
    return lexicographic(problem_of(instance), stages, workers=workers)


# ---------------------------------------------------------------- fair


def share_levels(values: IntArray, needs: IntArray) -> IntArray:
    """Dense rank (0 = smallest) of each exact share ``values / needs`` (needs > 0).

    Sorted by float first (correct rounding never inverts an order, it may only merge), then arcs whose
    floats are equal are ordered by their exact fractions.
    """
    approx = values / needs
    order = np.argsort(approx, kind="stable")
    sorted_approx = approx[order]
    rank = np.zeros(len(values), dtype=np.int64)
    if len(values) == 0:
        return rank
    boundaries = np.flatnonzero(np.r_[True, sorted_approx[1:] != sorted_approx[:-1]])
    ends = np.r_[boundaries[1:], len(values)]
    level = 0
    levels = np.empty(len(values), dtype=np.int64)
    for start, end in zip(boundaries.tolist(), ends.tolist(), strict=True):
        if end - start == 1:
            levels[start] = level
            level += 1
            continue
        members = order[start:end]
        exact = [Fraction(int(v), int(n)) for v, n in zip(values[members], needs[members], strict=True)]
        distinct = sorted(set(exact))
        position = {f: i for i, f in enumerate(distinct)}
        levels[start:end] = [level + position[f] for f in exact]
        level += len(distinct)
    rank[order] = levels
    return rank


def max_placed(instance: Instance, arcs: IntArray) -> int:
    """The most trainees that can be placed at once using only ``arcs`` (a max flow)."""
    if len(arcs) == 0:
        return 0
    n_t, n_p = instance.n_trainees, instance.n_pools
    source, sink = n_t + n_p, n_t + n_p + 1
    trainees = np.unique(instance.arc_trainee[arcs])
    pools = np.unique(instance.arc_pool[arcs])
    flow = max_flow.SimpleMaxFlow()
    tails = np.concatenate([np.full(len(trainees), source), instance.arc_trainee[arcs], n_t + pools])
    heads = np.concatenate([trainees, n_t + instance.arc_pool[arcs], np.full(len(pools), sink)])
    caps = np.concatenate([np.ones(len(trainees) + len(arcs), dtype=np.int64), instance.pool_slots[pools]])
    flow.add_arcs_with_capacity(tails, heads, caps)
    if flow.solve(source, sink) != flow.OPTIMAL:
        raise RuntimeError("max flow failed")
    return int(flow.optimal_flow())


@dataclass(frozen=True)
class FairOutcome:
    chosen: IntArray
    most_placed: int
    min_share: Fraction | None


def match_fair(instance: Instance, *, workers: int = 1) -> FairOutcome:
    """Among matchings placing the most trainees, the largest smallest share; then the optimal stages."""
    all_arcs = np.arange(len(instance.arc_trainee), dtype=np.int64)
    most = max_placed(instance, all_arcs)
    if most == 0:
        return FairOutcome(np.full(instance.n_trainees, -1, dtype=np.int64), 0, None)
    levels = share_levels(instance.arc_value, instance.weighted_need[instance.arc_trainee])
    low, high = 0, int(levels.max())  # the answer is the highest level whose arcs still place `most`
    while low < high:
        middle = (low + high + 1) // 2
        if max_placed(instance, all_arcs[levels >= middle]) == most:
            low = middle
        else:
            high = middle - 1
    arcs = all_arcs[levels >= low]
    stages = [
        [np.ones(len(instance.arc_trainee), dtype=np.int64)],
        [instance.arc_value],
        [rank_gains(instance), distance_gains(instance)],
        [tie_break_gains(instance)],
    ]
    chosen = lexicographic(problem_of(instance, arcs), stages, workers=workers)
    at = np.flatnonzero(levels == low)[0]
    share = Fraction(int(instance.arc_value[at]), int(instance.weighted_need[instance.arc_trainee[at]]))
    return FairOutcome(chosen, most, share)


# ---------------------------------------------------------------- stable


def preference_lists(instance: Instance) -> tuple[IntArray, IntArray]:
    """Each trainee's acceptable arcs, best first, as (arcs, start offsets per trainee + end).

    A trainee who gave preferences lists only the eligible sites they ranked, by rank; otherwise every
    eligible site by value (highest first), ties by site_code.
    """
    t = instance.arc_trainee
    with_preferences = instance.has_preferences[t]
    acceptable = ~with_preferences | (instance.arc_rank > 0)
    key = np.where(with_preferences, instance.arc_rank, -instance.arc_value)
    site = instance.pool_site[instance.arc_pool]
    candidates = np.flatnonzero(acceptable)
    order = candidates[np.lexsort((site[candidates], key[candidates], t[candidates]))]
    starts = np.searchsorted(t[order], np.arange(instance.n_trainees + 1))
    return order, starts


def site_priority(instance: Instance) -> IntArray:
    """Per arc, its position in the sites' common order: higher value first, ties by trainee_id."""
    order = np.lexsort((instance.arc_trainee, -instance.arc_value))
    priority = np.empty(len(order), dtype=np.int64)
    priority[order] = np.arange(len(order))
    return priority


def match_stable(instance: Instance) -> IntArray:
    """Trainee-proposing deferred acceptance; the chosen arc per trainee (-1)."""
    lists, starts = preference_lists(instance)
    priority = site_priority(instance).tolist()
    pool_of = instance.arc_pool.tolist()
    trainee_of = instance.arc_trainee.tolist()
    capacity = instance.pool_slots.tolist()
    arcs = lists.tolist()
    nxt = starts[:-1].tolist()
    end = starts[1:].tolist()
    held: list[list[tuple[int, int]]] = [[] for _ in capacity]  # per pool: (-priority, arc), worst on top
    free = list(range(instance.n_trainees - 1, -1, -1))
    while free:
        trainee = free.pop()
        if nxt[trainee] >= end[trainee]:
            continue
        arc = arcs[nxt[trainee]]
        nxt[trainee] += 1
        pool = pool_of[arc]
        heap = held[pool]
        if len(heap) < capacity[pool]:
            heapq.heappush(heap, (-priority[arc], arc))
        elif -heap[0][0] > priority[arc]:
            _, rejected = heapq.heapreplace(heap, (-priority[arc], arc))
            free.append(trainee_of[rejected])
        else:
            free.append(trainee)
    chosen = np.full(instance.n_trainees, -1, dtype=np.int64)
    for heap in held:
        for _, arc in heap:
            chosen[trainee_of[arc]] = arc
    return chosen


def blocking_pairs(instance: Instance, chosen: IntArray) -> IntArray:
    """The arcs (trainee, site) that block ``chosen`` under the stable-mode preferences.

    Written apart from :func:`match_stable` and from its helpers, straight from the definition: a
    trainee and an acceptable site block when the trainee prefers the site to their placement (or has
    none) and the site has a free slot or prefers the trainee to one it holds.
    """
    t, pool = instance.arc_trainee, instance.arc_pool
    site = instance.pool_site[pool]
    value, rank = instance.arc_value, instance.arc_rank
    ranked = instance.has_preferences[t]
    acceptable = ~ranked | (rank > 0)
    mine = chosen[t]
    has = mine >= 0
    cur = np.where(has, mine, 0)
    # A site the trainee did not rank is not on their list: any listed site beats being placed there.
    current_rank = np.where(has & (rank[cur] > 0), rank[cur], np.iinfo(np.int64).max)
    prefers_ranked = rank < current_rank
    better_value = (value > value[cur]) | ((value == value[cur]) & (site < site[cur]))
    prefers = acceptable & (~has | np.where(ranked, prefers_ranked, better_value))
    placed = chosen[chosen >= 0]
    load = np.bincount(pool[placed], minlength=instance.n_pools)
    worst_value = np.full(instance.n_pools, np.iinfo(np.int64).max, dtype=np.int64)
    worst_trainee = np.full(instance.n_pools, -1, dtype=np.int64)
    if len(placed):
        by = placed[np.lexsort((-t[placed], value[placed], pool[placed]))]  # per pool: lowest value first
        first = np.flatnonzero(np.r_[True, pool[by][1:] != pool[by][:-1]])
        worst_value[pool[by[first]]] = value[by[first]]
        worst_trainee[pool[by[first]]] = t[by[first]]
    room = load[pool] < instance.pool_slots[pool]
    beats = (value > worst_value[pool]) | ((value == worst_value[pool]) & (t < worst_trainee[pool]))
    result: IntArray = np.flatnonzero(prefers & (room | beats))
    return result
