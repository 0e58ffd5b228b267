"""The result of a match: objective figures, one row per trainee, and a plain-language explanation of
each placement (why this site) and of each trainee left out (why none). Pure."""

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import ortools

from service.placements import matching
from service.placements.model import UNITS, Instance, IntArray
from service.placements.schemas import (
    Exclusions,
    MatchResult,
    PairExclusion,
    Placement,
    SiteExclusion,
    Summary,
    Unmatched,
)

SOLVER = f"OR-Tools {ortools.__version__} min-cost flow, lexicographic stages"


def _cases(units: int) -> str:
    """Cases for reading, from hundredths: no decimals when whole, no trailing zero (the JSON is exact)."""
    whole, part = divmod(units, UNITS)
    if part == 0:
        return str(whole)
    return f"{whole}.{part // 10}" if part % 10 == 0 else f"{whole}.{part:02d}"


def _sites(codes: Sequence[str], limit: int = 3, *, total: int | None = None) -> str:
    count = len(codes) if total is None else total
    shown = ", ".join(codes[:limit])
    return shown + (f" and {count - limit} more" if count > limit else "")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Context:
    """Per-trainee facts the explanations share, as Python lists (faster than numpy scalars one by one)."""

    def __init__(self, instance: Instance, mode: str) -> None:
        self.instance = instance
        t = instance.arc_trainee
        self.starts = np.searchsorted(t, np.arange(instance.n_trainees + 1)).tolist()
        self.lists: list[int] = []
        self.list_starts: list[int] = []
        self.position: list[int] = []
        if mode == "stable":  # the trainees' lists explain stable placements only
            lists, list_starts = matching.preference_lists(instance)
            self.lists, self.list_starts = lists.tolist(), list_starts.tolist()
            position = np.full(len(t), -1, dtype=np.int64)
            position[lists] = np.arange(len(lists)) - list_starts[t[lists]]
            self.position = position.tolist()
        self.arc_pool = instance.arc_pool.tolist()
        self.pool_site = instance.pool_site.tolist()
        self.arc_rank = instance.arc_rank.tolist()
        self.arc_km = instance.arc_distance_km.tolist()
        self.arc_site: list[str] = [
            instance.site_codes[s] for s in instance.pool_site[instance.arc_pool].tolist()
        ]
        self.value = instance.arc_value.tolist()
        self.cases = instance.cases.tolist()
        self.needs = instance.needs.tolist()
        pools_of: dict[str, list[int]] = {}
        for pool, spec in enumerate(instance.pool_specialty):
            pools_of.setdefault(spec, []).append(pool)
        self.groups_of = {
            spec: np.flatnonzero((instance.cases[pools] > 0).any(axis=0)).tolist()
            for spec, pools in pools_of.items()
        }

    def arcs_of(self, trainee: int) -> range:
        return range(self.starts[trainee], self.starts[trainee + 1])

    def site(self, arc: int) -> str:
        return self.arc_site[arc]

    def sites_of(self, trainee: int, limit: int = 3) -> tuple[int, str]:
        """How many eligible sites, and the first few by site_code."""
        arcs = self.arcs_of(trainee)
        return len(arcs), _sites([self.arc_site[a] for a in arcs[: limit + 1]], limit, total=len(arcs))


def _covered_text(ctx: _Context, trainee: int, pool: int) -> tuple[dict[str, float], str]:
    expected: dict[str, float] = {}
    parts = []
    needs, cases, names = ctx.needs[trainee], ctx.cases[pool], ctx.instance.groups
    for g in ctx.groups_of.get(ctx.instance.pool_specialty[pool], ()):
        need = needs[g]
        covered = min(cases[g], need * UNITS)
        if covered > 0:
            expected[names[g]] = covered / UNITS
            parts.append(f"{_cases(covered)} of the {need} {names[g]} you still need")
    return expected, "; ".join(parts)


def _why_here(ctx: _Context, mode: str, trainee: int, arc: int, fair: matching.FairOutcome | None) -> str:
    instance = ctx.instance
    arcs = ctx.arcs_of(trainee)
    values = ctx.value[arcs.start : arcs.stop]
    best = arcs.start + values.index(max(values))
    here = ctx.value[arc]
    if mode == "stable":
        position = ctx.position[arc]
        basis = "your preferences" if instance.has_preferences[trainee] else "value (you gave no preferences)"
        if position == 0:
            return f"Deferred acceptance: your first choice by {basis}."
        return (
            f"Deferred acceptance: choice {position + 1} on your list by {basis}; every site you put higher "
            "filled its slots with trainees it ranks above you (more value for it)."
        )
    prefix = ""
    if mode == "fair" and fair is not None and fair.min_share is not None:
        share = Fraction(here, int(instance.weighted_need[trainee]))
        prefix = (
            f"Fair match: covers {float(share):.0%} of your weighted need; it places the most trainees "
            f"possible ({fair.most_placed}) and gives no placed trainee less than "
            f"{float(fair.min_share):.0%}. "
        )
    else:
        prefix = "The match maximises total value across all trainees. "
    if arc == best or here == int(instance.arc_value[best]):
        return prefix + f"This is the eligible site of highest value for you (of {len(arcs)})."
    return (
        prefix
        + f"Your highest-value eligible site, {ctx.site(best)} ({_cases(int(instance.arc_value[best]))}), "
        "was given to trainees for whom it counted for more in total."
    )


def _placement(
    ctx: _Context, mode: str, trainee: int, arc: int, fair: matching.FairOutcome | None
) -> Placement:
    instance = ctx.instance
    pool = ctx.arc_pool[arc]
    site = ctx.pool_site[pool]
    expected, covered = _covered_text(ctx, trainee, pool)
    rank = ctx.arc_rank[arc]
    km = ctx.arc_km[arc]
    if rank:
        preference = f"your {_ordinal(rank)} preference"
    elif instance.has_preferences[trainee]:
        preference = "a site you did not rank"
    else:
        preference = "you gave no preferences"
    value = ctx.value[arc]
    explanation = (
        f"{instance.site_names[site]} ({instance.site_codes[site]}), {km:.1f} km away, {preference}. "
        f"Expected in {instance.parameters.rotation_months} months: {covered}; value {_cases(value)}. "
        + _why_here(ctx, mode, trainee, arc, fair)
    )
    return Placement(
        trainee_id=instance.trainee_ids[trainee],
        site_code=instance.site_codes[site],
        specialty=instance.pool_specialty[pool],
        value=value / UNITS,
        expected_cases=expected,
        distance_km=round(km, 3),
        preference_rank=rank or None,
        explanation=explanation,
    )


def _why_not(ctx: _Context, mode: str, trainee: int, fair: matching.FairOutcome | None) -> str:
    instance = ctx.instance
    reason = instance.unmatched_reason[trainee]
    if reason:
        return reason[0].upper() + reason[1:] + "."
    count, codes = ctx.sites_of(trainee)
    if mode == "stable":
        listed = ctx.lists[ctx.list_starts[trainee] : ctx.list_starts[trainee + 1]]
        if len(listed) == 0:
            return f"None of the sites you ranked is eligible for you; eligible: {codes}."
        shown = _sites([ctx.site(a) for a in listed[:4]], total=len(listed))
        return (
            f"Every site on your list ({shown}) filled its slots with trainees it ranks above you "
            "(more value for it)."
        )
    if mode == "fair" and fair is not None:
        return (
            f"Your {count} eligible site(s) ({codes}) were needed to place the most trainees "
            f"possible ({fair.most_placed}) with the fairest smallest share; you could not be placed as well."
        )
    return (
        f"All {count} eligible site(s) ({codes}) were filled by trainees for whom they added more "
        + "value in total."
    )


def assemble(
    instance: Instance,
    mode: str,
    chosen: IntArray,
    *,
    solver_seconds: float,
    input_sha256: str,
    inputs: dict[str, str],
    fair: matching.FairOutcome | None = None,
) -> MatchResult:
    """The result of ``chosen`` (instance arc per trainee, -1 unplaced)."""
    ctx = _Context(instance, mode)
    placed = np.flatnonzero(chosen >= 0)
    placements = [_placement(ctx, mode, int(t), int(chosen[t]), fair) for t in placed.tolist()]
    unmatched = [
        Unmatched(trainee_id=instance.trainee_ids[t], reason=_why_not(ctx, mode, t, fair))
        for t in np.flatnonzero(chosen < 0).tolist()
    ]
    arcs = chosen[placed]
    ranks = np.where(instance.arc_rank[arcs] > 0, instance.arc_rank[arcs], instance.worst_rank)
    rank_total = int(ranks.sum()) + (instance.n_trainees - len(arcs)) * (instance.worst_rank + 1)
    min_share = None
    if len(arcs):  # the smallest exact share among the few whose float is (nearly) the smallest
        approx = instance.arc_value[arcs] / instance.weighted_need[placed]
        near = np.flatnonzero(approx <= approx.min() * (1 + 1e-12))
        min_share = float(
            min(
                Fraction(int(instance.arc_value[arcs[k]]), int(instance.weighted_need[placed[k]]))
                for k in near
            )
        )
    exclusions = Exclusions(
        sites=[
            SiteExclusion(site_code=s, reason=r, trainees_affected=n) for s, r, n in instance.exclusions.sites
        ],
        trainee_sites=[
            PairExclusion(trainee_id=t, site_code=s, reason=r, was_eligible=e)
            for t, s, r, e in instance.exclusions.pairs
        ],
    )
    summary = Summary(
        mode=mode,
        financial_year=instance.financial_year,
        training_share=instance.parameters.training_share,
        rotation_months=instance.parameters.rotation_months,
        seed=instance.parameters.seed,
        input_sha256=input_sha256,
        inputs=inputs,
        trainees=instance.n_trainees,
        matched=len(placements),
        unmatched=len(unmatched),
        slots=int(instance.pool_slots.sum()),
        total_value=int(instance.arc_value[arcs].sum()) / UNITS,
        preference_rank_total=rank_total,
        worst_rank=instance.worst_rank,
        distance_km_total=int(instance.arc_distance_m[arcs].sum()) / 1000,
        min_share=min_share,
        blocking_pairs=len(matching.blocking_pairs(instance, chosen)),
        solver_seconds=round(solver_seconds, 4),
        solver=SOLVER if mode != "stable" else "trainee-proposing deferred acceptance",
        exclusions=exclusions,
    )
    return MatchResult(summary=summary, placements=placements, unmatched=unmatched)
