"""``passport benchmark compute|verify``: the command group, wired into ``service/cli.py``.

``compute --year Y [--data DIR] --format json|csv|xlsx|html --output PATH`` writes the benchmark of
financial year Y (from the CSV folder DIR, or from the database) to PATH and its detached signature to
``PATH.jws`` (or ``--signature``). ``verify FILE SIG`` checks a file against its signature with the
registry's published keys: a saved JWKS file or URL (``--jwks``), by default the registry's own
``/.well-known/jwks.json``.
"""

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from service.benchmark.schemas import FORMATS
from service.config import Settings

T = TypeVar("T")
Runner = Callable[[Settings, Callable[[Any], Awaitable[T]]], T]
MAX_SHOWN_PROBLEMS = 200


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser("benchmark", help="the annual training benchmark")
    actions = parser.add_subparsers(dest="action", required=True)
    compute = actions.add_parser("compute", help="compute, write and sign the benchmark of a financial year")
    compute.add_argument("--year", type=int, required=True, help="financial year: 2025 means 2025-26")
    compute.add_argument("--data", type=Path, help="folder of canonical CSV files (default: the database)")
    compute.add_argument("--format", choices=FORMATS, default="json")
    compute.add_argument("--output", type=Path, required=True, help="file to write")
    compute.add_argument("--signature", type=Path, help="where to write the signature (default: OUTPUT.jws)")
    verify = actions.add_parser("verify", help="check a benchmark file against its detached signature")
    verify.add_argument("file", type=Path)
    verify.add_argument("signature", type=Path)
    verify.add_argument(
        "--jwks",
        help="a saved JWKS file or a URL (default: the registry's /.well-known/jwks.json)",
    )
    return parser


def _fail(message: str) -> Exception:
    from service.cli import CommandError

    return CommandError(message)


def compute(
    settings: Settings, args: argparse.Namespace, run: Runner[Any], out: Callable[[str], None]
) -> None:
    from service.app import open_keyring
    from service.benchmark import service
    from service.benchmark.csv_inputs import InputsRejected, read_folder
    from service.db import utcnow
    from service.errors import ServiceError

    started = time.perf_counter()
    now = utcnow()
    try:
        service.check_year(args.year, now.date())
    except ServiceError as exc:
        raise _fail(f"--year: {exc.detail}") from None
    keyring = open_keyring(settings, utcnow)  # refuse before the work when keys are missing
    if args.data is not None:
        try:
            inputs = read_folder(args.data, args.year, today=now.date())
        except InputsRejected as exc:
            for problem in exc.problems[:MAX_SHOWN_PROBLEMS]:
                column = f", column {problem.column}" if problem.column else ""
                sys.stderr.write(f"{problem.file}, row {problem.row}{column}: {problem.reason}\n")
            hidden = len(exc.problems) - MAX_SHOWN_PROBLEMS + exc.more
            if hidden > 0:
                sys.stderr.write(f"... and {hidden} more\n")
            raise _fail(f"{args.data}: {exc}") from None
    else:
        inputs = run(settings, lambda session: service.inputs_from_database(session, args.year))
    loaded = time.perf_counter()
    report = service.report_of(inputs)
    (produced,) = service.outputs(report, keyring, [args.format])
    signature_path = args.signature or args.output.with_name(args.output.name + ".jws")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(produced.content)
    signature_path.write_text(produced.signature + "\n", encoding="ascii")
    withheld = sum(t.withheld for t in report.tables)
    out(f"benchmark {report.financial_year} ({args.format}) written to {args.output}")
    out(f"  signature: {signature_path} (key {keyring.signer('credential').kid})")
    out(f"  inputs SHA-256: {report.inputs_sha256}")
    out(f"  {len(report.tables)} tables, {withheld} figures withheld for {report.financial_year}")
    out(f"  read inputs {loaded - started:.2f} s, computed and wrote in {time.perf_counter() - loaded:.2f} s")


def _load_jwks(settings: Settings, source: str | None) -> Any:
    location = source or f"{settings.issuer}/.well-known/jwks.json"
    if location.startswith(("http://", "https://")):
        try:
            response = httpx.get(location, timeout=10, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise _fail(f"cannot fetch the key set from {location}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise _fail(f"cannot fetch the key set from {location}: HTTP {response.status_code}")
        data = response.content
    else:
        try:
            data = Path(location).read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read the key set {location}: {exc.strerror}") from None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise _fail(f"the key set {location} is not JSON") from None


def verify(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    from service.benchmark import signing

    try:
        data = args.file.read_bytes()
        signature = args.signature.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    jwks = _load_jwks(settings, args.jwks)
    try:
        verdict = signing.verify(data, signature, jwks)
    except signing.SignatureInvalid as exc:
        raise _fail(f"NOT VERIFIED: {exc}") from None
    about = verdict.benchmark
    out(f"verified: {args.file} is the benchmark signed by key {verdict.kid} ({verdict.alg})")
    out(
        f"  {about.get('format')} of financial year {about.get('financial_year')}, registry "
        f"{about.get('registry_version')}, inputs SHA-256 {about.get('inputs_sha256')}"
    )
