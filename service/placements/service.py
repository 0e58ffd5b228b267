"""Domain verbs of placements: load data, run matches, publish them, and read what other domains need.

Where data lives:

- registry-wide facts, loaded by coordinators and read by everyone who needs them: NHS-funded procedure
  volumes of independent sites (``volumes.csv``, rows replace rows with the same key), curriculum
  indicative numbers (``curriculum.csv``, likewise) and logbooks (``logbook.csv``: the file replaces
  the logbook of every trainee it names);
- datasets: one rotation plan of one training office, holding sites, capacity, trainees, needs,
  preferences, weights and gates (each file replaced as a whole when loaded again);
- sites are the registry's organisations of kind independent site (the workforce domain): a dataset's
  ``sites.csv`` must agree with them (name, ICB, and the location when the registry has one);
- trainee_id is the doctor's 7-digit GMC number, which must be registered (a doctor in training), so
  that publishing a run creates placement records for real people.

A run exports the dataset and the registry-wide facts it needs as the canonical CSV files and matches them
with :mod:`service.placements.engine`, exactly as ``passport placements match --data DIR`` does. Services
never commit: the request owns the transaction.
"""

import asyncio
import calendar
import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec
import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, RowError, ServiceError
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import TrainingPlacementCreate
from service.placements import csv_import, engine, gates, repository
from service.placements.csv_import import FileProblem, Table
from service.placements.model import ModelError, Parameters
from service.placements.models import Dataset, Run
from service.placements.schemas import (
    DATASET_FILES,
    DatasetCreate,
    DatasetPage,
    DatasetRead,
    LoadResult,
    LogbookEntry,
    MatchResult,
    PlacementRecord,
    PlacementRecordPage,
    PublishRequest,
    PublishResult,
    RunCreate,
    RunGates,
    RunPage,
    RunRead,
    Summary,
    VolumeRecord,
)
from service.workforce import service as workforce
from service.workforce.schemas import PersonRead

LOCATION_TOLERANCE: Final = 0.001
"""Degrees (about 100 m) within which a site's location in a file must agree with the registry's."""
MANAGERS: Final = (Role.ADMIN, Role.COORDINATOR)
EMPLOYER_KINDS: Final = frozenset({"nhs_trust", "independent_provider", "independent_site"})
"""Who may employ a doctor in a passport placement record."""


class ImportRejected(ServiceError):
    """A placement file refused as a whole; ``rows`` lists every problem (problem details)."""

    status = 422
    code = "import_rejected"
    title = "Import rejected"

    def __init__(self, file: str, problems: Iterable[FileProblem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.row or 0, p.column or "", p.reason))
        self.rows = [RowError(p.row or 0, p.column, p.reason) for p in ordered]
        lines = len({row.row for row in self.rows})
        super().__init__(
            f"The {file} file was not loaded: {len(self.rows)} problem(s) in {lines} row(s). "
            "Nothing was written."
        )


async def _doctors(session: AsyncSession, numbers: Iterable[str | None]) -> dict[str, PersonRead]:
    """The registered people among these GMC numbers, by GMC number (the workforce domain's bulk read)."""
    _, by_gmc = await workforce.find_people(session, gmc_numbers=[n for n in numbers if n is not None])
    return by_gmc


def _actor(principal: Principal) -> str:
    return principal.subject[:200]


# ---------------------------------------------------------------- datasets


def _may_manage(principal: Principal, dataset: Dataset) -> bool:
    return principal.role is Role.ADMIN or (
        principal.role is Role.COORDINATOR
        and principal.organisation is not None
        and dataset.organisation_code == principal.organisation
    )


async def _dataset(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> Dataset:
    """The dataset if the caller's organisation owns it (an admin: any); otherwise not found."""
    dataset = await repository.get_dataset(session, dataset_id)
    if dataset is None or not _may_manage(principal, dataset):
        raise NotFound(f"No dataset {dataset_id}.")
    return dataset


def _dataset_read(dataset: Dataset, rows: Mapping[str, int]) -> DatasetRead:
    return DatasetRead(
        id=dataset.id,
        name=dataset.name,
        organisation_code=dataset.organisation_code,
        created_at=dataset.created_at,
        rows={kind: rows[kind] for kind in DATASET_FILES if kind in rows},
    )


async def create_dataset(
    session: AsyncSession,
    principal: Principal,
    data: DatasetCreate,
    now: dt.datetime,
    *,
    dataset_id: uuid.UUID | None = None,
) -> DatasetRead:
    if principal.role is not Role.ADMIN and principal.organisation is None:
        raise Forbidden("A coordinator must belong to an organisation to own a dataset.")
    dataset = Dataset(
        id=dataset_id or uuid.uuid4(),
        name=data.name,
        organisation_code=principal.organisation,
        created_at=now,
        created_by=_actor(principal),
    )
    await repository.add(session, dataset)
    return _dataset_read(dataset, {})


async def get_dataset(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> DatasetRead:
    dataset = await _dataset(session, principal, dataset_id)
    counts = await repository.file_rows(session, [dataset.id])
    return _dataset_read(dataset, counts[dataset.id])


async def list_datasets(session: AsyncSession, principal: Principal) -> DatasetPage:
    datasets = await repository.list_datasets(
        session, principal.organisation, every=principal.role is Role.ADMIN
    )
    counts = await repository.file_rows(session, [d.id for d in datasets])
    return DatasetPage(items=[_dataset_read(d, counts[d.id]) for d in datasets])


def _file_name(kind: str) -> str:
    return f"{kind}.csv"


def _table_of(name: str, content: bytes) -> Table:
    table, problems = csv_import.read_file(name, content)
    if problems:  # stored files are canonical: this is a defect, not bad input
        raise RuntimeError(f"stored {name} does not parse: {problems[0]}")
    return table


async def _stored(session: AsyncSession, dataset: Dataset) -> dict[str, Table]:
    files = await repository.dataset_files(session, dataset.id)
    return {kind: _table_of(_file_name(kind), f.content) for kind, f in files.items()}


def _column(tables: Mapping[str, Table], kind: str, column: str) -> set[str] | None:
    return set(tables[kind].columns[column]) if kind in tables else None


async def _site_problems(session: AsyncSession, name: str, table: Table) -> list[FileProblem]:
    """Each site must be a registered independent site and agree with the registry."""
    codes = [c for c in table.columns["site_code"] if c is not None]
    registered = await workforce.organisations_by_codes(session, codes)
    problems = []
    for i, (code, line) in enumerate(zip(table.columns["site_code"], table.lines, strict=True)):
        org = registered.get(code) if code is not None else None
        if code is None:
            continue
        if org is None or org.kind != "independent_site":
            reason = (
                f"no independent site has the code {code} in the registry"
                if org is None
                else f"{code} is an organisation of kind {org.kind}, not an independent site"
            )
            problems.append(FileProblem(name, line, "site_code", reason))
            continue
        name_cell, icb = table.columns["name"][i], table.columns["icb_code"][i]
        if name_cell is not None and name_cell != org.name:
            problems.append(FileProblem(name, line, "name", f"the registry names {code} {org.name!r}"))
        if icb is not None and org.icb_code is not None and icb != org.icb_code:
            problems.append(
                FileProblem(name, line, "icb_code", f"the registry has {code} in ICB {org.icb_code}")
            )
        for column, registry in (("latitude", org.latitude), ("longitude", org.longitude)):
            cell = table.columns[column][i]
            if registry is not None and cell is not None and abs(cell - registry) > LOCATION_TOLERANCE:
                problems.append(
                    FileProblem(name, line, column, f"the registry has {code} at {column} {registry}")
                )
    return problems


async def _trainee_problems(session: AsyncSession, name: str, table: Table) -> list[FileProblem]:
    """Each trainee_id must be the GMC number of a registered doctor in training."""
    numbers = [n for n in table.columns["trainee_id"] if n is not None]
    people = await _doctors(session, numbers)
    problems = []
    for number, line in zip(table.columns["trainee_id"], table.lines, strict=True):
        if number is None:
            continue
        person = people.get(number)
        if person is None:
            problems.append(
                FileProblem(name, line, "trainee_id", f"no registered person has the GMC number {number}")
            )
        elif person.grade == "other":
            problems.append(
                FileProblem(name, line, "trainee_id", f"{number} is not registered as a doctor in training")
            )
    return problems


async def load_dataset_file(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID,
    kind: str,
    payload: bytes,
    now: dt.datetime,
) -> LoadResult:
    """Check one dataset file against the registry and the dataset's other files; replace it."""
    if kind not in DATASET_FILES:
        raise NotFound(f"Datasets have no file {kind[:40]!r}; they have {', '.join(DATASET_FILES)}.")
    dataset = await _dataset(session, principal, dataset_id)
    name = _file_name(kind)
    table, problems = csv_import.read_file(name, payload)
    problems += csv_import.file_problems(name, table)
    stored = await _stored(session, dataset)
    if kind == "sites":
        problems += await _site_problems(session, name, table)
    elif kind == "trainees":
        problems += await _trainee_problems(session, name, table)
    sites = _column(stored, "sites", "site_code")
    trainees = _column(stored, "trainees", "trainee_id")
    if (sites is None and name in csv_import.SITE_REFERENCES) or (
        trainees is None and name in csv_import.TRAINEE_REFERENCES
    ):
        first = "sites" if sites is None and name in csv_import.SITE_REFERENCES else "trainees"
        problems.append(
            FileProblem(name, None, None, f"load the dataset's {first}.csv first: this file refers to it")
        )
    else:
        where = "the dataset's {}.csv"
        problems += csv_import.reference_problems(
            name, table, sites=sites, trainees=None, where=where.format("sites")
        )
        problems += csv_import.reference_problems(
            name, table, sites=None, trainees=trainees, where=where.format("trainees")
        )
    if problems:
        raise ImportRejected(name, problems)
    content = csv_import.write_file(name, table)
    replaced = await repository.put_file(
        session, dataset.id, kind, content, len(table.lines), now, _actor(principal)
    )
    return LoadResult(file=name, rows=len(table.lines), replaced=replaced)


async def dataset_file(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, kind: str
) -> bytes:
    """A dataset file in canonical form (an empty file with its header when not loaded)."""
    if kind not in DATASET_FILES:
        raise NotFound(f"Datasets have no file {kind[:40]!r}; they have {', '.join(DATASET_FILES)}.")
    dataset = await _dataset(session, principal, dataset_id)
    files = await repository.dataset_files(session, dataset.id)
    if kind in files:
        return files[kind].content
    return csv_import.write_file(_file_name(kind), _empty(_file_name(kind)))


def _empty(name: str) -> Table:
    return Table({c.name: [] for c in csv_import.FILES[name]}, [])


# ---------------------------------------------------------------- registry-wide facts


def _rows(table: Table) -> list[dict[str, Any]]:
    names = list(table.columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*table.columns.values(), strict=True)]


async def load_volumes(session: AsyncSession, payload: bytes, now: dt.datetime) -> LoadResult:
    name = "volumes.csv"
    table, problems = csv_import.read_file(name, payload)
    problems += csv_import.file_problems(name, table)
    codes = [c for c in table.columns["site_code"] if c is not None]
    registered = await workforce.organisations_by_codes(session, codes)
    for code, line in zip(table.columns["site_code"], table.lines, strict=True):
        org = registered.get(code) if code is not None else None
        if code is not None and (org is None or org.kind != "independent_site"):
            problems.append(FileProblem(name, line, "site_code", f"no independent site has the code {code}"))
    if problems:
        raise ImportRejected(name, problems)
    rows = [{**row, "loaded_at": now} for row in _rows(table)]
    replaced = await repository.upsert_volumes(session, rows)
    return LoadResult(file=name, rows=len(rows), replaced=replaced)


async def load_curriculum(session: AsyncSession, payload: bytes, now: dt.datetime) -> LoadResult:
    name = "curriculum.csv"
    table, problems = csv_import.read_file(name, payload)
    problems += csv_import.file_problems(name, table)
    if problems:
        raise ImportRejected(name, problems)
    rows = [{**row, "loaded_at": now} for row in _rows(table)]
    replaced = await repository.upsert_curriculum(session, rows)
    return LoadResult(file=name, rows=len(rows), replaced=replaced)


async def load_logbook(session: AsyncSession, payload: bytes, now: dt.datetime) -> LoadResult:
    """Replace the logbooks of the trainees the file names (a trainee with no rows keeps theirs)."""
    name = "logbook.csv"
    table, problems = csv_import.read_file(name, payload)
    problems += await _trainee_problems(session, name, table)
    codes = [c for c in table.columns["site_code"] if c is not None]
    registered = await workforce.organisations_by_codes(session, codes)
    for code, line in zip(table.columns["site_code"], table.lines, strict=True):
        if code is not None and code not in registered:
            problems.append(FileProblem(name, line, "site_code", f"no organisation has the code {code}"))
    if problems:
        raise ImportRejected(name, problems)
    people = await _doctors(session, table.columns["trainee_id"])
    rows = [
        {
            "person_id": people[row["trainee_id"]].id,
            "gmc_number": row["trainee_id"],
            "procedure_group": row["procedure_group"],
            "date": row["date"],
            "supervision": row["supervision"],
            "site_code": row["site_code"],
            "loaded_at": now,
        }
        for row in _rows(table)
    ]
    removed = await repository.replace_logbooks(session, [p.id for p in people.values()], rows)
    return LoadResult(file=name, rows=len(rows), replaced=removed)


# ---------------------------------------------------------------- runs


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _header(name: str) -> list[str]:
    return [c.name for c in csv_import.FILES[name]]


def _number(value: float) -> str:
    return csv_import.plain_number(value)


async def _sites_file(session: AsyncSession, table: Table) -> bytes:
    """sites.csv from the registry (the one source of truth), the file's location where it has none."""
    registered = await workforce.organisations_by_codes(session, table.columns["site_code"])
    rows = []
    for i, code in enumerate(table.columns["site_code"]):
        org = registered.get(code)
        name = org.name if org else table.columns["name"][i]
        icb = (org.icb_code if org else None) or table.columns["icb_code"][i]
        lat = org.latitude if org and org.latitude is not None else table.columns["latitude"][i]
        lon = org.longitude if org and org.longitude is not None else table.columns["longitude"][i]
        rows.append((code, name, icb, _number(lat), _number(lon)))
    return _csv(_header("sites.csv"), sorted(rows))


def _with_gates(name: str, stored: Table | None, extra: Sequence[tuple[str, ...]]) -> Table:
    """The dataset's gate file plus the run's own exclusions: a key listed more than once keeps every
    distinct reason, the dataset's first."""
    table = stored or _empty(name)
    columns = list(table.columns)
    reasons: dict[tuple[Any, ...], list[str]] = {}
    for row in [*zip(*table.columns.values(), strict=True), *extra]:
        found = reasons.setdefault(tuple(row[:-1]), [])
        if row[-1] not in found:
            found.append(row[-1])
    rows = [(*key, gates.fit(found)) for key, found in reasons.items()]
    return Table({c: [r[i] for r in rows] for i, c in enumerate(columns)}, list(range(2, len(rows) + 2)))


async def export_inputs(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID,
    *,
    excluded_sites: Sequence[tuple[str, str]] = (),
    excluded_pairs: Sequence[tuple[str, str, str]] = (),
) -> dict[str, bytes]:
    """The files a run of the dataset reads, in canonical form (what the CLI would be given), with the
    run's exclusions (``excluded_sites``: site, reason; ``excluded_pairs``: trainee, site, reason) added
    to the dataset's gate files."""
    dataset = await _dataset(session, principal, dataset_id)
    stored = await _stored(session, dataset)
    files: dict[str, bytes] = {}
    for kind, table in stored.items():
        files[_file_name(kind)] = csv_import.write_file(_file_name(kind), table)
    sites = list(stored["sites"].columns["site_code"]) if "sites" in stored else []
    if "sites" in stored:
        files["sites.csv"] = await _sites_file(session, stored["sites"])
    volumes = await repository.volumes_for_sites(session, sites)
    files["volumes.csv"] = _csv(
        _header("volumes.csv"),
        sorted(
            (v.site_code, v.specialty, v.procedure_group, v.financial_year, v.nhs_funded_count)
            for v in volumes
        ),
    )
    files["curriculum.csv"] = _csv(
        _header("curriculum.csv"),
        sorted(
            (c.specialty, c.procedure_group, c.indicative_number, c.min_supervision)
            for c in await repository.curriculum(session)
        ),
    )
    numbers = list(stored["trainees"].columns["trainee_id"]) if "trainees" in stored else []
    people = await _doctors(session, numbers)
    entries = await repository.logbooks_of(session, [p.id for p in people.values()])
    files["logbook.csv"] = _csv(
        _header("logbook.csv"),
        sorted(
            (number, group, day.isoformat(), supervision, site)
            for number, group, day, supervision, site in entries
        ),
    )
    if excluded_sites or excluded_pairs:
        gated = _with_gates("excluded_sites.csv", stored.get("excluded_sites"), excluded_sites)
        files["excluded_sites.csv"] = csv_import.write_file("excluded_sites.csv", gated)
        pairs = _with_gates(
            "excluded_trainee_sites.csv", stored.get("excluded_trainee_sites"), excluded_pairs
        )
        files["excluded_trainee_sites.csv"] = csv_import.write_file("excluded_trainee_sites.csv", pairs)
    return files


def _run_read(run: Run) -> RunRead:
    return RunRead(
        id=run.id,
        dataset_id=run.dataset_id,
        mode=run.mode,
        created_at=run.created_at,
        created_by=run.created_by,
        input_sha256=run.input_sha256,
        published_at=run.published_at,
        summary=msgspec.json.decode(run.summary, type=Summary),
        start_date=run.start_date,
        end_date=run.end_date,
        gates=msgspec.json.decode(run.gates, type=RunGates) if run.gates else None,
    )


def _refused(problems: Sequence[FileProblem]) -> InvalidInput:
    errors = [
        FieldError(
            field=p.file
            + (f" row {p.row}" if p.row is not None else "")
            + (f" {p.column}" if p.column else ""),
            reason=p.reason,
        )
        for p in problems[:1000]
    ]
    return InvalidInput(
        f"The dataset cannot be matched: {len(problems)} problem(s) in its files; "
        "fix them and load them again.",
        errors=errors,
    )


def _period(start: dt.date, months: int, field: str) -> dt.date:
    """The last day of placements of ``months`` from ``start``; refuses dates outside the files' range."""
    first, last = csv_import.FIRST_DATE, csv_import.LAST_DATE
    if not first <= start <= last:
        raise InvalidInput(
            f"Placement dates must be between {first} and {last}.",
            errors=[FieldError(f"body.{field}", f"must be between {first} and {last}")],
        )
    return min(add_months(start, months) - dt.timedelta(days=1), last)


async def _trainees(session: AsyncSession, stored: Mapping[str, Table]) -> list[gates.Trainee]:
    if "trainees" not in stored:
        return []
    columns = stored["trainees"].columns
    people = await _doctors(session, columns["trainee_id"])
    return [
        gates.Trainee(number, people[number].id, specialty, grade)
        for number, specialty, grade in zip(
            columns["trainee_id"], columns["specialty"], columns["grade"], strict=True
        )
        if number in people
    ]


def _candidates(stored: Mapping[str, Table]) -> dict[str, list[str]]:
    """For each trainee, the sites that have capacity in their specialty (where a gate could matter)."""
    if "trainees" not in stored or "capacity" not in stored:
        return {}
    by_specialty: dict[str, set[str]] = {}
    capacity = stored["capacity"].columns
    for site, specialty in zip(capacity["site_code"], capacity["specialty"], strict=True):
        by_specialty.setdefault(specialty, set()).add(site)
    trainees = stored["trainees"].columns
    return {
        number: sorted(by_specialty.get(specialty, ()))
        for number, specialty in zip(trainees["trainee_id"], trainees["specialty"], strict=True)
    }


async def _gates(
    session: AsyncSession,
    stored: Mapping[str, Table],
    request: RunCreate,
    start: dt.date,
    end: dt.date,
    *,
    today: dt.date,
    keys: DataKeyRing | None,
    base_url: str,
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]], RunGates]:
    """The run's exclusions: its own, the additionality gate's and the passport gate's."""
    sites = list(stored["sites"].columns["site_code"]) if "sites" in stored else []
    excluded_sites = [(g.site_code.upper(), g.reason) for g in request.excluded_sites]
    excluded_pairs = [(g.trainee_id, g.site_code.upper(), g.reason) for g in request.excluded_trainee_sites]
    failed_checks: list[int] = []
    if request.additionality_gate:
        site_gate = await gates.additionality_gate(session, sites, start, end)
        excluded_sites += site_gate.rows
        failed_checks = site_gate.checks
    per_site = {p.site_code.upper(): p.policy for p in request.site_policies}
    chosen, without = await gates.resolve_policies(session, sites, request.passport_policy, per_site)
    if chosen:
        if keys is None:  # pragma: no cover - every caller that offers the passport gate passes them
            raise RuntimeError("the passport gate needs the data keys")
        excluded_pairs += await gates.passport_gate(
            session,
            policies_by_site=chosen,
            trainees=await _trainees(session, stored),
            candidates=_candidates(stored),
            start=start,
            end=end,
            today=today,
            keys=keys,
            base_url=base_url,
        )
    applied = RunGates(
        additionality=request.additionality_gate,
        failed_checks=failed_checks,
        passport=gates.applied(chosen),
        sites_without_policy=without,
    )
    return excluded_sites, excluded_pairs, applied


async def create_run(
    session: AsyncSession,
    principal: Principal,
    dataset_id: uuid.UUID,
    request: RunCreate,
    now: dt.datetime,
    *,
    keys: DataKeyRing | None = None,
    base_url: str = "",
) -> RunRead:
    """Match the dataset for placements from ``request.start_date`` (default: today) through its gates,
    and store the run with its inputs' SHA-256, parameters, seed, dates, gates and result.

    ``keys`` (the passport's data keys, to read occupational health outcomes) and ``base_url`` are needed
    only for a passport gate."""
    dataset = await _dataset(session, principal, dataset_id)
    start = request.start_date or now.date()
    end = _period(start, request.rotation_months, "start_date")
    stored = await _stored(session, dataset)
    excluded_sites, excluded_pairs, applied = await _gates(
        session, stored, request, start, end, today=now.date(), keys=keys, base_url=base_url
    )
    files = await export_inputs(
        session, principal, dataset_id, excluded_sites=excluded_sites, excluded_pairs=excluded_pairs
    )
    parameters = Parameters(
        training_share=request.training_share,
        rotation_months=request.rotation_months,
        financial_year=request.financial_year,
        seed=request.seed,
    )
    try:  # in a worker thread: the event loop keeps serving other requests meanwhile
        result = await asyncio.to_thread(engine.run, files, request.mode, parameters)
    except csv_import.InputRejected as exc:
        raise _refused(exc.problems) from None
    except ModelError as exc:
        raise InvalidInput(str(exc)[0].upper() + str(exc)[1:] + ".") from None
    run = Run(
        id=uuid.uuid4(),
        dataset_id=dataset_id,
        mode=request.mode,
        training_share=request.training_share,
        rotation_months=request.rotation_months,
        financial_year=result.summary.financial_year,
        seed=request.seed,
        input_sha256=result.summary.input_sha256,
        result=msgspec.json.encode(result),
        summary=msgspec.json.encode(result.summary).decode(),
        created_at=now,
        created_by=_actor(principal),
        published_at=None,
        published_by=None,
        start_date=start,
        end_date=end,
        gates=msgspec.json.encode(applied).decode(),
    )
    await repository.add(session, run)
    return _run_read(run)


async def _run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    run = await repository.get_run(session, run_id)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    dataset = await repository.get_dataset(session, run.dataset_id)
    if dataset is None or not _may_manage(principal, dataset):
        raise NotFound(f"No run {run_id}.")
    return run


async def list_runs(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> RunPage:
    dataset = await _dataset(session, principal, dataset_id)
    return RunPage(items=[_run_read(r) for r in await repository.runs_of(session, dataset.id)])


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> RunRead:
    return _run_read(await _run(session, principal, run_id))


async def run_result(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, *, as_csv: bool
) -> bytes:
    """The stored result: the documented JSON, or the same rows as CSV."""
    run = await _run(session, principal, run_id)
    if not as_csv:
        return run.result
    return engine.to_csv(msgspec.json.decode(run.result, type=MatchResult))


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _publish_dates(run: Run, request: PublishRequest) -> tuple[dt.date, dt.date]:
    """The placements' dates: the run's by default. A gated run's exclusions were decided for its own
    dates, so it may be published only from its start date, up to its end date."""
    gated = run.gates is not None and _is_gated(msgspec.json.decode(run.gates, type=RunGates))
    start = request.start_date or run.start_date
    if start is None:
        raise InvalidInput(
            "This run has no dates of its own: give the placements' start_date.",
            errors=[FieldError("body.start_date", "required for a run made without dates")],
        )
    default_end = _period(start, run.rotation_months, "start_date")
    if run.start_date is not None and start == run.start_date and run.end_date is not None:
        default_end = run.end_date
    end = request.end_date or default_end
    _period(end, 1, "end_date")
    if end < start:
        raise InvalidInput(
            "The placements would end before they start.",
            errors=[FieldError("body.end_date", "must be on or after start_date")],
        )
    outside = (
        run.start_date is not None
        and run.end_date is not None
        and (start != run.start_date or end > run.end_date)
    )
    if gated and outside:
        raise Conflict(
            f"This run's gates were evaluated for placements from {run.start_date} to {run.end_date}: "
            "publish it for those dates, or run the match again for others.",
            errors=[FieldError("body.start_date", f"must be {run.start_date} (the run's)")],
        )
    return start, end


def _is_gated(applied: RunGates) -> bool:
    return applied.additionality or bool(applied.passport)


def _programme(specialty: str) -> str:
    return f"{specialty.replace('_', ' ').capitalize()} training"[:200]


async def _employers(
    session: AsyncSession, people: Mapping[str, PersonRead], sites: Mapping[str, str], start: dt.date
) -> dict[str, str]:
    """Each placed trainee's employing body on the first day: their employment then (or, failing that,
    the latest before) at an NHS trust or independent provider or site; else the site's provider."""
    employments = await workforce.employments_of_people(session, [p.id for p in people.values()])
    organisations = await workforce.organisations_by_codes(
        session, {e.organisation_code for e in employments} | set(sites.values())
    )
    by_person: dict[uuid.UUID, list[Any]] = {}
    for e in employments:
        kind = organisations[e.organisation_code].kind if e.organisation_code in organisations else None
        if kind in EMPLOYER_KINDS and e.start_date <= start:
            by_person.setdefault(e.person_id, []).append(e)
    found = {}
    for number, person in people.items():
        held = sorted(
            by_person.get(person.id, []),
            key=lambda e: (e.end_date is None or e.end_date >= start, e.start_date),
        )
        if held:
            found[number] = held[-1].organisation_code
            continue
        site = organisations.get(sites[number])
        found[number] = site.parent_code if site is not None and site.parent_code else sites[number]
    return found


async def _passport_records(
    session: AsyncSession,
    principal: Principal,
    dataset: Dataset | None,
    run: Run,
    rows: Sequence[Mapping[str, Any]],
    people: Mapping[str, PersonRead],
    now: dt.datetime,
) -> int:
    """The published placements as the passport's training programme and placement records, origin the
    training office that owns the run (through the passport's service, in this transaction)."""
    if not rows:
        return 0
    origin = (dataset.organisation_code if dataset is not None else None) or principal.organisation
    if origin is None:
        raise Conflict(
            "This run's dataset belongs to no training office, so its placements would have no origin "
            "organisation in the passport; a coordinator's dataset can be published."
        )
    office = Principal(
        subject=principal.subject, kind=principal.kind, role=principal.role, organisation=origin
    )
    start = rows[0]["start_date"]
    employers = await _employers(session, people, {r["gmc_number"]: r["site_code"] for r in rows}, start)
    records = [
        msgspec.convert(
            {
                "kind": "training_placement",
                "person_id": str(r["person_id"]),
                "programme": _programme(r["specialty"]),
                "specialty": r["specialty"],
                "grade": r["grade"],
                "employing_body_code": employers[r["gmc_number"]],
                "site_code": r["site_code"],
                "start_date": r["start_date"].isoformat(),
                "end_date": r["end_date"].isoformat(),
                "assurance_policy": f"Placement match run {run.id}, published {now:%Y-%m-%d}",
                "assurance_outcome": "verified",
                "verification_method": "source_system",
                "last_refreshed_at": now.isoformat(),
            },
            TrainingPlacementCreate,
        )
        for r in rows
    ]
    ids = await passport.submit_published_placements(session, office, records, now=now)
    return len(ids)


async def publish(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, request: PublishRequest, now: dt.datetime
) -> PublishResult:
    """Turn the run's placements into placement records, and each into the trainee's training programme
    and placement record of the passport (all or nothing); refused when a trainee already has a
    placement record then."""
    run = await _run(session, principal, run_id)
    if run.published_at is not None:
        raise Conflict(f"This run was published on {run.published_at:%Y-%m-%d %H:%M} UTC.")
    start, end = _publish_dates(run, request)
    result = msgspec.json.decode(run.result, type=MatchResult)
    dataset = await repository.get_dataset(session, run.dataset_id)
    grades: dict[str, str] = {}
    if dataset is not None:
        stored = await _stored(session, dataset)
        if "trainees" in stored:
            columns = stored["trainees"].columns
            grades = dict(zip(columns["trainee_id"], columns["grade"], strict=True))
    people = await _doctors(session, [p.trainee_id for p in result.placements])
    missing = sorted({p.trainee_id for p in result.placements} - set(people))
    if missing:
        raise Conflict(f"These trainees are no longer registered: {', '.join(missing[:10])}.")
    clashes = await repository.overlapping_records(session, [p.id for p in people.values()], start, end)
    if clashes:
        numbers = sorted({c.gmc_number for c in clashes})
        raise Conflict(
            f"{len(numbers)} trainee(s) already have a placement in these dates: {', '.join(numbers[:10])}.",
            errors=[FieldError("body.start_date", "overlaps a published placement of the same trainee")],
        )
    rows = [
        {
            "id": uuid.uuid4(),
            "person_id": people[p.trainee_id].id,
            "gmc_number": p.trainee_id,
            "site_code": p.site_code,
            "specialty": p.specialty,
            "grade": grades.get(p.trainee_id) or people[p.trainee_id].grade,
            "start_date": start,
            "end_date": end,
            "run_id": run.id,
            "published_at": now,
        }
        for p in result.placements
    ]
    await repository.add_records(session, rows)
    placed = {p.trainee_id: people[p.trainee_id] for p in result.placements}
    written = await _passport_records(session, principal, dataset, run, rows, placed, now)
    run.published_at, run.published_by = now, _actor(principal)
    return PublishResult(
        run_id=run.id, records=len(rows), start_date=start, end_date=end, passport_records=written
    )


# ---------------------------------------------------------------- placement records


def _record(r: Any) -> PlacementRecord:
    return msgspec.convert(r, PlacementRecord, from_attributes=True)


async def site_placements(
    session: AsyncSession, principal: Principal, site_code: str, *, start: dt.date | None, end: dt.date | None
) -> PlacementRecordPage:
    """Published placements at a site: for its host provider (the site's or its provider's own users),
    the training offices whose runs placed them, and admins."""
    code, reason = csv_import.ods(site_code.strip())
    site = (await workforce.organisations_by_codes(session, [code])).get(code) if reason is None else None
    if site is None or site.kind != "independent_site":
        raise NotFound(f"No independent site has the code {site_code[:20]}.")
    owner: str | None = None
    if principal.role in (Role.ISSUER, Role.VERIFIER):
        if principal.organisation not in (site.code, site.parent_code):
            raise Forbidden("You may list placements only at your own site or your provider's sites.")
    elif principal.role is Role.COORDINATOR:
        owner = principal.organisation or ""
    records = await repository.records_between(
        session, start or dt.date.min, end or dt.date.max, site_codes=[code], datasets_of=owner
    )
    return PlacementRecordPage(items=[_record(r) for r in records])


async def placement_records(
    session: AsyncSession, *, start: dt.date, end: dt.date, site_codes: Sequence[str] | None = None
) -> list[PlacementRecord]:
    """Published placement records overlapping [start, end] (stable: the benchmark reads these)."""
    return [_record(r) for r in await repository.records_between(session, start, end, site_codes=site_codes)]


async def placements_hosted(session: AsyncSession, site_code: str, *, start: dt.date, end: dt.date) -> int:
    """How many training placements ``site_code`` hosted overlapping [start, end] (stable: additionality)."""
    return await repository.count_hosted(session, site_code.upper(), start, end)


async def placements_hosted_many(
    session: AsyncSession, periods: Sequence[tuple[str, dt.date, dt.date]]
) -> list[int]:
    """For each (site_code, start, end): how many published training placements the site hosted
    overlapping [start, end] (stable: additionality's training reciprocity). One query per 1,000 sites."""
    if not periods:
        return []
    first = min(start for _, start, _ in periods)
    last = max(end for _, _, end in periods)
    by_site: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for _, site, _, _, start, end in await repository.record_rows(
        session, first, last, sorted({site.upper() for site, _, _ in periods})
    ):
        by_site.setdefault(site, []).append((start, end))
    return [
        sum(1 for start, end in by_site.get(site.upper(), ()) if start <= last_day and end >= first_day)
        for site, first_day, last_day in periods
    ]


async def logbook_entries(session: AsyncSession, *, start: dt.date, end: dt.date) -> list[LogbookEntry]:
    """Logbook entries dated within [start, end] (stable: the benchmark reads these)."""
    return [
        LogbookEntry(
            person_id=e.person_id,
            gmc_number=e.gmc_number,
            procedure_group=e.procedure_group,
            date=e.date,
            supervision=e.supervision,
            site_code=e.site_code,
        )
        for e in await repository.logbook_between(session, start, end)
    ]


async def procedure_volumes(session: AsyncSession, financial_year: str) -> list[VolumeRecord]:
    """NHS-funded procedure volumes of one financial year (``YYYY-YY``), for the benchmark's shares."""
    return [
        VolumeRecord(
            site_code=v.site_code,
            specialty=v.specialty,
            procedure_group=v.procedure_group,
            financial_year=v.financial_year,
            nhs_funded_count=v.nhs_funded_count,
        )
        for v in await repository.volumes_of_year(session, financial_year)
    ]


# ---------------------------------------------------------------- the benchmark's source


class BenchmarkSource:
    """What the training benchmark reads from placements, in the row shapes of its ``PlacementsSource``
    protocol (``service/benchmark/sources.py``): published placement records (a doctor named by GMC
    number, as in the logbook), logbook entries counted per (year, trainee, site, procedure group,
    supervision) from ``logbook_year_counts`` (kept on every logbook write), and NHS-funded volumes per
    (year, site, specialty, procedure group). One query each (per 1,000 sites)."""

    async def placements(
        self, session: AsyncSession, *, site_codes: Sequence[str], start: dt.date, end: dt.date
    ) -> list[tuple[str, str, str | None, str, str | None, str, dt.date, dt.date]]:
        rows = await repository.record_rows(session, start, end, site_codes)
        return [
            (gmc, site, specialty, "medical", grade, "doctors_in_training", first, last)
            for gmc, site, specialty, grade, first, last in rows
        ]

    async def logbook_counts(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> pl.DataFrame:
        return await repository.logbook_counts(session, site_codes, years)

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> list[tuple[int, str, str | None, str, int]]:
        labels = [f"{y}-{(y + 1) % 100:02d}" for y in sorted(set(years))]
        return [
            (int(year[:4]), site, specialty, group, count)
            for year, site, specialty, group, count in await repository.volume_rows(
                session, site_codes, labels
            )
        ]
