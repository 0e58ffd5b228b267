"""Domain verbs of the benchmark: gather inputs, compute, publish, list, download; learner submissions.

Who may do what (the route guards decide who may call at all; see docs/benchmark.md):

- analysts (and admins) compute and publish benchmarks, list them and download every format with its
  signature; benchmarks are aggregates with small numbers withheld, never personal records;
- a provider's system (role ``issuer`` at the independent provider or one of its sites) submits
  learners for its own sites, and reads its own submissions; analysts and admins read all of them.

Services never commit: the request (or the CLI command) owns the transaction.
"""

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec
import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import service
from service.auth import Principal, Role
from service.benchmark import learners as rules
from service.benchmark import render, repository, signing
from service.benchmark.canonical import (
    GROUP_COUNTS,
    GROUP_VOLUMES,
    LEARNERS,
    ORGANISATIONS,
    PEOPLE,
    PLACEMENTS,
    BenchmarkInputs,
    fy_end,
    fy_label,
    fy_of,
    fy_start,
    logbook_table,
    make_inputs,
    trainee_facts,
)
from service.benchmark.compute import compute
from service.benchmark.models import BenchmarkFile, PublishedBenchmark
from service.benchmark.schemas import (
    FORMATS,
    MEDIA_TYPES,
    BenchmarkPage,
    BenchmarkRead,
    FileRead,
    LearnerPage,
    LearnerRead,
    LearnerSubmission,
    Report,
    SubmissionResult,
)
from service.benchmark.sources import DEFAULT_SOURCE, PlacementsSource
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, RowError, ServiceError
from service.keys import KeyRing
from service.workforce import service as workforce

KINDS: Final = ("region", "icb", "independent_provider", "independent_site")
API_PREFIX: Final = "/api/v1/benchmarks"


class ImportRejected(ServiceError):
    """A learners file refused as a whole; ``rows`` lists every problem."""

    status = 422
    code = "import_rejected"
    title = "Import rejected"

    def __init__(self, problems: Sequence[rules.Problem], *, status: int = 422) -> None:
        ordered = sorted(problems, key=lambda p: (p.row, p.column or "", p.reason))
        self.rows = [RowError(p.row, p.column, p.reason) for p in ordered]
        lines = len({p.row for p in ordered})
        super().__init__(
            f"The learners file was not imported: {len(ordered)} problem(s) in {lines} row(s). "
            "Nothing was written.",
            status=status,
        )
        if status == 403:
            self.code, self.title = "forbidden", "Forbidden"


def check_year(year: int, today: dt.date) -> None:
    """A benchmark is of a financial year that has started."""
    latest = fy_of(today)
    if year > latest:
        raise InvalidInput(
            f"The financial year {fy_label(year)} has not started: the latest is {fy_label(latest)}.",
            errors=[FieldError("body.financial_year", f"must be {latest} or earlier")],
        )


# ---------------------------------------------------------------- inputs from the database


async def _organisations(session: AsyncSession) -> pl.DataFrame:
    records: list[tuple[str, str, str, str | None, str | None]] = []
    for kind in KINDS:
        offset: int | None = 0
        while offset is not None:
            page = await workforce.list_organisations(
                session, kind=kind, parent=None, limit=workforce.MAX_LIMIT, offset=offset
            )
            records += [(o.code, o.name, o.kind, o.parent_code, o.icb_code) for o in page.items]
            offset = page.next_offset
    return pl.DataFrame(records, schema=ORGANISATIONS, orient="row")


async def _registered(session: AsyncSession, numbers: set[str]) -> pl.DataFrame:
    """The registered grade and specialty of the logbooks' trainees (GMC numbers), through the workforce
    service: the fallback when no placement in the year gives them."""
    _, by_gmc = await workforce.find_people(session, gmc_numbers=numbers)
    rows = [(number, person.grade, person.specialty) for number, person in by_gmc.items()]
    return pl.DataFrame(rows, schema=PEOPLE, orient="row")


def _frame(
    rows: Sequence[Sequence[object]] | pl.DataFrame, schema: Mapping[str, type[pl.DataType]]
) -> pl.DataFrame:
    """A frame from a source's rows (built column by column: twice as fast as row by row at national
    size) or its frame."""
    if isinstance(rows, pl.DataFrame):
        return rows.select([pl.col(name).cast(kind) for name, kind in schema.items()])
    return pl.DataFrame(
        {name: [row[i] for row in rows] for i, name in enumerate(schema)}, schema=dict(schema)
    )


def _unexplained(counts: pl.DataFrame, placements: pl.DataFrame, years: Sequence[int]) -> set[str]:
    """Logbook trainees whose grade or specialty no placement in the year gives: only they need their
    registered ones."""
    known = trainee_facts(placements, None, years).filter(
        pl.col("grade").is_not_null() & pl.col("trainee_specialty").is_not_null()
    )
    pairs = counts.select("financial_year", "trainee_id").unique()
    missing = pairs.join(known, on=["financial_year", "trainee_id"], how="anti")
    return set(missing["trainee_id"].to_list())


async def inputs_from_database(
    session: AsyncSession, year: int, *, source: PlacementsSource = DEFAULT_SOURCE
) -> BenchmarkInputs:
    """The canonical inputs for ``year``: organisations and trainees' registered grades through the
    workforce service, learners from this domain's table, placements, logbook counts and volumes through
    ``source``; each logbook row's grade and specialty by :func:`canonical.logbook_table`."""
    organisations = await _organisations(session)
    sites = sorted(organisations.filter(pl.col("kind") == "independent_site")["code"].to_list())
    years = [year - 1, year]
    placements = _frame(
        await source.placements(session, site_codes=sites, start=fy_start(year - 1), end=fy_end(year)),
        PLACEMENTS,
    )
    counts = _frame(await source.logbook_counts(session, site_codes=sites, years=years), GROUP_COUNTS)
    volumes = _frame(await source.volumes(session, site_codes=sites, years=years), GROUP_VOLUMES)
    people = await _registered(session, _unexplained(counts, placements, years))
    learners = await repository.learners_for_years(session, years)
    return make_inputs(
        year,
        organisations=organisations,
        placements=placements,
        logbook=logbook_table(counts, volumes, placements, people, years),
        volumes=volumes,
        learners=pl.DataFrame(learners, schema=LEARNERS, orient="row"),
    )


def report_of(inputs: BenchmarkInputs) -> Report:
    return compute(inputs, registry_version=service.__version__)


class Output(msgspec.Struct, frozen=True):
    fmt: str
    content: bytes
    signature: str


def outputs(report: Report, keyring: KeyRing, formats: Sequence[str] = FORMATS) -> list[Output]:
    """Each format's bytes and detached signature with the registry's credential key."""
    key = keyring.signer("credential")
    produced = []
    for fmt in formats:
        content = render.render(report, fmt)
        about = signing.describe(
            content,
            fmt=fmt,
            financial_year=report.financial_year,
            registry_version=report.registry_version,
            inputs_sha256=report.inputs_sha256,
        )
        produced.append(Output(fmt, content, signing.sign(content, key, about)))
    return produced


# ---------------------------------------------------------------- published benchmarks


def _read(record: PublishedBenchmark, files: Sequence[tuple[str, str, int, str]]) -> BenchmarkRead:
    base = f"{API_PREFIX}/{record.id}"
    return BenchmarkRead(
        id=record.id,
        financial_year=fy_label(record.financial_year),
        year=record.financial_year,
        inputs_sha256=record.inputs_sha256,
        registry_version=record.registry_version,
        key_id=record.key_id,
        created_at=record.created_at,
        created_by=record.created_by,
        files=[
            FileRead(
                format=fmt,
                media_type=media_type,
                bytes=size,
                sha256=sha256,
                href=f"{base}/{fmt}",
                signature_href=f"{base}/{fmt}/signature",
            )
            for fmt, media_type, size, sha256 in sorted(files, key=lambda f: FORMATS.index(f[0]))
        ],
    )


async def publish(
    session: AsyncSession,
    principal: Principal,
    year: int,
    *,
    keyring: KeyRing,
    now: dt.datetime,
    source: PlacementsSource = DEFAULT_SOURCE,
) -> BenchmarkRead:
    """Compute the benchmark of ``year`` from the database and store it with every format signed."""
    check_year(year, now.date())
    inputs = await inputs_from_database(session, year, source=source)
    # The computation and the rendering are CPU work: off the event loop, so other requests go on.
    report = await asyncio.to_thread(report_of, inputs)
    produced = await asyncio.to_thread(outputs, report, keyring)
    record = PublishedBenchmark(
        id=uuid.uuid4(),
        financial_year=year,
        inputs_sha256=report.inputs_sha256,
        registry_version=report.registry_version,
        key_id=keyring.signer("credential").kid,
        created_at=now,
        created_by=principal.subject,
    )
    files = [
        BenchmarkFile(
            benchmark_id=record.id,
            format=o.fmt,
            media_type=MEDIA_TYPES[o.fmt],
            sha256=hashlib.sha256(o.content).hexdigest(),
            size=len(o.content),
            content=o.content,
            signature=o.signature,
        )
        for o in produced
    ]
    await repository.add_benchmark(session, record, files)
    return _read(record, [(f.format, f.media_type, f.size, f.sha256) for f in files])


async def list_benchmarks(
    session: AsyncSession, *, year: int | None, limit: int, offset: int
) -> BenchmarkPage:
    rows, more = await repository.list_benchmarks(session, year=year, limit=limit, offset=offset)
    files = await repository.file_summaries(session, [r.id for r in rows])
    return BenchmarkPage(
        items=[_read(r, files[r.id]) for r in rows],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


async def get_benchmark(session: AsyncSession, benchmark_id: uuid.UUID) -> BenchmarkRead:
    record = await repository.get_benchmark(session, benchmark_id)
    if record is None:
        raise NotFound(f"No published benchmark {benchmark_id}.")
    files = await repository.file_summaries(session, [record.id])
    return _read(record, files[record.id])


async def get_file(session: AsyncSession, benchmark_id: uuid.UUID, fmt: str) -> BenchmarkFile:
    found = await repository.get_file(session, benchmark_id, fmt)
    if found is None:
        raise NotFound(f"No {fmt} file for a published benchmark {benchmark_id}.")
    return found


# ---------------------------------------------------------------- learner submissions


def _may_submit(principal: Principal, item: LearnerSubmission) -> bool:
    return principal.role is Role.ADMIN or principal.organisation in (item.provider_code, item.site_code)


async def _orgs(session: AsyncSession, items: Sequence[LearnerSubmission]) -> dict[str, rules.Org]:
    codes = sorted({c for i in items for c in (i.provider_code, i.site_code)})
    found: dict[str, rules.Org] = {}
    for code in codes:
        try:
            org = await workforce.get_organisation(session, code)
        except NotFound:
            continue
        found[org.code] = rules.Org(org.kind, org.parent_code)
    return found


async def _store(
    session: AsyncSession, principal: Principal, items: Sequence[LearnerSubmission], now: dt.datetime
) -> SubmissionResult:
    keys = [rules.key(i) for i in items]
    replaced = await repository.existing_learner_keys(session, keys)
    ids = [uuid.uuid4() for _ in items]
    rows = [
        {**msgspec.structs.asdict(item), "id": new_id, "submitted_by": principal.subject, "submitted_at": now}
        for item, new_id in zip(items, ids, strict=True)
    ]
    try:
        await repository.replace_learners(session, keys, rows)
    except IntegrityError:
        raise Conflict("The submission conflicts with one written at the same time; try again.") from None
    return SubmissionResult(
        created=len(items) - len(replaced), replaced=len(replaced), ids=[str(i) for i in ids]
    )


async def submit_learners(
    session: AsyncSession, principal: Principal, items: Sequence[LearnerSubmission], now: dt.datetime
) -> SubmissionResult:
    """Store a JSON batch (all or nothing); an item for an existing key replaces it."""
    items = [rules.normalise(i) for i in items]
    latest = fy_of(now.date())
    errors: list[FieldError] = []
    orgs = await _orgs(session, items)
    for index, item in enumerate(items):
        field = f"body.items[{index}]"
        problems = [*rules.rules(item, latest), *rules.reference_problems(item, orgs)]
        errors += [FieldError(f"{field}.{column}", reason) for column, reason in problems]
    duplicates = rules.duplicate_problems(list(enumerate(items)))
    errors += [
        FieldError(f"body.items[{p.row}].{p.column}", p.reason.replace("row", "item")) for p in duplicates
    ]
    if errors:
        raise InvalidInput("The submission has invalid items; nothing was written.", errors=errors)
    if foreign := [i for i, item in enumerate(items) if not _may_submit(principal, item)]:
        raise Forbidden(
            "You may submit learners only for your own provider's sites.",
            errors=[
                FieldError(f"body.items[{i}].site_code", "is not a site of your organisation")
                for i in foreign
            ],
        )
    return await _store(session, principal, items, now)


async def import_learners(
    session: AsyncSession, principal: Principal, payload: bytes, now: dt.datetime
) -> SubmissionResult:
    """Store a ``learners.csv`` file, all or nothing, with a row-by-row report of every problem."""
    rows, problems = rules.parse_csv(payload, fy_of(now.date()))
    orgs = await _orgs(session, [item for _, item in rows])
    for line, item in rows:
        problems += [rules.Problem(line, c, r) for c, r in rules.reference_problems(item, orgs)]
    problems += rules.duplicate_problems(rows)
    if problems:
        raise ImportRejected(problems)
    foreign = [
        rules.Problem(line, "site_code", "is not a site of your organisation")
        for line, item in rows
        if not _may_submit(principal, item)
    ]
    if foreign:
        raise ImportRejected(foreign, status=403)
    return await _store(session, principal, [item for _, item in rows], now)


async def list_learners(
    session: AsyncSession, principal: Principal, *, year: int | None, limit: int, offset: int
) -> LearnerPage:
    provider = principal.organisation if principal.role is Role.ISSUER else None
    if principal.role is Role.ISSUER and provider is None:
        raise Forbidden("You may act only for your own organisation.")
    rows, more = await repository.list_learners(
        session, year=year, provider=provider, limit=limit, offset=offset
    )
    items = [msgspec.convert(r, LearnerRead, from_attributes=True) for r in rows]
    return LearnerPage(items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None)
