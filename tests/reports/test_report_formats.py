"""Every figure of the known batch in every format: JSON (parsed), CSV (csv module), HTML
(parsed, inline SVG checked with xml.etree), PDF (rendered with pdftoppm, text with
pdftotext)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import (
    BATCH,
    CLAIM_A,
    CLAIM_B,
    DAY,
    EMPTY_BATCH,
    EXPECTED_COUNTS,
    EXPECTED_FAILURES,
    EXPECTED_HEADER,
    EXPECTED_STEPS,
    EXPECTED_THROUGHPUT,
    EXPECTED_UNIT_CYCLE,
    EXPECTED_UNITS,
    PRODUCT,
    REPORT_TIME_TEXT,
    UNIT_COLUMNS,
    ManualClock,
    device_key,
    fingerprint,
    report_clock,
)

from records import Records
from station.reports.data import BatchReport, ReportError, build_report
from station.reports.formats import (
    CSV_BOM,
    UNIT_FIELDS,
    format_renderer,
    render,
    report_filename,
    report_to_dict,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def report(known_db: Path) -> BatchReport:
    with Records(known_db) as records:
        return build_report(records, BATCH, now=report_clock, station_id="ST-QA")


@pytest.fixture(scope="module")
def empty_report(known_db: Path) -> BatchReport:
    with Records(known_db) as records:
        return build_report(records, EMPTY_BATCH, now=report_clock)


# -- JSON ------------------------------------------------------------------------------------


def test_json_has_every_figure(report: BatchReport) -> None:
    data = json.loads(render(report, "json"))
    assert data["schema_version"] == 1
    assert data["kind"] == "batch_report" and data["source"] == "station"
    header = data["header"]
    for field, value in EXPECTED_HEADER.items():
        if field == "claim_certificates":
            value = [{"sha256": sha, "units": n} for sha, n in value]
        assert header[field] == value, field
    assert data["counts"] == EXPECTED_COUNTS
    assert [[f["code"], f["attempts"], f["units"], f["share"], f["cumulative_share"],
             f["hint"]] for f in data["failures"]] == [list(f) for f in EXPECTED_FAILURES]
    per_unit = dict(data["cycle_times"]["per_unit"])
    assert per_unit.pop("name") == "unit" and per_unit == EXPECTED_UNIT_CYCLE
    steps = {s.pop("name"): s for s in data["cycle_times"]["per_step"]}
    assert steps == EXPECTED_STEPS
    assert [(b["hour"], b["attempts"], b["passed"]) for b in data["throughput"]] == (
        EXPECTED_THROUGHPUT)
    assert data["units_included"] is True
    units = {u["serial"]: u for u in data["units"]}
    assert set(units) == set(EXPECTED_UNITS)
    for serial, expected in EXPECTED_UNITS.items():
        assert tuple(units[serial][c] for c in UNIT_COLUMNS) == expected, serial
        assert list(units[serial]) == list(UNIT_FIELDS)
    assert data["unavailable"] == []
    assert any("not as units" in note for note in data["notes"])


def test_json_is_stable(report: BatchReport) -> None:
    assert render(report, "json") == render(report, "json")
    data = json.loads(render(report, "json"))
    assert list(data) == ["schema_version", "kind", "source", "header", "counts", "failures",
                          "cycle_times", "throughput", "units_included", "notes",
                          "unavailable", "units"]
    assert data == json.loads(json.dumps(report_to_dict(report)))


def test_json_of_an_empty_batch(empty_report: BatchReport) -> None:
    data = json.loads(render(empty_report, "json"))
    assert data["counts"]["attempts"] == 0 and data["counts"]["first_pass_yield"] is None
    assert data["units"] == [] and data["failures"] == [] and data["throughput"] == []
    assert any("No attempts in this batch yet" in n for n in data["notes"])


# -- CSV -------------------------------------------------------------------------------------


def csv_sections(data: bytes) -> tuple[list[str], dict[str, list[list[str]]]]:
    assert data.startswith(CSV_BOM.encode("utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    title = rows[0]
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in rows[1:]:
        if not row:
            current = None
        elif current is None:
            assert re.fullmatch(r"\[\w+\]", row[0]), row
            current = sections[row[0][1:-1]] = []
        else:
            current.append(row)
    return title, sections


def _csv_value(value: object) -> str:
    return "" if value is None else str(value)


def test_csv_has_every_figure(report: BatchReport) -> None:
    data = render(report, "csv")
    assert b"\r\n" in data  # Excel's line ends
    title, sections = csv_sections(data)
    assert title == ["Batch report", BATCH]
    assert list(sections) == ["summary", "notes", "failures", "cycle_times", "throughput",
                              "units"]
    header, *rows = sections["summary"]
    assert header == ["field", "value"]
    summary = dict(rows)
    assert summary["schema_version"] == "1" and summary["source"] == "station"
    for field, value in EXPECTED_COUNTS.items():
        assert summary[field] == _csv_value(value), field
    assert summary["batch"] == BATCH and summary["product"] == PRODUCT
    assert summary["stations"] == "ST-01; ST-02" and summary["operators"] == "alice; bob"
    assert summary["claim_certificates"] == f"{CLAIM_A} (4 units); {CLAIM_B} (1 unit)"
    assert summary["generated_at"] == REPORT_TIME_TEXT
    assert summary["first_attempt_at"] == EXPECTED_HEADER["first_attempt_at"]
    assert summary["last_attempt_at"] == EXPECTED_HEADER["last_attempt_at"]

    header, *rows = sections["failures"]
    assert header == ["code", "attempts", "units", "share", "cumulative_share", "hint"]
    assert rows == [[_csv_value(v) for v in f] for f in EXPECTED_FAILURES]

    header, *rows = sections["cycle_times"]
    assert header == ["name", "count", "p50_ms", "p95_ms", "max_ms", "mean_ms"]
    cycle = {row[0]: [float(v) for v in row[1:]] for row in rows}
    assert cycle["unit"] == [float(v) for v in EXPECTED_UNIT_CYCLE.values()]
    for name, stats in EXPECTED_STEPS.items():
        assert cycle[f"step:{name}"] == [float(v) for v in stats.values()]

    header, *rows = sections["throughput"]
    assert header == ["hour", "attempts", "passed"]
    assert [(h, int(a), int(p)) for h, a, p in rows] == EXPECTED_THROUGHPUT

    header, *rows = sections["units"]
    assert header == list(UNIT_FIELDS)
    units = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(units) == sorted(EXPECTED_UNITS)
    for serial, expected in EXPECTED_UNITS.items():
        got = tuple(units[serial][c] for c in UNIT_COLUMNS)
        want = tuple(_csv_value(v) for v in expected)
        want = want[:2] + ("1" if expected[2] else "0",) + want[3:]
        assert got == want, serial

    assert any("not as units" in row[0] for row in sections["notes"][1:])


def test_csv_of_an_empty_batch(empty_report: BatchReport) -> None:
    _, sections = csv_sections(render(empty_report, "csv"))
    assert dict(sections["summary"][1:])["units_attempted"] == "0"
    assert sections["units"] == [list(UNIT_FIELDS)]
    assert sections["failures"] == [["code", "attempts", "units", "share",
                                     "cumulative_share", "hint"]]


# -- HTML ------------------------------------------------------------------------------------


class _Cells(HTMLParser):
    """Collects table rows as lists of cell texts, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_html(data: bytes) -> _Cells:
    parser = _Cells()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


def svgs(data: bytes) -> list[ET.Element]:
    found = re.findall(rb"<svg\b.*?</svg>", data, re.S)
    return [ET.fromstring(svg) for svg in found]


def test_html_is_self_contained(report: BatchReport) -> None:
    data = render(report, "html")
    text = data.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<style>" in text and "@media print" in text
    tags = {tag for tag, _ in parse_html(data).tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for url in re.findall(r"\b\w+://[^\s\"'<>]*", text):
        assert url == "http://www.w3.org/2000/svg", url  # only the SVG namespace
    assert "url(" not in text and "@import" not in text


def test_html_has_every_figure(report: BatchReport) -> None:
    parsed = parse_html(render(report, "html"))
    kv = {row[0]: row[1] for row in parsed.rows if len(row) == 2}
    c = EXPECTED_COUNTS
    assert kv["Batch"] == BATCH and kv["Product"] == PRODUCT
    assert kv["Planned quantity"] == "10"
    assert kv["Stations"] == "ST-01, ST-02" and kv["Operators"] == "alice, bob"
    assert kv["First attempt"] == EXPECTED_HEADER["first_attempt_at"]
    assert kv["Last attempt"] == EXPECTED_HEADER["last_attempt_at"]
    assert kv["First PASS"] == EXPECTED_HEADER["first_pass_at"]
    assert kv["Last PASS"] == EXPECTED_HEADER["last_pass_at"]
    assert kv["Report time"] == REPORT_TIME_TEXT
    assert CLAIM_A in kv["Claim certificate SHA-256"]
    assert CLAIM_B in kv["Claim certificate SHA-256"]
    assert kv["Attempts"] == str(c["attempts"])
    assert kv["PASS / FAIL / aborted / running"] == "5 / 5 / 0 / 0"
    assert kv["without a serial (not units)"] == "1"
    assert kv["Units attempted"] == "6"
    assert kv["Units PASS (not revoked)"] == "4"
    assert kv["Units FAIL (never passed)"] == "1"
    assert kv["Units in progress"] == "0"
    assert kv["Units re-tested (more than one attempt)"] == "2"
    assert kv["Units PASS on the first attempt"] == "4"
    assert kv["First-pass yield"] == "66.7 %"
    assert kv["Final yield"] == "66.7 %"
    assert kv["Attempts per unit (mean / max)"] == "1.50 / 3"
    assert kv["Revoked"] == "1" and kv["Pending sync"] == "1" and kv["Synced"] == "4"
    assert kv["Allow-list units"] == "5"

    failures = [row for row in parsed.rows if row and row[0] in ("CSR_REJECTED", "BOARD_TIMEOUT")]
    assert failures == [
        [code, str(n), str(u), f"{share * 100:.1f} %", f"{cum * 100:.1f} %", hint]
        for code, n, u, share, cum, hint in EXPECTED_FAILURES
    ]
    cycle = {row[0]: row[1:] for row in parsed.rows if row and (
        row[0].startswith("step ") or row[0].startswith("Unit ("))}
    assert cycle["Unit (passing attempt)"] == ["5", "40.0 s", "60.0 s", "60.0 s", "40.0 s"]
    assert cycle["step read_serial"] == ["8", "130.0 ms", "150.0 ms", "150.0 ms", "131.2 ms"]
    assert cycle["step install_claim"][:4] == ["8", "1300.0 ms", "1500.0 ms", "1500.0 ms"]
    assert cycle["step generate_csr"] == ["5", "3000.0 ms", "4000.0 ms", "4000.0 ms",
                                          "3000.0 ms"]
    hours = [row for row in parsed.rows if row and row[0].startswith("2026-11-22T1")]
    assert [(h, int(a), int(p)) for h, a, p in hours] == EXPECTED_THROUGHPUT

    units = {row[0]: row for row in parsed.rows if row and row[0] in EXPECTED_UNITS}
    assert list(units) == sorted(EXPECTED_UNITS)
    for serial, (result, attempts, first, status, key, first_at, last_at, operator, station,
                 sync, error) in EXPECTED_UNITS.items():
        assert units[serial] == [
            serial, result.upper(), str(attempts), "yes" if first else "no", status or "",
            sync or "", key or "", first_at or "", last_at or "", operator, station, error or "",
        ]


def test_html_charts_are_valid_inline_svg(report: BatchReport) -> None:
    pareto, throughput = svgs(render(report, "html"))
    for svg in (pareto, throughput):
        assert svg.tag == f"{SVG_NS}svg"
        assert svg.find(f"{SVG_NS}title") is not None
        assert svg.get("role") == "img"
    bar_titles = [t.text for t in pareto.iter(f"{SVG_NS}title")][1:]
    assert bar_titles == ["CSR_REJECTED: 3 attempts, 1 units", "BOARD_TIMEOUT: 2 attempts, 1 units"]
    points = pareto.find(f"{SVG_NS}polyline").get("points").split()
    assert len(points) == 2  # the cumulative line, one point per code
    passed = [t.text for t in throughput.iter(f"{SVG_NS}title")][1:]
    assert passed == ["2026-11-22T10:00Z: 3 PASS, 7 attempts", "2026-11-22T11:00Z: 2 PASS, 3 attempts"]


def test_html_of_an_empty_batch(empty_report: BatchReport) -> None:
    data = render(empty_report, "html")
    text = data.decode()
    assert "No attempts in this batch yet" in text
    assert "No failed attempts." in text and "No units." in text
    assert svgs(data) == []  # no chart without data
    parse_html(data)


# -- PDF -------------------------------------------------------------------------------------


def _pdf_page_png(pdf: bytes, tmp_path: Path, page: int = 1) -> Path:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run([pdftoppm, "-png", "-r", "50", "-f", str(page), "-l", str(page),
                    str(source), str(tmp_path / "page")], check=True, timeout=60)
    (png,) = tmp_path.glob("page*.png")
    return png


def _variety(png: Path) -> tuple[int, float]:
    """(distinct colours, share of non-white pixels) on a grid over the page image."""
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert not image.isNull()
    colours = set()
    inked = samples = 0
    for y in range(0, image.height(), 3):
        for x in range(0, image.width(), 3):
            rgb = image.pixel(x, y) & 0xFFFFFF
            colours.add(rgb)
            samples += 1
            inked += rgb != 0xFFFFFF
    return len(colours), inked / samples


def test_pdf_renders_a_page_that_is_not_blank(report: BatchReport, tmp_path: Path) -> None:
    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF")
    png = _pdf_page_png(pdf, tmp_path)
    assert png.read_bytes().startswith(b"\x89PNG")
    colours, inked = _variety(png)
    assert colours > 10 and inked > 0.02, (colours, inked)


def test_pdf_has_the_figures(report: BatchReport, tmp_path: Path) -> None:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    source = tmp_path / "report.pdf"
    source.write_bytes(render(report, "pdf"))
    text = subprocess.run([pdftotext, "-layout", str(source), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    # ligatures (fi) back to letters, and no spaces: pdftotext's spacing follows the layout
    words = "".join(unicodedata.normalize("NFKC", text).split())
    for expected in (
        f"Batch report {BATCH}", PRODUCT, "ST-01, ST-02", "alice, bob", CLAIM_A, CLAIM_B,
        "Units attempted 6", "FAIL (never passed) 1", "Re-tested 2",
        "PASS on the first attempt 4", "First-pass yield 66.7 %", "Final yield 66.7 %",
        "Attempts 10", "5 / 5 / 0 / 0", "Attempts without a serial 1", "1.50 / 3",
        "Revoked 1", "Pending sync 1", "Synced 4",
        "CSR_REJECTED 3 1 60.0 % 60.0 %", "BOARD_TIMEOUT 2 1 40.0 % 100.0 %",
        "Unit (passing attempt) 5 40.0 s 60.0 s 60.0 s 40.0 s",
        "step read_serial 8 130.0 ms 150.0 ms 150.0 ms 131.2 ms",
        "2 hours; PASS per hour: peak 3, mean 2.5",
        "4 of 6 units", "SN003", "SN004", "SN005", "SN006",
        device_key("SN003")[:16], REPORT_TIME_TEXT,
    ):
        assert "".join(expected.split()) in words, expected
    assert "SN001" not in words  # a clean first-try PASS, synced: not an exception


def test_a_pdf_read_from_the_database_as_it_goes_says_what_the_one_in_memory_says(
    known_db: Path, report: BatchReport, tmp_path: Path
) -> None:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    with Records(known_db) as records:
        streamed = build_report(records, BATCH, now=report_clock, station_id="ST-QA", stream_units=True)
    texts = []
    for built in (report, streamed):
        source = tmp_path / "report.pdf"
        source.write_bytes(render(built, "pdf"))
        texts.append(subprocess.run([pdftotext, "-layout", str(source), "-"], check=True,
                                    capture_output=True, text=True, timeout=60).stdout)

    assert texts[0] == texts[1]
    assert "4of6units" in "".join(unicodedata.normalize("NFKC", texts[1]).split())


def test_pdf_of_an_empty_batch(empty_report: BatchReport, tmp_path: Path) -> None:
    pdf = render(empty_report, "pdf")
    assert pdf.startswith(b"%PDF")
    colours, inked = _variety(_pdf_page_png(pdf, tmp_path))
    assert inked > 0.005


def test_pdf_renderer_comes_from_the_entry_point() -> None:
    from gui.report_pdf import render_pdf

    assert format_renderer("pdf") is render_pdf


def test_unknown_format_is_a_clear_error(report: BatchReport) -> None:
    with pytest.raises(ReportError) as raised:
        render(report, "docx")
    assert raised.value.code == "REPORT_FORMAT_UNAVAILABLE"


# -- hostile text and secrets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> BatchReport:
    clock = ManualClock(DAY.replace(hour=8))
    path = tmp_path_factory.mktemp("hostile") / "s.sqlite"
    with Records(path, now=clock) as records:
        records.open_batch('W<1>&"', "<script>alert(1)</script>", 2, actor="qa")
        for serial, operator in (("-W1", '=HYPERLINK("http://x")'), ("W,2", "o'neil")):
            attempt = records.start_attempt(port="P", station_id="@ST", operator=operator,
                                            driver="agent", batch='W<1>&"')
            records.finish_attempt_pass(
                attempt, serial=serial, batch='W<1>&"', product="p",
                device_key_sha256=fingerprint(serial), claim_cert_sha256=CLAIM_A,
                station_id="@ST", operator=operator, steps=[])
        return build_report(records, 'W<1>&"')


def test_html_escapes_everything(hostile_report: BatchReport) -> None:
    data = render(hostile_report, "html")
    text = data.decode()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert 'W&lt;1&gt;&amp;&quot;' in text
    for svg in svgs(data):
        assert svg.tag == f"{SVG_NS}svg"


def test_csv_neutralises_formulas(hostile_report: BatchReport) -> None:
    _, sections = csv_sections(render(hostile_report, "csv"))
    header, *rows = sections["units"]
    units = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(units) == {"'-W1", "W,2"}
    assert units["'-W1"]["operator"] == """'=HYPERLINK("http://x")"""
    assert units["W,2"]["operator"] == "o'neil"
    assert units["W,2"]["station_id"] == "'@ST"


def test_json_keeps_the_text_as_it_is(hostile_report: BatchReport) -> None:
    data = json.loads(render(hostile_report, "json"))
    assert {u["serial"] for u in data["units"]} == {"-W1", "W,2"}
    assert data["header"]["product"] == "<script>alert(1)</script>"


def test_no_format_carries_a_private_key(report: BatchReport) -> None:
    for fmt in ("html", "csv", "json", "pdf"):
        data = render(report, fmt)
        assert b"PRIVATE KEY" not in data and b"BEGIN" not in data, fmt


def test_report_filename() -> None:
    assert report_filename("B1", "html") == "report-B1.html"
    assert report_filename("../x y/z", "pdf") == "report-_x_y_z.pdf"


def test_html_unit_rows_escape_a_serial_and_key_that_are_not_letters_and_digits() -> None:
    from station.reports.data import UnitRow
    from station.reports.formats import _html_unit_rows

    row = UnitRow("S<1>&", "pass", 1, 1, "allowed", '<k">', None, None, "<op>", "ST", "synced", None, None)

    text = _html_unit_rows([row, row._replace(serial="SN0001", device_key_sha256="ab12")], cloud=False)

    assert "S&lt;1&gt;&amp;" in text and "&lt;k&quot;&gt;" in text and "&lt;op&gt;" in text
    assert "<td class=\"k\">SN0001</td>" in text and "ab12" in text


def test_html_unit_rows_escape_times_and_the_cloud_column_from_a_tampered_source() -> None:
    from station.reports.data import UnitRow
    from station.reports.formats import _html_unit_rows

    row = UnitRow("SN1", "pass", 1, 1, "allowed", "ab", "<script>", "<b>", "op", "ST", "synced", None,
                  "<img src=x>")

    text = _html_unit_rows([row], cloud=True)

    assert "<script>" not in text and "<b>" not in text and "<img" not in text
    assert "&lt;script&gt;" in text and "&lt;img src=x&gt;" in text


def test_html_unit_rows_take_a_serial_that_is_not_text_from_a_tampered_database() -> None:
    from station.reports.data import UnitRow
    from station.reports.formats import _html_unit_rows

    row = UnitRow(12345, "fail", 1, 0, None, None, None, None, "op", "ST", None, "BOARD_TIMEOUT", None)

    text = _html_unit_rows([row], cloud=False)

    assert "<td class=\"k\">12345</td>" in text


def test_csv_neutralises_a_formula_in_any_text_cell_and_keeps_the_rows_in_order() -> None:
    import csv
    import io

    from station.reports.data import UnitRow
    from station.reports.formats import _csv_unit_lines

    clean = [UnitRow(f"SN{n:03d}", "pass", 1, 1, "allowed", "ab", "2026-01-01T00:00:00.000Z",
                     "2026-01-01T00:00:00.000Z", "op", "ST", "synced", None, None) for n in range(5)]
    tampered = clean[2]._replace(first_pass_at="=cmd()", device_key_sha256="+1")
    out = io.StringIO()

    _csv_unit_lines([*clean[:2], tampered, *clean[3:]], csv.writer(out, lineterminator="\r\n"), out)

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [row[0] for row in rows] == [f"SN{n:03d}" for n in range(5)]
    assert rows[2][6] == "'=cmd()" and rows[2][5] == "'+1"
    assert rows[1] == ["SN001", "pass", "1", "1", "allowed", "ab", "2026-01-01T00:00:00.000Z",
                       "2026-01-01T00:00:00.000Z", "op", "ST", "synced", "", ""]


def test_ordinary_unit_rows_are_written_without_the_csv_writer() -> None:
    """Speed guard: a page of plain units (the last cells empty, as a station's are) takes the
    quick path; the writer is for the rare row that needs quoting or neutralising."""
    from station.reports.data import UnitRow
    from station.reports.formats import _csv_unit_lines

    class NoWriter:
        def writerow(self, row: object) -> None:
            raise AssertionError(f"the csv writer was asked for {row!r}")

    rows = [UnitRow(f"SN{n:03d}", "fail", 2, 0, None, None, None, None, "op", "ST", None, "BOARD_TIMEOUT", None)
            for n in range(3)]
    out = io.StringIO()

    _csv_unit_lines(rows, NoWriter(), out)

    assert out.getvalue().count("\r\n") == 3


_CSV_TEXT = st.text(alphabet='ab,"\r\n=+-@\t ', max_size=4)
_CSV_CELL = st.none() | _CSV_TEXT


@given(st.lists(st.tuples(_CSV_TEXT, _CSV_TEXT, *[_CSV_CELL] * 11), max_size=6))  # serial, result: never NULL
@settings(max_examples=200, deadline=None)
def test_csv_unit_lines_are_what_the_csv_writer_gives_with_formulas_neutralised(rows) -> None:
    from station.reports.formats import _csv_unit_lines, _text

    out = io.StringIO()
    _csv_unit_lines(rows, csv.writer(out, lineterminator="\r\n"), out)

    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if value is None else _text(value) for value in row])
    assert out.getvalue() == expected.getvalue()


def test_a_page_of_plain_lines_with_empty_last_cells_is_plain_as_a_whole() -> None:
    """Speed guard: the page is written in one piece, not looked at line by line (an empty
    last cell puts ",\\r" between lines, which is no formula)."""
    from station.reports.formats import _plain_csv

    lines = ["SN001,fail,2,0,,,,,op,ST,,BOARD_TIMEOUT,", "SN002,pass,1,1,allowed,ab,t,t,op,ST,synced,,"]

    assert _plain_csv("\r\n".join(lines), len(lines), 12)
    assert not _plain_csv("\r\n".join([*lines, "SN003,fail,1,0,,,,,=cmd(),ST,,X,"]), 3, 12)
