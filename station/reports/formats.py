"""Batch reports as HTML, CSV and JSON (pure Python), and PDF through an entry point.

``render(report, fmt)`` returns the bytes of one format:

* ``html``: one self-contained file: inline CSS, charts as inline SVG made here (no Qt, no
  script, no external resource), laid out to print on A4;
* ``csv``: UTF-8 **with a BOM** (so Excel on the line PCs opens it as UTF-8), comma
  separated, CRLF line ends, in sections (see :func:`render_csv` and docs/reports.md);
* ``json``: :func:`report_to_dict`, a stable layout with ``schema_version``;
* ``pdf``: whatever is registered as ``pdf`` in the ``station.report_formats`` entry point
  group (``gui.report_pdf:render_pdf``, Qt's own PDF writer). station/ never imports gui/
  or Qt: the renderer is looked up at run time, see :func:`format_renderer`.

A renderer registered in that group receives the :class:`~station.reports.data.BatchReport`
and returns bytes; registering one under a new name adds a format.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from station.reports.data import (
    BatchReport,
    FailureCode,
    HourBucket,
    ReportError,
    SerialTrace,
    StreamedUnits,
    UnitRow,
)

ENTRY_POINT_GROUP = "station.report_formats"
BUILTIN_FORMATS = ("html", "csv", "json")
FORMATS = ("html", "csv", "json", "pdf")
EXTENSIONS = {"html": "html", "csv": "csv", "json": "json", "pdf": "pdf"}

Renderer = Callable[[BatchReport], bytes]

UNIT_FIELDS = UnitRow._fields
"""The unit list's columns in every format, in this order."""

# Okabe-Ito hues (colour-blind safe), darkened where text sits on them; as in gui/theme.py.
PASS_COLOR = "#00704F"
FAIL_COLOR = "#B23C00"
ACCENT_COLOR = "#0B4F9C"
LIGHT_COLOR = "#9DC3E6"
INK = "#111111"
MUTED = "#555555"
GRID = "#D0D0D0"


def report_filename(batch_id: str, fmt: str) -> str:
    """``report-<batch>.<ext>``, the batch id made safe for a file name (anything but
    letters, digits, ``.``, ``_`` and ``-`` becomes ``_``)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in batch_id).strip(".")
    return f"report-{safe or 'batch'}.{EXTENSIONS.get(fmt, fmt)}"


def render(report: BatchReport, fmt: str) -> bytes:
    """The report in format ``fmt`` (``html``, ``csv``, ``json``, ``pdf`` or a registered one)."""
    return format_renderer(fmt)(report)


STREAMED = ("html", "csv", "json")
"""Formats :func:`write_report` writes as it goes: the unit list never sits in memory."""
ONE_PASS = (*STREAMED, "pdf")
"""Formats that read the unit list once, front to back (the PDF keeps only the units that
need a look): their report can be built with ``stream_units=True``."""


def write_report(report: BatchReport, fmt: str, stream: BinaryIO) -> None:
    """Write the report in format ``fmt`` to ``stream``, byte for byte what :func:`render`
    gives. The unit part of html, csv and json goes out a few thousand rows at a time (with a
    report built with ``stream_units=True``, memory stays flat in the number of units)."""
    if fmt == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
        _write_csv(report, text)
        text.flush()
        text.detach()
    elif fmt == "json":
        for chunk in _json_chunks(report):
            stream.write(chunk.encode("utf-8"))
    elif fmt == "html":
        cloud = report.header.source == "cloud"
        for part in _html_parts(report):
            if part is _UNIT_ROWS:
                for rows in _pages(report.units):
                    stream.write(_html_unit_rows(rows, cloud).encode("utf-8"))
            else:
                stream.write(part.encode("utf-8"))
    else:
        stream.write(render(report, fmt))


def save_report(report: BatchReport, fmt: str, path: str | os.PathLike[str], *,
                hint: str = "Choose another file (a folder you can write to, with room on its disk).") -> Path:
    """Write the report to ``path`` (:func:`write_report`), whole or not at all: it is written
    to ``NAME.part`` and renamed. Returns the absolute path; a file that cannot be written is
    :class:`ReportError` ``REPORT_WRITE_FAILED`` with ``hint``."""
    target = Path(path).expanduser().resolve()
    special = target.exists() and not target.is_file()  # a device or a pipe: written as it is
    partial = target if special else target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as handle:
            write_report(report, fmt, handle)
        if not special:
            os.replace(partial, target)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}",
                          code="REPORT_WRITE_FAILED", hint=hint) from None
    finally:
        if not special:
            partial.unlink(missing_ok=True)  # a stopped or failed report leaves no half file
    return target


def _pages(rows: Iterable[Any], size: int = 5000) -> Iterator[Sequence[Any]]:
    """The unit rows a page at a time: a streamed list gives its own pages of plain tuples
    (positional, in :class:`UnitRow`'s order); a list in hand is cut into pages."""
    if isinstance(rows, StreamedUnits):
        yield from rows.pages(size)
        return
    page: list[Any] = []
    for row in rows:
        page.append(row)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def format_renderer(fmt: str) -> Renderer:
    """The renderer of ``fmt``: built in, or loaded from the entry point group.

    Raises :class:`ReportError` ``REPORT_FORMAT_UNAVAILABLE`` when nothing is registered
    under that name or the renderer cannot be loaded (e.g. Qt is not installed).
    """
    builtin = {"html": render_html, "csv": render_csv, "json": render_json}.get(fmt)
    if builtin is not None:
        return builtin
    from importlib.metadata import entry_points  # about 15 ms of imports only the PDF needs

    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == fmt]
    if not found:
        raise ReportError(
            f"no renderer is installed for the report format {fmt!r}",
            code="REPORT_FORMAT_UNAVAILABLE",
            hint="Reinstall the station software (pip install provisioning-station) so its "
            f"'{ENTRY_POINT_GROUP}' entry points are registered, or use html, csv or json.",
        )
    try:
        renderer = found[0].load()
    except Exception as exc:  # any import problem becomes one clear line (re-raised)
        raise ReportError(
            f"the {fmt} report renderer ({found[0].value}) cannot be loaded: {exc}",
            code="REPORT_FORMAT_UNAVAILABLE",
            hint="The PDF report needs the station's Qt libraries (PySide6); "
            "html, csv and json work without them.",
        ) from exc
    return renderer


# -- JSON ------------------------------------------------------------------------------------


def report_to_dict(report: BatchReport) -> dict[str, Any]:
    """The report as plain JSON values; the layout is documented in docs/reports.md."""
    header = dataclasses.asdict(report.header)
    header["claim_certificates"] = [
        {"sha256": c.sha256, "units": c.units} for c in report.header.claim_certificates
    ]
    for key in ("stations", "operators"):
        if header[key] is not None:
            header[key] = list(header[key])
    cycle = None
    if report.cycle_times is not None:
        cycle = {
            "per_unit": _stats_dict(report.cycle_times.per_unit),
            "per_step": [_stats_dict(s) for s in report.cycle_times.per_step],
            "step_attempts_used": report.cycle_times.step_attempts_used,
            "step_attempts_total": report.cycle_times.step_attempts_total,
        }
    units = [_unit_json(row) for row in report.units] if report.units_included else None
    return {
        "schema_version": report.schema_version,
        "kind": "batch_report",
        "source": report.header.source,
        "header": header,
        "counts": dataclasses.asdict(report.counts),
        "failures": [dataclasses.asdict(f) for f in report.failures],
        "cycle_times": cycle,
        "throughput": [dataclasses.asdict(b) for b in report.throughput],
        "units_included": report.units_included,
        "notes": list(report.notes),
        "unavailable": list(report.unavailable),
        "units": units,
    }


def render_json(report: BatchReport) -> bytes:
    """Indented JSON, except that each unit of the unit list is one line (a 100,000-unit
    batch stays quick to write and easy to read or grep)."""
    return "".join(_json_chunks(report)).encode()


def _json_chunks(report: BatchReport) -> Iterator[str]:
    data = report_to_dict(dataclasses.replace(report, units=()))
    data.pop("units")
    head = json.dumps(data, indent=1, ensure_ascii=False)
    # the dict ends with "\n}"; put "units" back as its last key
    yield head[:-2] + ',\n "units": '
    if not report.units_included:
        yield "null"
    elif not report.units:
        yield "[]"
    else:
        encode = json.JSONEncoder(ensure_ascii=False).encode
        first = True
        for rows in _pages(report.units):
            yield ("[\n  " if first else ",\n  ") + ",\n  ".join(encode(_unit_json(row)) for row in rows)
            first = False
        yield "\n ]" if not first else "[]"
    yield "\n}\n"


_FLAG = {1: True, 0: False, None: None}


def _unit_json(row: Sequence[Any]) -> dict[str, Any]:
    unit = dict(zip(UNIT_FIELDS, row, strict=True))
    unit["first_pass"] = _FLAG[unit["first_pass"]]
    return unit


def trace_to_dict(trace: SerialTrace) -> dict[str, Any]:
    """A serial's trace as plain JSON values (docs/reports.md)."""
    attempts = []
    for attempt in trace.attempts:
        item = dataclasses.asdict(attempt)
        item["duration_ms"] = duration_ms(attempt.started_at, attempt.finished_at)
        attempts.append(item)
    return {
        "schema_version": 1,
        "kind": "serial_trace",
        "serial": trace.serial,
        "generated_at": trace.generated_at,
        "batches": list(trace.batches),
        "unit": dataclasses.asdict(trace.unit) if trace.unit else None,
        "attempts": attempts,
        "audit": [dataclasses.asdict(entry) for entry in trace.audit],
        "labels": [dataclasses.asdict(label) for label in trace.labels],
    }


def render_trace_json(trace: SerialTrace) -> bytes:
    return (json.dumps(trace_to_dict(trace), indent=1, ensure_ascii=False) + "\n").encode()


def _stats_dict(stats: Any) -> dict[str, Any] | None:
    return None if stats is None else dataclasses.asdict(stats)


def duration_ms(started: str | None, finished: str | None) -> float | None:
    """Milliseconds between two database timestamps (None if either is missing)."""
    if not started or not finished:
        return None
    begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
    end = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    return round((end - begin).total_seconds() * 1000, 1)


# -- CSV -------------------------------------------------------------------------------------

CSV_BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_csv(report: BatchReport) -> bytes:
    """One CSV file in sections, for a spreadsheet.

    Row 1 is ``Batch report,<batch>``; then sections, each a title row ``[name]``, a
    header row, the data rows, and one empty row: ``[summary]`` (field,value),
    ``[notes]``, ``[failures]``, ``[cycle_times]``, ``[throughput]`` and, last, ``[units]``.
    Unknown values are empty cells; yields and shares are fractions (0.875 = 87.5 %).
    Text that a spreadsheet would take for a formula (starting with = + - @) gets a
    leading apostrophe.
    """
    out = io.StringIO()
    _write_csv(report, out)
    return out.getvalue().encode("utf-8")


def _write_csv(report: BatchReport, out: Any) -> None:
    out.write(CSV_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Batch report", _text(report.header.batch)])
    writer.writerow([])
    writer.writerow(["[summary]"])
    writer.writerow(["field", "value"])
    for field, value in _summary_items(report):
        writer.writerow([field, _cell(value)])
    writer.writerow([])
    writer.writerow(["[notes]"])
    writer.writerow(["note"])
    writer.writerows([[_text(note)] for note in report.notes])
    writer.writerow([])
    writer.writerow(["[failures]"])
    writer.writerow(["code", "attempts", "units", "share", "cumulative_share", "hint"])
    for f in report.failures:
        writer.writerow(
            [_text(f.code), f.attempts, f.units, f.share, f.cumulative_share, _cell(f.hint)]
        )
    writer.writerow([])
    writer.writerow(["[cycle_times]"])
    writer.writerow(["name", "count", "p50_ms", "p95_ms", "max_ms", "mean_ms"])
    cycle = report.cycle_times
    if cycle is not None:
        rows = [cycle.per_unit] if cycle.per_unit else []
        for stats in rows:
            writer.writerow(["unit", *_stats_cells(stats)])
        for stats in cycle.per_step:
            writer.writerow([_text(f"step:{stats.name}"), *_stats_cells(stats)])
    writer.writerow([])
    writer.writerow(["[throughput]"])
    writer.writerow(["hour", "attempts", "passed"])
    writer.writerows([[b.hour, _cell(b.attempts), b.passed] for b in report.throughput])
    writer.writerow([])
    writer.writerow(["[units]"])
    writer.writerow(list(UNIT_FIELDS))
    if not report.units_included:
        writer.writerow(["(unit list not included)"])
    else:
        _csv_unit_lines(report.units, writer, out)


def _summary_items(report: BatchReport) -> list[tuple[str, Any]]:
    header = report.header
    items: list[tuple[str, Any]] = [
        ("schema_version", report.schema_version),
        ("source", header.source),
    ]
    for field in dataclasses.fields(header):
        value = getattr(header, field.name)
        if field.name == "claim_certificates":
            value = [f"{c.sha256} ({_units(c.units)})" for c in value]
        if field.name in ("source",):
            continue
        items.append((field.name, value))
    for field in dataclasses.fields(report.counts):
        items.append((field.name, getattr(report.counts, field.name)))
    if report.unavailable:
        items.append(("unavailable", list(report.unavailable)))
    return items


def _stats_cells(stats: Any) -> list[Any]:
    return [stats.count, stats.p50_ms, stats.p95_ms, stats.max_ms, stats.mean_ms]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return _text("; ".join(str(v) for v in value))
    if isinstance(value, str):
        return _text(value)
    return value


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_unit_lines(units: Iterable[Sequence[Any]], writer: Any, out: Any) -> None:
    """Write the unit rows (None as an empty cell, first_pass as 1 or 0).

    ``csv.writer`` takes about 4 us a row; formatting the lines directly is several times
    quicker and gives exactly what the writer would for rows without a comma, quote or line
    break in a cell (hex fingerprints, timestamps, fixed words, and almost always serials and
    names), none of which starts a formula. One look over a page of lines tells (see
    :func:`_plain_csv`); a page that fails it is looked at line by line, and any other line
    goes through the writer, with formulas neutralised.
    """
    commas = len(UNIT_FIELDS) - 1
    for page in _pages(units):
        lines = [
            f"{r[0]},{r[1]},{'' if r[2] is None else r[2]},{'' if r[3] is None else r[3]},"
            f"{r[4] or ''},{r[5] or ''},{r[6] or ''},{r[7] or ''},{r[8] or ''},{r[9] or ''},"
            f"{r[10] or ''},{r[11] or ''},{r[12] or ''}"
            for r in page
        ]
        text = "\r\n".join(lines)
        if _plain_csv(text, len(lines), commas):
            out.write(text + "\r\n")
            continue
        for r, line in zip(page, lines, strict=True):
            if _plain_csv(line, 1, commas):
                out.write(line + "\r\n")
            else:
                # every text cell: a fingerprint or a time is text a tampered database can fill too
                writer.writerow(["" if value is None else _text(value) if isinstance(value, str) else value
                                 for value in r])


def _plain_csv(text: str, lines: int, commas: int) -> bool:
    """Whether ``lines`` lines joined by CRLF are written as they are: exactly ``commas``
    commas a line and the line breaks between them (no cell holds a comma or a line break),
    no quote, and no cell starting a formula (a cell starts at a line's start or after a
    comma)."""
    return (
        text.count(",") == commas * lines
        and text.count("\n") == lines - 1
        and text.count("\r") == lines - 1
        and '"' not in text
        and not text.startswith(_FORMULA_START)
        # a character first (quick), then where it stands; a carriage return is counted above
        # (",\r" is only an empty last cell)
        and not any(start in text and ("," + start in text or "\n" + start in text)
                    for start in _FORMULA_START if start != "\r")
    )


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 11pt/1.4 "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #111; margin: 24px;
  background: #fff; }
h1 { font-size: 20pt; margin: 0 0 4px; }
h2 { font-size: 14pt; margin: 28px 0 8px; border-bottom: 2px solid #0B4F9C; padding-bottom: 2px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.kv th { width: 16em; background: #f5f5f5; }
.mono, td.k { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 9pt; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.tile { border: 2px solid #bbb; border-radius: 6px; padding: 6px 12px; min-width: 9em; }
.tile b { display: block; font-size: 18pt; }
.tile.pass b { color: #00704F; } .tile.fail b { color: #B23C00; }
.note { background: #FFF1C2; border-left: 4px solid #B58900; padding: 6px 10px; margin: 6px 0; }
.r-pass { color: #00704F; font-weight: 700; } .r-fail { color: #B23C00; font-weight: 700; }
.r-running { color: #0B4F9C; font-weight: 700; }
.na { color: #777; font-style: italic; }
svg { max-width: 100%; height: auto; }
table.units { font-size: 9pt; }
table.units td { padding: 1px 5px; white-space: nowrap; }
footer { margin-top: 28px; color: #555; font-size: 9pt; }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 9.5pt; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tr, .tile, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

_NA = '<span class="na">n/a</span>'


_UNIT_ROWS = object()
"""Where the unit rows go among the parts of :func:`_html_parts`."""


def render_html(report: BatchReport) -> bytes:
    """One self-contained HTML page (inline CSS and SVG; no script, no external link)."""
    cloud = report.header.source == "cloud"
    return "".join(
        _html_unit_rows(report.units, cloud) if part is _UNIT_ROWS else part for part in _html_parts(report)
    ).encode("utf-8")


def _html_parts(report: BatchReport) -> list[Any]:
    h = report.header
    c = report.counts
    e = _esc
    parts: list[Any] = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<title>Batch report {e(h.batch)}</title>\n",
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<style>{_CSS}</style>\n</head>\n<body>\n",
        f"<h1>Batch report {e(h.batch)}</h1>\n",
        f'<p class="sub">{e(h.product or "")} &middot; source: <b>{e(h.source)}</b>'
        + (f" (DynamoDB table {e(h.table)})" if h.table else "")
        + f" &middot; generated {e(h.generated_at)}"
        + (f" by {e(h.generated_by)}" if h.generated_by else "")
        + f" &middot; schema {report.schema_version}</p>\n",
    ]
    for note in report.notes:
        parts.append(f'<p class="note">{e(note)}</p>\n')
    if report.unavailable:
        parts.append(
            '<p class="note">Only the station knows: '
            + e(", ".join(report.unavailable))
            + ". They are shown as n/a.</p>\n"
        )

    parts.append("<h2>Batch</h2>\n<table class=\"kv\">\n")
    certs = "<br>".join(
        f'<span class="mono">{e(cert.sha256)}</span> ({_units(cert.units)})'
        for cert in h.claim_certificates
    )
    for label, value in (
        ("Batch", e(h.batch)),
        ("Product", _h(h.product)),
        ("Planned quantity", _h(h.planned_quantity)),
        ("Opened", _h(h.opened_at) + (f" by {e(h.opened_by)}" if h.opened_by else "")),
        ("Closed", _closed(h)),
        ("Stations", e(", ".join(h.stations)) or "none"),
        ("Operators", _NA if h.operators is None else (e(", ".join(h.operators)) or "none")),
        ("First attempt", _h(h.first_attempt_at)),
        ("Last attempt", _h(h.last_attempt_at)),
        ("First PASS", _h(h.first_pass_at)),
        ("Last PASS", _h(h.last_pass_at)),
        ("Claim certificate SHA-256", certs or "none"),
        ("Report time", e(h.generated_at)),
    ):
        parts.append(f"<tr><th>{label}</th><td>{value}</td></tr>\n")
    parts.append("</table>\n")

    parts.append("<h2>Counts</h2>\n<div class=\"tiles\">\n")
    for label, value, css in (
        ("Units attempted", _h(c.units_attempted), ""),
        ("PASS", _h(c.units_passed), "pass"),
        ("Revoked after PASS", _h(c.units_revoked), "fail"),
        ("FAIL (never passed)", _h(c.units_failed), "fail"),
        ("First-pass yield", _pct(c.first_pass_yield), ""),
        ("Final yield", _pct(c.final_yield), ""),
    ):
        parts.append(f'<div class="tile {css}">{label}<b>{value}</b></div>\n')
    parts.append("</div>\n<table class=\"kv\">\n")
    for label, value in (
        ("Attempts", _h(c.attempts)),
        ("&nbsp;&nbsp;PASS / FAIL / aborted / running",
         " / ".join(_h(v) for v in (c.attempts_passed, c.attempts_failed,
                                    c.attempts_aborted, c.attempts_running))),
        ("&nbsp;&nbsp;without a serial (not units)", _h(c.attempts_without_serial)),
        ("Units attempted", _h(c.units_attempted)),
        ("Units PASS (not revoked)", _h(c.units_passed)),
        ("Units FAIL (never passed)", _h(c.units_failed)),
        ("Units in progress", _h(c.units_in_progress)),
        ("Units re-tested (more than one attempt)", _h(c.units_retested)),
        ("Units PASS on the first attempt", _h(c.units_first_pass)),
        ("First-pass yield", _pct(c.first_pass_yield)),
        ("Final yield", _pct(c.final_yield)),
        ("Attempts per unit (mean / max)",
         f"{_num(c.attempts_per_unit_mean, 2)} / {_h(c.attempts_per_unit_max)}"),
        ("Allow-list units", _h(c.allow_list_units)),
        ("Revoked", _h(c.units_revoked)),
        ("Pending sync", _h(c.units_pending_sync)),
        ("Synced", _h(c.units_synced)),
    ) + ((("Provisioned in AWS IoT", _h(c.units_provisioned)),)
         if c.units_provisioned is not None else ()):
        parts.append(f"<tr><th>{label}</th><td class=\"n\">{value}</td></tr>\n")
    parts.append("</table>\n")

    parts.append("<h2>Failures by error code</h2>\n")
    if "failures" in report.unavailable:
        parts.append(f"<p>{_NA}: failed attempts are only known to the station.</p>\n")
    elif not report.failures:
        parts.append("<p>No failed attempts.</p>\n")
    else:
        parts.append(pareto_svg(report.failures))
        parts.append(
            "<table>\n<thead><tr><th>Error code</th><th class=\"n\">Attempts</th>"
            "<th class=\"n\">Units</th><th class=\"n\">Share</th><th class=\"n\">Cumulative"
            "</th><th>What the operator is told</th></tr></thead>\n<tbody>\n"
        )
        for f in report.failures:
            parts.append(
                f"<tr><td class=\"k\">{e(f.code)}</td><td class=\"n\">{f.attempts}</td>"
                f"<td class=\"n\">{f.units}</td><td class=\"n\">{_pct(f.share)}</td>"
                f"<td class=\"n\">{_pct(f.cumulative_share)}</td><td>{_h(f.hint)}</td></tr>\n"
            )
        parts.append("</tbody>\n</table>\n")

    parts.append("<h2>Cycle time</h2>\n")
    cycle = report.cycle_times
    if cycle is None:
        parts.append(f"<p>{_NA}: attempt and step times are only known to the station.</p>\n")
    elif cycle.per_unit is None and not cycle.per_step:
        parts.append("<p>No finished attempts yet.</p>\n")
    else:
        parts.append(
            "<table>\n<thead><tr><th>What</th><th class=\"n\">Count</th><th class=\"n\">p50</th>"
            "<th class=\"n\">p95</th><th class=\"n\">max</th><th class=\"n\">mean</th></tr>"
            "</thead>\n<tbody>\n"
        )
        stats_rows = ([("Unit (passing attempt)", cycle.per_unit)] if cycle.per_unit else []) + [
            (f"step {s.name}", s) for s in cycle.per_step
        ]
        for label, s in stats_rows:
            parts.append(
                f"<tr><td>{e(label)}</td><td class=\"n\">{s.count}</td>"
                f"<td class=\"n\">{_ms(s.p50_ms)}</td><td class=\"n\">{_ms(s.p95_ms)}</td>"
                f"<td class=\"n\">{_ms(s.max_ms)}</td><td class=\"n\">{_ms(s.mean_ms)}</td></tr>\n"
            )
        parts.append("</tbody>\n</table>\n")
        if cycle.step_attempts_used < cycle.step_attempts_total:
            parts.append(
                f"<p class=\"sub\">Steps: from {cycle.step_attempts_used} of "
                f"{cycle.step_attempts_total} attempts, evenly spread.</p>\n"
            )

    parts.append("<h2>Throughput per hour (UTC)</h2>\n")
    if not report.throughput:
        parts.append("<p>No finished attempts yet.</p>\n")
    else:
        peak = max(b.passed for b in report.throughput)
        parts.append(throughput_svg(report.throughput))
        parts.append(
            f"<p>{plural(len(report.throughput), 'hour')}; PASS per hour: peak {peak}, mean "
            f"{_num(sum(b.passed for b in report.throughput) / len(report.throughput), 1)}."
            "</p>\n<details><summary>Hour by hour</summary>\n<table>\n<thead><tr><th>Hour"
            "</th><th class=\"n\">Attempts</th><th class=\"n\">PASS</th></tr></thead>\n<tbody>\n"
        )
        for b in report.throughput:
            parts.append(
                f"<tr><td>{e(b.hour)}</td><td class=\"n\">{_h(b.attempts)}</td>"
                f"<td class=\"n\">{b.passed}</td></tr>\n"
            )
        parts.append("</tbody>\n</table>\n</details>\n")

    parts.append("<h2>Units</h2>\n")
    if not report.units_included:
        parts.append("<p>The unit list was not included in this report.</p>\n")
    elif not report.units:
        parts.append("<p>No units.</p>\n")
    else:
        parts.append(
            f"<p class=\"sub\">{len(report.units)} units, by serial. The full trace of a unit: "
            "<code>station trace SERIAL</code>.</p>\n"
            "<table class=\"units\">\n<thead><tr><th>Serial</th><th>Result</th>"
            "<th class=\"n\">Attempts</th><th>First try</th><th>Status</th><th>Sync</th>"
            "<th>Device key SHA-256</th><th>First PASS</th><th>Last PASS</th><th>Operator</th>"
            "<th>Station</th><th>Last error</th>"
            + ("<th>Provisioned</th>" if report.header.source == "cloud" else "")
            + "</tr></thead>\n<tbody>\n"
        )
        parts.append(_UNIT_ROWS)
        parts.append("</tbody>\n</table>\n")
    parts.append(
        "<footer>Keys and certificates appear only as SHA-256 fingerprints. "
        "Percentiles are nearest-rank. Times are UTC.</footer>\n</body>\n</html>\n"
    )
    return parts


class _Escaped(dict):
    """Values of the few-valued columns (result, status, operator...) escaped once: a
    dictionary look-up per cell, the escaping only the first time a value is seen
    (``upper``: and in capitals, as a result is shown)."""

    def __init__(self, *, upper: bool = False) -> None:
        super().__init__()
        self._upper = upper

    def __missing__(self, value: Any) -> str:
        if len(self) > 4096:
            self.clear()
        escaped = "" if value is None else html.escape(str(value))
        self[value] = escaped = escaped.upper() if self._upper else escaped
        return escaped


def _html_unit_rows(units: Iterable[Sequence[Any]], cloud: bool) -> str:
    rows = units if isinstance(units, Sequence) else list(units)
    # The many-valued cells (serial, key fingerprint, times) are not worth a look-up table:
    # one look over the page tells whether any of them needs escaping at all (almost never:
    # letters, digits, dashes and colons; but the database and the cloud table are not trusted).
    if _needs_escaping(rows):
        rows = [tuple(html.escape(str(value)) if i in _MANY_VALUED and value is not None else value
                      for i, value in enumerate(row)) for row in rows]
    few = _Escaped()
    upper = _Escaped(upper=True)
    first = {1: "yes", 0: "no", None: ""}
    return "".join([
        f"<tr><td class=\"k\">{serial}</td><td class=\"r-{few[result]}\">"
        f"{upper[result]}</td><td class=\"n\">{'' if attempts is None else attempts}"
        f"</td><td>{first[first_pass]}</td><td>{few[status]}</td><td>{few[sync]}</td>"
        f"<td class=\"k\">{key or ''}</td>"
        f"<td>{first_at or ''}</td><td>{last_at or ''}</td><td>{few[operator]}</td>"
        f"<td>{few[station]}</td><td>{few[error]}</td>"
        + (f"<td>{provisioned or ''}</td>" if cloud else "")
        + "</tr>\n"
        for (serial, result, attempts, first_pass, status, key, first_at, last_at, operator,
             station, sync, error, provisioned) in rows
    ])


_MANY_VALUED = (0, 5, 6, 7, 12)  # serial, device key, first and last PASS, provisioned


def _needs_escaping(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether a many-valued cell of ``rows`` holds a character HTML escapes (or is not
    text at all, which only a tampered database gives)."""
    try:
        joined = "".join(["".join([row[i] or "" for row in rows]) for i in _MANY_VALUED])
    except TypeError:
        return True
    return any(char in joined for char in "&<>\"'")


def _closed(header: Any) -> str:
    if header.source == "cloud":
        return _NA
    if header.closed_at is None:
        return "no (open)"
    return html.escape(header.closed_at) + (
        f" by {html.escape(header.closed_by)}" if header.closed_by else ""
    )


def plural(count: int, word: str) -> str:
    """``1 hour``, ``3 hours``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _h(value: Any) -> str:
    """A value for HTML: n/a when unknown."""
    return _NA if value is None else html.escape(str(value))


def _pct(value: float | None) -> str:
    return _NA if value is None else f"{value * 100:.1f}&nbsp;%"


def _num(value: float | None, digits: int) -> str:
    return _NA if value is None else f"{value:.{digits}f}"


def _ms(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.1f}&nbsp;s"
    return f"{value:.1f}&nbsp;ms"


# -- SVG charts (pure Python) ----------------------------------------------------------------

_SVG_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
MAX_PARETO_BARS = 15


def pareto_svg(failures: Sequence[FailureCode], width: int = 760) -> str:
    """Horizontal Pareto chart: one bar per error code (most frequent on top), its length
    the code's share of the failed attempts, and the cumulative share as a line; both
    against the one top axis (0-100 %), so a 66.7 % code ends at two thirds."""
    rows = list(failures[:MAX_PARETO_BARS])
    rest = failures[MAX_PARETO_BARS:]
    if rest:
        rows.append(
            FailureCode(
                code=f"{len(rest)} other codes",
                attempts=sum(f.attempts for f in rest),
                units=sum(f.units for f in rest),
                share=sum(f.share for f in rest),
                cumulative_share=1.0,
                hint=None,
            )
        )
    bar_h, gap, top, label_w, right = 20, 6, 34, 230, 70
    height = top + len(rows) * (bar_h + gap) + 12
    plot_w = width - label_w - right
    e = _esc
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="pareto-title" '
        f'class="chart pareto" {_SVG_FONT} font-size="12">',
        '<title id="pareto-title">Failure Pareto: failed attempts by error code, with the '
        "cumulative share</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for pct in (0, 25, 50, 75, 100):
        x = label_w + plot_w * pct / 100
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" fill="{MUTED}" '
            f'font-size="10">{pct}%</text>'
        )
    points = []
    for index, f in enumerate(rows):
        y = top + index * (bar_h + gap)
        w = max(1.0, plot_w * f.share)  # on the same percentage axis as the line
        out.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
            f'fill="{INK}">{e(_clip(f.code, 32))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{FAIL_COLOR}">'
            f"<title>{e(f.code)}: {f.attempts} attempts, {f.units} units</title></rect>"
            f'<text x="{label_w + w + 5:.1f}" y="{y + bar_h * 0.7:.1f}" fill="{INK}">'
            f"{f.attempts} ({f.share * 100:.1f}%)</text>"
        )
        points.append((label_w + plot_w * f.cumulative_share, y + bar_h / 2))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    out.append(
        f'<polyline points="{path}" fill="none" stroke="{ACCENT_COLOR}" stroke-width="2"/>'
    )
    for x, y in points:
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{ACCENT_COLOR}"/>')
    out.append(
        f'<text x="{width - 4}" y="12" text-anchor="end" fill="{ACCENT_COLOR}" font-size="10">'
        "bars: share of failed attempts &#183; line: cumulative share (both on the top axis)</text></svg>\n"
    )
    return "".join(out)


def throughput_svg(buckets: Sequence[HourBucket], width: int = 760, height: int = 260) -> str:
    """Bars per hour: finished attempts (light) behind PASS (green). Long batches are drawn
    with one bar per several hours, so a bar is never thinner than 2 px."""
    left, right, top, bottom = 48, 12, 24, 44
    plot_w = width - left - right
    plot_h = height - top - bottom
    per_bar = max(1, math.ceil(len(buckets) * 2 / plot_w))
    bars: list[tuple[str, int | None, int]] = []
    for start in range(0, len(buckets), per_bar):
        chunk = buckets[start : start + per_bar]
        attempts = None if any(b.attempts is None for b in chunk) else sum(
            b.attempts or 0 for b in chunk
        )
        bars.append((chunk[0].hour, attempts, sum(b.passed for b in chunk)))
    peak = max(max(a or 0, p) for _, a, p in bars) or 1
    scale = axis_top(peak)
    slot = plot_w / len(bars)
    bar_w = max(1.0, slot * 0.8)
    e = _esc
    unit = "hour" if per_bar == 1 else plural(per_bar, "hour")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="tp-title" '
        f'class="chart throughput" {_SVG_FONT} font-size="11">',
        f'<title id="tp-title">Throughput: finished attempts and PASS per {unit} (UTC)</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for i in range(5):
        value = scale * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{value:g}</text>"
        )
    for index, (hour, attempts, passed) in enumerate(bars):
        x = left + index * slot + (slot - bar_w) / 2
        if attempts:
            h = plot_h * attempts / scale
            out.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{LIGHT_COLOR}"/>'
            )
        if passed:
            h = plot_h * passed / scale
            out.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{PASS_COLOR}"><title>{e(hour)}: {passed} PASS'
                + ("" if attempts is None else f", {attempts} attempts")
                + "</title></rect>"
            )
    label_every = max(1, math.ceil(len(bars) / 8))
    for index in range(0, len(bars), label_every):
        x = left + index * slot + slot / 2
        hour = bars[index][0]
        out.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="10">{e(hour[5:10])}</text>'
            f'<text x="{x:.1f}" y="{height - bottom + 29}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="10">{e(hour[11:16])}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{INK}"/>'
        f'<rect x="{left}" y="6" width="10" height="10" fill="{PASS_COLOR}"/>'
        f'<text x="{left + 14}" y="15" fill="{INK}">PASS</text>'
        f'<rect x="{left + 60}" y="6" width="10" height="10" fill="{LIGHT_COLOR}"/>'
        f'<text x="{left + 74}" y="15" fill="{INK}">attempts</text>'
        f'<text x="{width - right}" y="15" text-anchor="end" fill="{MUTED}">per {unit}</text>'
        "</svg>\n"
    )
    return "".join(out)


def axis_top(peak: float, ticks: int = 4) -> float:
    """The top of a count axis with ``ticks`` equal steps, each a whole 1, 2, 2.5 or 5 x 10^k
    (never a fraction: the axis counts boards), at least ``peak``."""
    if peak <= 0:
        return float(ticks)
    raw = peak / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        size = step * magnitude
        if size >= raw and float(size).is_integer():
            return float(size * ticks)
    return float(10 * magnitude * ticks)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _units(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"
