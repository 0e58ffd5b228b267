"""Files in, result out (pure): the path shared by ``passport placements match --data DIR`` and the API.

The API writes a dataset out as the same canonical CSV files and runs them through here, so a run made
through the API can be repeated with the CLI on its exported inputs and gives the same result.
"""

import contextlib
import csv
import gc
import hashlib
import io
import time
from collections.abc import Iterator, Mapping

import msgspec

from service.placements import csv_import, explain, matching, model
from service.placements.schemas import MatchResult

CSV_COLUMNS = (
    "trainee_id",
    "site_code",
    "specialty",
    "value",
    "expected_cases",
    "distance_km",
    "preference_rank",
    "explanation",
)


def digests(files: Mapping[str, bytes]) -> tuple[str, dict[str, str]]:
    """(SHA-256 of the manifest, SHA-256 per file). The manifest is what ``sha256sum`` prints for the
    files sorted by name: ``<hex>  <name>\\n`` per file."""
    each = {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)}
    manifest = "".join(f"{digest}  {name}\n" for name, digest in each.items())
    return hashlib.sha256(manifest.encode()).hexdigest(), each


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: a national run allocates millions of small objects with no
    cycles among them, and the collector's passes over them would double the time of reading the files."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(
    files: Mapping[str, bytes], mode: str, parameters: model.Parameters, *, workers: int = 1
) -> MatchResult:
    """Check the files, build the model and match; raises ``InputRejected`` or ``ModelError``.

    ``workers`` > 1 lets a large optimal or fair match solve its components in forked processes.
    """
    with _no_cycle_collection():
        return _run(files, mode, parameters, workers)


def _run(files: Mapping[str, bytes], mode: str, parameters: model.Parameters, workers: int) -> MatchResult:
    known = {name: data for name, data in files.items() if name in csv_import.FILES}
    inputs = csv_import.parse_files(known, workers=workers)
    instance = model.build(inputs, parameters)
    started = time.perf_counter()
    fair = None
    if mode == "optimal":
        chosen = matching.match_optimal(instance, workers=workers)
    elif mode == "stable":
        chosen = matching.match_stable(instance)
    elif mode == "fair":
        fair = matching.match_fair(instance, workers=workers)
        chosen = fair.chosen
    else:
        raise model.ModelError(f"mode must be one of optimal, stable, fair, not {mode!r}")
    seconds = time.perf_counter() - started
    sha, each = digests(known)
    return explain.assemble(
        instance, mode, chosen, solver_seconds=seconds, input_sha256=sha, inputs=each, fair=fair
    )


def to_json(result: MatchResult) -> bytes:
    return msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n"


def _number(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


def to_csv(result: MatchResult) -> bytes:
    """The placements, then the unplaced trainees (empty site, the reason as explanation)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in result.placements:
        cases = ";".join(f"{group}={_number(n)}" for group, n in p.expected_cases.items())
        rank = "" if p.preference_rank is None else str(p.preference_rank)
        writer.writerow(
            [
                p.trainee_id,
                p.site_code,
                p.specialty,
                _number(p.value),
                cases,
                _number(p.distance_km),
                rank,
                p.explanation,
            ]
        )
    for u in result.unmatched:
        writer.writerow([u.trainee_id, "", "", "", "", "", "", u.reason])
    return out.getvalue().encode()
