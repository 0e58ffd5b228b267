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


def protect(
    values: Mapping[K, int],
    grids: Sequence[Grid[K]],
    lines: Sequence[Sequence[K]] = (),
    *,
    threshold: int = THRESHOLD,
) -> frozenset[K]:
    """The entries to withhold. ``values`` holds every entry of ``grids`` and ``lines``; an entry may
    appear in several grids (shared totals), and is then withheld in all of them."""
    withheld = primary(values, threshold)
    grid_lines = [line for grid in grids for line in grid.lines()]
    all_lines = [*grid_lines, *lines]
    changed = True
    while changed:
        changed = _fix_lines(all_lines, values, withheld)
        for grid in grids:
            changed = _fix_bridges(grid, values, withheld) or changed
    return frozenset(withheld)
