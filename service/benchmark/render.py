"""The report in each published format: JSON, CSV, XLSX and a self-contained HTML page with charts.

Every format embeds the financial year, the registry version and the SHA-256 of the inputs, and the
same report always gives the same bytes: no clock, no random ids, fixed document properties and zip
timestamps in the XLSX, inline CSS and SVG in the HTML (no external resources).

Withheld figures are ``null`` in JSON and ``[c]`` elsewhere (the Government Statistical Service
symbol for confidential); a figure that cannot be computed (a share without a volume) is ``[x]``.

Pure module: no web or database imports.
"""

import csv
import datetime as dt
import html
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import jinja2
import msgspec
import xlsxwriter

from service.benchmark.schemas import Report, Row, Table

WITHHELD: Final = "[c]"
NOT_AVAILABLE: Final = "[x]"
CHART_MAX_ROWS: Final = 45
TEMPLATES: Final = Path(__file__).parent / "templates"


def render(report: Report, fmt: str) -> bytes:
    renderers: dict[str, Callable[[Report], bytes]] = {
        "json": to_json,
        "csv": to_csv,
        "xlsx": to_xlsx,
        "html": to_html,
    }
    return renderers[fmt](report)


# ---------------------------------------------------------------- JSON


def to_json(report: Report) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


# ---------------------------------------------------------------- shared helpers


def _text(value: int | float | None, *, missing: str = WITHHELD) -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _extra_missing(row: Row, index: int, previous: bool) -> str:
    """Why an extra figure is missing: the volume itself is never withheld, a share is when its
    procedures total is, and is not computable without a volume."""
    volume = row.extras[0].previous if previous else row.extras[0].value
    if index == 0 or not volume:
        return NOT_AVAILABLE
    return WITHHELD


def _all_rows(table: Table) -> list[Row]:
    return [*table.rows, table.total]


# ---------------------------------------------------------------- CSV

CSV_HEADER: Final = (
    "financial_year",
    "registry_version",
    "inputs_sha256",
    "table",
    "measure",
    "unit",
    "row_dimension",
    "row_code",
    "row_label",
    "column_dimension",
    "column_code",
    "column_label",
    "value",
    "previous_value",
    "change",
)


def _csv_rows(report: Report) -> Iterator[list[str]]:
    head = [report.financial_year, report.registry_version, report.inputs_sha256]
    for table in report.tables:
        columns = [(c.code, c.label) for c in table.columns] + [("total", "Total")]
        for row in _all_rows(table):
            base = [*head, table.id, table.measure, table.unit, table.row_dimension, row.code, row.label]
            for (code, label), cell in zip(columns, [*row.cells, row.total], strict=True):
                figures = [_text(cell.value), _text(cell.previous), _text(cell.change)]
                yield [*base, table.column_dimension, code, label, *figures]
            for index, (extra, cell) in enumerate(zip(table.extra_columns, row.extras, strict=True)):
                figures = [
                    _text(cell.value, missing=_extra_missing(row, index, False)),
                    _text(cell.previous, missing=_extra_missing(row, index, True)),
                    _text(cell.change, missing=WITHHELD if index else NOT_AVAILABLE),
                ]
                yield [*base, "measure", extra.code, extra.label, *figures]


def to_csv(report: Report) -> bytes:
    """One row per figure (long format), the year, version and input hash on every row."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(_csv_rows(report))
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- XLSX


def _stamp(report: Report) -> dt.datetime:
    """The fixed creation time written into the workbook: midnight after the year's last day."""
    return dt.datetime.combine(report.period_end + dt.timedelta(days=1), dt.time(0, 0))


def _headers(report: Report, table: Table) -> list[str]:
    labels = [c.label for c in table.columns] + ["Total"]
    heads = ["Code", table.row_label]
    heads += [f"{label} {report.financial_year}" for label in labels]
    heads += [f"{label} {report.previous_financial_year}" for label in labels]
    heads += [f"{label}: change" for label in labels]
    for extra in table.extra_columns:
        heads += [f"{extra.label} {report.financial_year}", f"{extra.label} {report.previous_financial_year}"]
        heads.append(f"{extra.label}: change")
    return heads


def _figures(table: Table, row: Row) -> list[int | float | str]:
    cells = [*row.cells, row.total]

    def show(value: int | float | None, missing: str = WITHHELD) -> int | float | str:
        return missing if value is None else value

    out: list[int | float | str] = [show(c.value) for c in cells]
    out += [show(c.previous) for c in cells]
    out += [show(c.change) for c in cells]
    for index, cell in enumerate(row.extras):
        out.append(show(cell.value, _extra_missing(row, index, False)))
        out.append(show(cell.previous, _extra_missing(row, index, True)))
        out.append(show(cell.change, WITHHELD if index else NOT_AVAILABLE))
    return out


def _notes_sheet(book: Any, report: Report, bold: Any, wrap: Any) -> None:
    sheet = book.add_worksheet("Notes")
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 110)
    lines: list[tuple[str, str]] = [
        ("Title", report.title),
        ("Financial year", f"{report.financial_year} ({report.period_start} to {report.period_end})"),
        ("Compared with", report.previous_financial_year),
        ("Registry version", report.registry_version),
        ("Inputs SHA-256", report.inputs_sha256),
        ("Disclosure control", report.disclosure.rule),
        ("Symbols", f"{WITHHELD} withheld to protect individuals; {NOT_AVAILABLE} not available"),
    ]
    lines += [("Note", note) for note in report.notes]
    lines += [(f"Sheet {table.id}", table.title) for table in report.tables]
    for index, (name, text) in enumerate(lines):
        sheet.write_string(index, 0, name, bold)
        sheet.write_string(index, 1, text, wrap)


def to_xlsx(report: Report) -> bytes:
    """One sheet per table and a notes sheet; byte-identical for the same report."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    book.set_properties(
        {
            "title": f"{report.title} {report.financial_year}",
            "subject": f"inputs SHA-256 {report.inputs_sha256}",
            "author": "Staff Passport Registry",
            "comments": f"registry version {report.registry_version}",
            "created": _stamp(report),
        }
    )
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    head = book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bottom": 1})
    _notes_sheet(book, report, bold, wrap)
    for table in report.tables:
        sheet = book.add_worksheet(table.id[:31])
        sheet.write_string(0, 0, f"{table.title}, {report.financial_year}", bold)
        sheet.write_string(
            1,
            0,
            f"Unit: {table.unit}. Registry {report.registry_version}; inputs SHA-256 {report.inputs_sha256}. "
            f"{WITHHELD}: withheld (see Notes).",
        )
        headers = _headers(report, table)
        sheet.set_row(3, 45)
        sheet.set_column(0, 0, 14)
        sheet.set_column(1, 1, 40)
        sheet.set_column(2, len(headers) - 1, 12)
        for col, text in enumerate(headers):
            sheet.write_string(3, col, text, head)
        for index, row in enumerate(_all_rows(table), start=4):
            style = bold if row is table.total else None
            sheet.write_string(index, 0, row.code, style)
            sheet.write_string(index, 1, row.label, style)
            for col, value in enumerate(_figures(table, row), start=2):
                if isinstance(value, str):
                    sheet.write_string(index, col, value, style)
                else:
                    sheet.write_number(index, col, value, style)
        sheet.freeze_panes(4, 2)
    book.close()
    return _normalise_zip(buffer.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite the zip with fixed member times and attributes, in the library's member order."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            fixed.create_system = 0
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


# ---------------------------------------------------------------- HTML


def _bar_chart(report: Report, table: Table) -> str:
    """Horizontal bars of each row's total, this year against the year before, as inline SVG."""
    rows = table.rows
    values = [v for r in rows for v in (r.total.value, r.total.previous) if isinstance(v, int | float)]
    top = max(values, default=0) or 1
    label_width, bar_width, line = 260, 420, 26
    height = line * len(rows) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_width + bar_width + 90}" '
        f'height="{height}" aria-label="{html.escape(table.title)}: totals by '
        f'{html.escape(table.row_label)}">'
    ]
    parts.append(
        f'<rect x="{label_width}" y="4" width="12" height="10" class="now"/>'
        f'<text x="{label_width + 16}" y="13">{report.financial_year}</text>'
        f'<rect x="{label_width + 90}" y="4" width="12" height="10" class="before"/>'
        f'<text x="{label_width + 106}" y="13">{report.previous_financial_year}</text>'
    )
    for index, row in enumerate(rows):
        y = 30 + index * line
        label = row.label if len(row.label) <= 38 else row.label[:37] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{html.escape(label)}</text>'
        )
        for offset, (value, kind) in enumerate(((row.total.value, "now"), (row.total.previous, "before"))):
            top_y = y + offset * 10
            if value is None:
                parts.append(f'<text x="{label_width + 4}" y="{top_y + 9}" class="withheld">withheld</text>')
                continue
            width = round(bar_width * float(value) / top, 1)
            parts.append(f'<rect x="{label_width}" y="{top_y}" width="{width}" height="9" class="{kind}"/>')
            parts.append(f'<text x="{label_width + width + 4}" y="{top_y + 9}">{_text(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["figure"] = lambda value: _text(value)
    return env


def _html_rows(table: Table) -> list[dict[str, Any]]:
    out = []
    for row in _all_rows(table):
        extras = []
        for index, cell in enumerate(row.extras):
            extras.append(
                {
                    "value": _text(cell.value, missing=_extra_missing(row, index, False)),
                    "previous": _text(cell.previous, missing=_extra_missing(row, index, True)),
                    "change": _text(cell.change, missing=WITHHELD if index else NOT_AVAILABLE),
                }
            )
        out.append(
            {"row": row, "cells": [*row.cells, row.total], "extras": extras, "total": row is table.total}
        )
    return out


def to_html(report: Report) -> bytes:
    env = _environment()
    charts = {t.id: _bar_chart(report, t) for t in report.tables if len(t.rows) <= CHART_MAX_ROWS}
    page = env.get_template("report.html").render(
        report=report,
        tables=[(t, _html_rows(t), charts.get(t.id)) for t in report.tables],
        withheld=WITHHELD,
        not_available=NOT_AVAILABLE,
    )
    return page.encode("utf-8")
