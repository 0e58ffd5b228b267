"""Small-number suppression with secondary suppression: which published counts are withheld.

The rule (docs/decisions/0013-disclosure-control.md):

1. **Primary**: every count from 1 to ``threshold - 1`` (1 to 4) is withheld: cells and totals alike.
2. **Secondary**: further entries are withheld until no withheld value can be worked out from the
   published ones. A table is a grid whose last row holds the column totals and whose last column
   holds the row totals (totals are computed from the unsuppressed data). Each row and each column of
   that grid is an equation (its cells add up to its total). The withheld entries of a grid form a
   bipartite graph (row lines and column lines as nodes, withheld entries as edges); a withheld entry
   can be recovered exactly from the row and column equations **if and only if** it is a bridge of that
   graph (it lies on no cycle). So, per grid, we withhold further entries until the graph has no
   bridge. A line with exactly one withheld entry makes that entry a bridge, so every row and column
   ends with none or at least two withheld entries.
3. **Linked tables**: tables of the same measure share their totals row (it is one set of entries),
   and a parent row is the sum of its children in another table (an ICB of its sites, a region of its
   ICBs, a provider of its sites). Those sums are extra ``lines``: each ends with none or at least two
   withheld entries. The passes repeat until nothing changes.
4. **Audit**: an exact check of all the equations together (:func:`recoverable`) finds what combining
   several tables could still reveal; each such entry gets a further withheld entry and the passes
   run again, until nothing can be recovered.

Which further entries: the cheapest, where the cost of withholding an entry is its value (smallest
first, fewer entries on ties) and a zero is used only when nothing else can be. In a line, the cheapest
other entry; for a bridge, the cheapest path of entries that closes a cycle through it (Dijkstra).

Pure module: the standard library only.
"""

import heapq
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

THRESHOLD: Final = 5
"""Counts from 1 to THRESHOLD - 1 are withheld."""
_ZERO_COST: Final = 10**15
"""A zero tells nothing when withheld, so it is the last resort."""

Key = Hashable
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Grid(Generic[K]):
    """One published table: ``entries[i][j]`` is the key of row i, column j. The last row holds the
    column totals, the last column the row totals, the last entry the grand total."""

    entries: tuple[tuple[K, ...], ...]

    @property
    def rows(self) -> int:
        return len(self.entries)

    @property
    def cols(self) -> int:
        return len(self.entries[0])

    def lines(self) -> list[list[K]]:
        """Every row and every column, totals included: each sums to its last entry."""
        rows = [list(row) for row in self.entries]
        cols = [[row[j] for row in self.entries] for j in range(self.cols)]
        return rows + cols


def cost(value: int) -> int:
    """What withholding an entry of ``value`` costs: its value, then one per entry; zeros last."""
    return _ZERO_COST if value == 0 else value * 1024 + 1


def primary(values: Mapping[K, int], threshold: int = THRESHOLD) -> set[K]:
    return {key for key, value in values.items() if 1 <= value < threshold}


def _fix_lines(lines: Sequence[Sequence[K]], values: Mapping[K, int], withheld: set[K]) -> bool:
    """Give every line with exactly one withheld entry a second one (its cheapest other entry)."""
    changed = False
    for line in lines:
        hidden = sum(1 for key in line if key in withheld)
        if hidden != 1:
            continue
        candidates = [
            (cost(values[key]), position) for position, key in enumerate(line) if key not in withheld
        ]
        if not candidates:
            continue
        _, position = min(candidates)
        withheld.add(line[position])
        changed = True
    return changed


def bridges(grid: Grid[K], withheld: set[K]) -> list[tuple[int, int]]:
    """Withheld entries ``(row, col)`` of ``grid`` that lie on no cycle: those a reader can recover."""
    n_rows, n_cols = grid.rows, grid.cols
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n_rows + n_cols)]
    edges: list[tuple[int, int]] = []
    for i, row in enumerate(grid.entries):
        for j, key in enumerate(row):
            if key in withheld:
                index = len(edges)
                edges.append((i, j))
                adjacency[i].append((n_rows + j, index))
                adjacency[n_rows + j].append((i, index))
    found: list[int] = []
    discovered = [-1] * (n_rows + n_cols)
    low = [0] * (n_rows + n_cols)
    timer = 0
    for start in range(n_rows + n_cols):
        if discovered[start] != -1 or not adjacency[start]:
            continue
        discovered[start] = low[start] = timer
        timer += 1
        stack = [(start, -1, iter(adjacency[start]))]
        while stack:
            node, via, neighbours = stack[-1]
            for neighbour, edge in neighbours:
                if edge == via:
                    continue
                if discovered[neighbour] == -1:
                    discovered[neighbour] = low[neighbour] = timer
                    timer += 1
                    stack.append((neighbour, edge, iter(adjacency[neighbour])))
                    break
                low[node] = min(low[node], discovered[neighbour])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > discovered[parent]:
                        found.append(via)
    return sorted(edges[index] for index in found)


def _close_cycle(grid: Grid[K], values: Mapping[K, int], withheld: set[K], bridge: tuple[int, int]) -> None:
    """Withhold the cheapest entries that, with the withheld ones, make a cycle through ``bridge``."""
    n_rows, n_cols = grid.rows, grid.cols
    source, target = bridge[0], n_rows + bridge[1]  # from the bridge's row node to its column node
    best = [float("inf")] * (n_rows + n_cols)
    previous: list[int] = [-1] * (n_rows + n_cols)
    best[source] = 0
    heap: list[tuple[float, int]] = [(0, source)]
    while heap:
        distance, node = heapq.heappop(heap)
        if distance > best[node]:
            continue
        if node == target:
            break
        if node < n_rows:
            steps = [(n_rows + j, grid.entries[node][j]) for j in range(n_cols)]
        else:
            j = node - n_rows
            steps = [(i, grid.entries[i][j]) for i in range(n_rows)]
        for neighbour, key in steps:
            if (node, neighbour) == (source, target):
                continue  # not the bridge itself
            weight = 0 if key in withheld else cost(values[key])
            if distance + weight < best[neighbour]:
                best[neighbour] = distance + weight
                previous[neighbour] = node
                heapq.heappush(heap, (distance + weight, neighbour))
    node = target
    while node != source and previous[node] != -1:
        before = previous[node]
        i, j = (before, node - n_rows) if before < n_rows else (node, before - n_rows)
        withheld.add(grid.entries[i][j])
        node = before


def _fix_bridges(grid: Grid[K], values: Mapping[K, int], withheld: set[K]) -> bool:
    changed = False
    while found := bridges(grid, withheld):
        _close_cycle(grid, values, withheld, found[0])
        changed = True
    return changed


PRIME: Final = (1 << 61) - 1
"""The audit's arithmetic is exact modulo this prime (see :func:`recoverable`)."""


Sparse = dict[int, int]


def _axpy(target: Sparse, factor: int, source: Sparse) -> None:
    """``target -= factor * source`` modulo the prime, dropping zeros."""
    for j, v in source.items():
        value = (target.get(j, 0) - factor * v) % PRIME
        if value:
            target[j] = value
        else:
            target.pop(j, None)


class _Elimination:
    """Sparse Gauss-Jordan elimination modulo :data:`PRIME`, one equation at a time; every pivot row is
    kept clear of the other pivot columns (reduced row echelon form)."""

    def __init__(self) -> None:
        self.pivots: dict[int, Sparse] = {}
        self.holders: dict[int, set[int]] = {}
        """column -> pivot columns whose rows hold it"""

    def add(self, row: Sparse) -> None:
        for column in [c for c in row if c in self.pivots]:
            factor = row.get(column, 0)
            if factor:
                _axpy(row, factor, self.pivots[column])
        if not row:
            return
        pivot = min(row)
        inverse = pow(row[pivot], PRIME - 2, PRIME)
        row = {j: v * inverse % PRIME for j, v in row.items()}
        for other in list(self.holders.get(pivot, ())):
            self._clear(other, pivot, row)
        self.pivots[pivot] = row
        for j in row:
            self.holders.setdefault(j, set()).add(pivot)

    def _clear(self, other: int, pivot: int, row: Sparse) -> None:
        target = self.pivots[other]
        factor = target.get(pivot, 0)
        if not factor:
            return
        before = set(target)
        _axpy(target, factor, row)
        for j in set(target) - before:
            self.holders.setdefault(j, set()).add(other)
        for j in before - set(target):
            self.holders.get(j, set()).discard(other)

    def alone(self) -> list[int]:
        """Pivot columns whose row holds nothing else: the unknowns the equations determine."""
        return [column for column, row in self.pivots.items() if len(row) == 1]


def recoverable(lines: Sequence[Sequence[K]], withheld: set[K]) -> set[K]:
    """The withheld entries a reader can compute exactly from the published ones.

    Each line is an equation: its entries before the last add up to its last. Published entries are
    known numbers, so only the withheld ones matter: entry k is determined exactly when the unit vector
    of k lies in the row space of the equations restricted to the withheld entries, that is when, after
    Gauss-Jordan elimination, k is a pivot whose row holds nothing else. The elimination is sparse and
    exact modulo a 61-bit prime: an entry determined over the rationals is found (unless the prime
    divides a denominator of the combination that determines it, which with coefficients 0 and +-1 in
    tables of this size does not happen in practice); an entry found only because of the modulus just
    makes us withhold more.
    """
    order: dict[K, int] = {}
    for line in lines:
        for key in line:
            if key in withheld and key not in order:
                order[key] = len(order)
    elimination = _Elimination()
    for line in lines:
        row: Sparse = {}
        last = len(line) - 1
        for position, key in enumerate(line):
            column = order.get(key)
            if column is not None:
                _axpy(row, 1 if position == last else PRIME - 1, {column: 1})
        elimination.add(row)
    keys = list(order)
    return {keys[column] for column in elimination.alone()}


def _settle(
    grids: Sequence[Grid[K]], all_lines: Sequence[Sequence[K]], values: Mapping[K, int], withheld: set[K]
) -> None:
    changed = True
    while changed:
        changed = _fix_lines(all_lines, values, withheld)
        for grid in grids:
            changed = _fix_bridges(grid, values, withheld) or changed


def _thicken(
    key: K,
    all_lines: Sequence[Sequence[K]],
    lines_of: Mapping[K, list[int]],
    values: Mapping[K, int],
    withheld: set[K],
) -> list[K]:
    """For a withheld entry that can still be worked out: the cheapest published entry of each of its
    lines (or, where all its lines are withheld whole, the nearest published entry beyond them)."""
    chosen = []
    for number in lines_of[key]:
        candidates = [
            (cost(values[other]), position)
            for position, other in enumerate(all_lines[number])
            if other not in withheld
        ]
        if candidates:
            chosen.append(all_lines[number][min(candidates)[1]])
    if not chosen and (nearest := _nearest(key, all_lines, lines_of, values, withheld)) is not None:
        chosen.append(nearest)
    return chosen


def _nearest(
    key: K,
    all_lines: Sequence[Sequence[K]],
    lines_of: Mapping[K, list[int]],
    values: Mapping[K, int],
    withheld: set[K],
) -> K | None:
    """The cheapest published entry in a line of ``key``; if all those are withheld, in a line of
    theirs, and so on outwards."""
    frontier: set[K] = {key}
    seen_lines: set[int] = set()
    seen: set[K] = {key}
    while frontier:
        numbers = sorted({n for k in frontier for n in lines_of[k]} - seen_lines)
        seen_lines.update(numbers)
        candidates = [
            (cost(values[other]), number, position)
            for number in numbers
            for position, other in enumerate(all_lines[number])
            if other not in withheld
        ]
        if candidates:
            _, number, position = min(candidates)
            return all_lines[number][position]
        frontier = {other for number in numbers for other in all_lines[number]} - seen
        seen.update(frontier)
    return None


def protect(
    values: Mapping[K, int],
    grids: Sequence[Grid[K]],
    lines: Sequence[Sequence[K]] = (),
    *,
    threshold: int = THRESHOLD,
) -> frozenset[K]:
    """The entries to withhold. ``values`` holds every entry of ``grids`` and ``lines``; an entry may
    appear in several grids (shared totals), and is then withheld in all of them.

    After the row, column and bridge passes, an exact audit of all the equations together (every
    grid's lines and the extra ``lines``) finds any withheld entry still recoverable by combining
    tables; each gets the cheapest further entry of one of its lines, and the passes run again, until
    the audit finds none.
    """
    withheld = primary(values, threshold)
    grid_lines = [line for grid in grids for line in grid.lines()]
    all_lines = [*grid_lines, *lines]
    lines_of: dict[K, list[int]] = {}
    for number, line in enumerate(all_lines):
        for key in line:
            lines_of.setdefault(key, []).append(number)
    _settle(grids, all_lines, values, withheld)
    while found := recoverable(all_lines, withheld):
        added = {
            choice
            for key in sorted(found, key=lambda k: lines_of[k][0])
            for choice in _thicken(key, all_lines, lines_of, values, withheld)
        }
        if not added:  # everything linked to the recoverable entries is withheld: nothing more can help
            break
        withheld.update(added)
        _settle(grids, all_lines, values, withheld)
    return frozenset(withheld)
