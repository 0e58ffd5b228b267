"""``passport placements match``: run a match on a folder of CSV files (no database needed)."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from service.placements.schemas import MODES

MAX_SHOWN: Final = 100


class PlacementsCommandError(Exception):
    """A refusal printed as lines (exit 1)."""


def add_parser(sub: Any, handler: Callable[..., None]) -> None:
    placements = sub.add_parser("placements", help="placement matching")
    actions = placements.add_subparsers(dest="action", required=True)
    match = actions.add_parser(
        "match",
        help="match trainees to independent sites from a folder of CSV files",
        description="Reads sites.csv, volumes.csv, capacity.csv, trainees.csv, curriculum.csv, logbook.csv "
        "and the optional needs.csv, preferences.csv, weights.csv, excluded_sites.csv, "
        "excluded_trainee_sites.csv from DIR (formats: docs/placements.md).",
    )
    match.add_argument("--data", required=True, type=Path, metavar="DIR", help="folder of the CSV files")
    match.add_argument("--mode", choices=MODES, default="optimal")
    match.add_argument("--training-share", type=float, default=0.5, metavar="X", help="0 < X <= 1 (0.5)")
    match.add_argument("--rotation-months", type=int, default=6, metavar="M", help="1 to 24 (6)")
    match.add_argument(
        "--year", metavar="YYYY-YY", help="financial year of the volumes (default: the latest)"
    )
    match.add_argument("--seed", type=int, default=0, metavar="N", help="tie-break seed, 0 or more (0)")
    match.add_argument("--output", required=True, type=Path, metavar="FILE", help="where to write the result")
    match.add_argument("--format", choices=("json", "csv"), default="json")
    match.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes for a large match (1): with 2, the logbook is read and the components solved in a "
        "second process; it pays only on an otherwise idle multi-core machine",
    )
    placements.set_defaults(func=handler)


def _read(folder: Path) -> dict[str, bytes]:
    from service.placements.csv_import import FILES

    if not folder.is_dir():
        raise PlacementsCommandError(f"--data {folder}: not a folder")
    return {name: (folder / name).read_bytes() for name in FILES if (folder / name).is_file()}


def match(args: argparse.Namespace) -> None:
    from service.placements import engine
    from service.placements.csv_import import InputRejected
    from service.placements.model import ModelError, Parameters

    if args.seed < 0 or args.seed >= 2**63:
        raise PlacementsCommandError("--seed must be from 0 to 2**63 - 1")
    files = _read(args.data)
    parameters = Parameters(
        training_share=args.training_share,
        rotation_months=args.rotation_months,
        financial_year=args.year,
        seed=args.seed,
    )
    try:
        result = engine.run(files, args.mode, parameters, workers=max(1, args.workers))
    except InputRejected as exc:
        lines = [f"the files in {args.data} were refused ({exc}):"]
        lines += [f"  {problem}" for problem in exc.problems[:MAX_SHOWN]]
        if len(exc.problems) > MAX_SHOWN:
            lines.append(f"  ... and {len(exc.problems) - MAX_SHOWN} more")
        raise PlacementsCommandError("\n".join(lines)) from None
    except ModelError as exc:
        raise PlacementsCommandError(str(exc)) from None
    data = engine.to_json(result) if args.format == "json" else engine.to_csv(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    s = result.summary
    sys.stdout.write(
        f"{s.mode}: {s.matched} of {s.trainees} trainees placed, total value {s.total_value:g}, "
        f"{s.blocking_pairs} blocking pair(s), solver {s.solver_seconds:.2f} s; written to {args.output}\n"
    )
