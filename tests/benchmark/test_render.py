"""Each output format: what it embeds, how a withheld figure reads, and byte-identical repeats."""

import csv
import io
import re
import zipfile

import msgspec
import pytest

from service.benchmark.compute import compute
from service.benchmark.render import render
from service.benchmark.schemas import FORMATS, Report
from tests.benchmark.factories import YEAR, inputs, many


def report() -> Report:
    people = (
        many(3, "NV101", "2025-05-01", "2025-06-01")
        + many(12, "NT301", "2025-05-01", "2026-01-31", first=7_100_000)
        + many(8, "NT302", "2025-05-01", "2026-01-31", first=7_200_000)
    )
    logbook = [(YEAR, f"{7_100_000 + n}", "ST4", "NT301", "ent", "P", 10) for n in range(12)]
    return compute(
        inputs(placements=people, logbook=logbook, volumes=[(YEAR, "NT301", "ent", 400)]),
        registry_version="1.2.3",
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_inputs_give_byte_identical_files(fmt: str) -> None:
    assert render(report(), fmt) == render(report(), fmt)


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_text_formats_embed_year_version_and_input_hash(fmt: str) -> None:
    made = report()
    text = render(made, fmt).decode("utf-8")
    assert "2025-26" in text
    assert "1.2.3" in text
    assert made.inputs_sha256 in text


def test_xlsx_has_a_notes_sheet_and_one_sheet_per_table_with_the_metadata() -> None:
    made = report()
    book = zipfile.ZipFile(io.BytesIO(render(made, "xlsx")))
    workbook = book.read("xl/workbook.xml").decode()
    names = re.findall(r'<sheet name="([^"]+)"', workbook)
    assert names == ["Notes", *[t.id for t in made.tables]]
    strings = book.read("xl/sharedStrings.xml").decode()
    assert made.inputs_sha256 in strings
    assert "1.2.3" in strings
    assert "2025-26" in strings
    core = book.read("docProps/core.xml").decode()
    assert "2026-04-01T00:00:00Z" in core  # fixed, not the time it was made
    assert {info.date_time for info in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_json_is_the_report() -> None:
    made = report()
    assert msgspec.json.decode(render(made, "json"), type=Report) == made


def test_withheld_figures_read_as_c_in_csv_and_null_in_json() -> None:
    made = report()
    rows = list(csv.DictReader(io.StringIO(render(made, "csv").decode())))
    site = next(
        r
        for r in rows
        if r["table"] == "learners_by_site" and r["row_code"] == "NV101" and r["column_code"] == "specialty"
    )
    assert (site["value"], site["change"]) == ("[c]", "[c]")
    assert all(r["financial_year"] == "2025-26" and r["inputs_sha256"] == made.inputs_sha256 for r in rows)
    shown = next(
        r
        for r in rows
        if r["table"] == "learners_by_site" and r["row_code"] == "NT301" and r["column_code"] == "specialty"
    )
    assert (shown["value"], shown["previous_value"], shown["change"]) == ("12", "0", "12")
    share = next(
        r
        for r in rows
        if r["table"] == "procedures_by_site"
        and r["row_code"] == "NT301"
        and r["column_code"] == "share_percent"
    )
    assert share["value"] == "30.0"  # 120 of 400
    no_volume = next(
        r
        for r in rows
        if r["table"] == "procedures_by_site"
        and r["row_code"] == "NV101"
        and r["column_code"] == "share_percent"
    )
    assert no_volume["value"] == "[x]"
    decoded = msgspec.json.decode(render(made, "json"))
    learners = next(t for t in decoded["tables"] if t["id"] == "learners_by_site")
    assert next(r for r in learners["rows"] if r["code"] == "NV101")["cells"][2]["value"] is None


def test_html_is_self_contained_with_inline_charts() -> None:
    page = render(report(), "html").decode()
    assert "<svg" in page
    assert "<table>" in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "no external resources"
    assert "<script" not in page
    assert "<link" not in page
    assert "[c]" in page
