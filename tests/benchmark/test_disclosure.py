"""Small-number suppression: constructed cases, and properties over random tables (hypothesis).

The properties are checked independently of the algorithm: a withheld entry is recoverable exactly
when the unit vector of that entry lies in the row space of the table's equations restricted to the
withheld entries; we test that with exact rational Gaussian elimination, not with the graph argument
the algorithm relies on.
"""

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.benchmark.disclosure import Grid, bridges, protect

Cells = list[list[int]]


def extended(cells: Cells) -> tuple[dict[tuple[int, int], int], Grid[tuple[int, int]]]:
    """The table with its totals row and column, entries keyed (row, col)."""
    rows, cols = len(cells), len(cells[0])
    values: dict[tuple[int, int], int] = {}
    for i in range(rows + 1):
        for j in range(cols + 1):
            if i < rows and j < cols:
                values[(i, j)] = cells[i][j]
            elif i < rows:
                values[(i, j)] = sum(cells[i])
            elif j < cols:
                values[(i, j)] = sum(cells[k][j] for k in range(rows))
            else:
                values[(i, j)] = sum(map(sum, cells))
    grid = Grid(tuple(tuple((i, j) for j in range(cols + 1)) for i in range(rows + 1)))
    return values, grid


def shown(cells: Cells) -> list[list[str]]:
    values, grid = extended(cells)
    hidden = protect(values, [grid])
    return [["*" if key in hidden else str(values[key]) for key in row] for row in grid.entries]


def _rref(matrix: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """Reduced row echelon form over the rationals (dense, exact)."""
    rows = [row[:] for row in matrix]
    rank = 0
    for col in range(width):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        lead = rows[rank][col]
        rows[rank] = [value / lead for value in rows[rank]]
        for r in range(len(rows)):
            if r != rank and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[rank], strict=True)]
        rank += 1
    return rows[:rank]


def recoverable(lines: Sequence[Sequence[Any]], totals: set[Any], hidden: set[Any]) -> set[Any]:
    """Withheld entries a reader can compute exactly from the published ones (exact rational algebra).

    Each line says: its entries before the last add up to the last. A withheld entry is determined
    when its unit vector is in the row space of the equations restricted to the withheld entries:
    in reduced row echelon form, a row with a single non-zero."""
    unknowns = sorted(hidden, key=repr)
    index = {key: n for n, key in enumerate(unknowns)}
    equations = []
    for line in lines:
        row = [Fraction(0)] * len(unknowns)
        for position, key in enumerate(line):
            if key in index:
                row[index[key]] += -1 if key in totals and position == len(line) - 1 else 1
        if any(row):
            equations.append(row)
    found = set()
    for row in _rref(equations, len(unknowns)):
        nonzero = [n for n, value in enumerate(row) if value != 0]
        if len(nonzero) == 1:
            found.add(unknowns[nonzero[0]])
    return found


# ---------------------------------------------------------------- constructed cases


def test_a_table_without_small_counts_is_shown_whole() -> None:
    assert shown([[10, 20], [30, 40]]) == [["10", "20", "30"], ["30", "40", "70"], ["40", "60", "100"]]


def test_one_small_cell_takes_the_smallest_cells_of_its_row_and_column_with_it() -> None:
    # 3 is withheld; its row's smallest other cell is 10, its column's is 15; then 12 closes the square
    assert shown([[3, 10, 12], [20, 30, 40], [15, 2, 25]]) == [
        ["*", "*", "12", "25"],
        ["20", "30", "40", "90"],
        ["*", "*", "25", "42"],
        ["38", "42", "77", "157"],
    ]


def test_a_small_total_is_withheld_and_protected_too() -> None:
    # the first row adds up to 4: the total is a small count, so it and a second entry go
    table = shown([[0, 4, 0], [10, 12, 30]])
    assert table[0][3] == "*"
    assert table[0][1] == "*"
    assert all(line.count("*") != 1 for line in table)


def test_zeros_are_shown_and_never_used_to_hide_others() -> None:
    table = shown([[2, 0, 9], [0, 0, 7], [8, 0, 11]])
    assert [row[1] for row in table] == ["0", "0", "0", "0"]


def test_a_lone_small_count_in_a_column_of_zeros_hides_the_totals_it_would_show() -> None:
    # column 0 holds one 2 and zeros: its total would give the 2 away, so the total is withheld
    table = shown([[2, 50], [0, 60]])
    assert table[0][0] == "*"
    assert table[2][0] == "*"
    values, grid = extended([[2, 50], [0, 60]])
    hidden = protect(values, [grid])
    assert recoverable(grid.lines(), _totals(grid), set(hidden)) == set()


def test_differencing_across_a_linked_table_is_blocked() -> None:
    # sites a, b in one ICB; the ICB's own row in another table is the sum of theirs in each column
    sites: dict[Key, int] = {("site", "a", 0): 3, ("site", "a", 1): 20}
    sites |= {("site", "b", 0): 30, ("site", "b", 1): 40}
    site_grid, icb_grid, values = _linked(sites)
    lines = [[("site", "a", c), ("site", "b", c), ("icb", "x", c)] for c in (0, 1, "t")]
    hidden = protect(values, [site_grid, icb_grid], lines)
    assert ("site", "a", 0) in hidden
    for line in lines:  # the ICB figure must not let a reader subtract back to the withheld site
        assert sum(1 for key in line if key in hidden) != 1


Key = tuple[object, ...]


def _linked(sites: dict[Key, int]) -> tuple[Grid[Key], Grid[Key], dict[Key, int]]:
    values: dict[Key, int] = dict(sites)
    for site in ("a", "b"):
        values[("site", site, "t")] = sites[("site", site, 0)] + sites[("site", site, 1)]
    for c in (0, 1, "t"):
        column = values[("site", "a", c)] + values[("site", "b", c)]
        values[("icb", "x", c)] = column
        values[("total", c)] = column
    site_grid: Grid[Key] = Grid(
        (
            tuple(("site", "a", c) for c in (0, 1, "t")),
            tuple(("site", "b", c) for c in (0, 1, "t")),
            tuple(("total", c) for c in (0, 1, "t")),
        )
    )
    icb_grid: Grid[Key] = Grid(
        (tuple(("icb", "x", c) for c in (0, 1, "t")), tuple(("total", c) for c in (0, 1, "t")))
    )
    return site_grid, icb_grid, values


def test_a_withheld_bridge_between_two_blocks_is_closed_into_a_cycle() -> None:
    # every line has two withheld entries, yet (0, 2) links two separate squares: it can be recovered
    grid = Grid(tuple(tuple((i, j) for j in range(5)) for i in range(5)))
    hidden = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)}
    assert bridges(grid, hidden) == [(0, 2)]


def _totals(grid: Grid[tuple[int, int]]) -> set[tuple[int, int]]:
    last_row = grid.rows - 1
    last_col = grid.cols - 1
    return {key for row in grid.entries for key in row if key[0] == last_row or key[1] == last_col}


# ---------------------------------------------------------------- properties

small_counts = st.one_of(st.integers(0, 6), st.integers(0, 40))
tables = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda cols: st.lists(
            st.lists(small_counts, min_size=cols, max_size=cols), min_size=rows, max_size=rows
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_no_count_from_1_to_4_is_ever_shown(cells: Cells) -> None:
    values, grid = extended(cells)
    hidden = protect(values, [grid])
    assert [key for key, value in values.items() if 1 <= value <= 4 and key not in hidden] == []


@settings(max_examples=200, deadline=None)
@given(tables)
def test_no_line_has_exactly_one_withheld_entry(cells: Cells) -> None:
    """The brief's invariant: no row or column holds exactly one withheld cell unless its total is also
    withheld; here stronger, counting the total as an entry of its line."""
    values, grid = extended(cells)
    hidden = protect(values, [grid])
    for line in grid.lines():
        assert sum(1 for key in line if key in hidden) != 1


@settings(max_examples=120, deadline=None)
@given(tables)
def test_no_withheld_figure_can_be_worked_out_from_the_published_ones(cells: Cells) -> None:
    values, grid = extended(cells)
    hidden = set(protect(values, [grid]))
    assert recoverable(grid.lines(), _totals(grid), hidden) == set()


@settings(max_examples=200, deadline=None)
@given(tables)
def test_only_entries_that_need_it_are_withheld(cells: Cells) -> None:
    """Nothing is withheld in a table with no small count, and what is withheld always includes a
    small count (secondary suppression never starts on its own)."""
    values, grid = extended(cells)
    hidden = protect(values, [grid])
    small = {key for key, value in values.items() if 1 <= value <= 4}
    assert (hidden == frozenset()) == (small == set())
    assert small <= hidden
