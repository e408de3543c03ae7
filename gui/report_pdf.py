"""The batch report as PDF, with Qt's own PDF writer (QPdfWriter + QPainter), headless.

``render_pdf(report) -> bytes`` is registered as the ``pdf`` renderer in the
``station.report_formats`` entry point group (pyproject.toml), which is how ``station
report --format pdf`` finds it without station/ importing Qt.

What the PDF holds: the same header, counts, notes, failure Pareto (chart and table),
cycle times and throughput chart as the other formats, and the **units that need a look**
(not PASS, PASS only after a retry, revoked, or not synced yet), at most
:data:`PDF_UNIT_LIMIT` of them. A clean batch of 100,000 boards would otherwise be 2,000
pages nobody reads; the complete unit list is in the HTML, CSV and JSON reports, and the
PDF says how many rows it left out. Device key fingerprints are shortened to their first
16 hex digits in the PDF (the other formats carry all 64).

Headless: with no QGuiApplication yet, one is created (a QApplication, so widgets still
work in the same process); on Linux without a display (no ``DISPLAY``/``WAYLAND_DISPLAY``)
``QT_QPA_PLATFORM`` is set to ``offscreen`` first.

For the QA tab: :func:`export_report` (build, render, save, with a file dialog when no
path is given) and :func:`install_report_buttons` (adds HTML/CSV/JSON/PDF buttons through
``QaTab.add_report_button``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

from records import Records
from station.errors import StationError
from station.reports.data import BatchReport, ReportError, build_report
from station.reports.formats import EXTENSIONS, FORMATS, INK, MUTED, render, report_filename

from .charts import paint_pareto, paint_throughput
from .qt_compat import protect

PDF_UNIT_LIMIT = 500
"""Most unit rows the PDF lists (about ten pages)."""
RESOLUTION = 300
NA = "n/a"
_APP: QGuiApplication | None = None


def ensure_gui_application() -> QGuiApplication:
    """The running QGuiApplication, or a new one (offscreen when there is no display).

    The new one is a QApplication (a QGuiApplication that can also show widgets), so the
    same process can still open a window or a file dialog afterwards; Qt allows only one
    application object per process.
    """
    global _APP
    protect()  # PySide6 6.12 on Python 3.11: see gui/qt_compat.py (runs once, on gui import)
    app = QGuiApplication.instance()
    if app is not None:
        if not isinstance(app, QGuiApplication):
            raise ReportError(
                "the PDF report needs a QGuiApplication, but this process runs a "
                f"{type(app).__name__}",
                code="REPORT_PDF_UNAVAILABLE",
                hint="Make the PDF from the station command or the app, or use html.",
            )
        return app
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:  # a Qt without widgets: the PDF needs only QtGui
        _APP = QGuiApplication(["station-report"])
    else:
        _APP = QApplication(["station-report"])
    return _APP


def render_pdf(report: BatchReport) -> bytes:
    """The report as a PDF document (A4 portrait)."""
    ensure_gui_application()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(14, 12, 14, 16),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(f"Batch report {report.header.batch}")
    writer.setCreator("provisioning station")
    document = _Document(writer, report)
    try:
        document.write()
    finally:
        document.close()
    buffer.close()
    return bytes(data.data())


# -- the layout ------------------------------------------------------------------------------


class _Document:
    """A very small flow layout over QPainter: text, key/value tables, tables, charts."""

    def __init__(self, writer: QPdfWriter, report: BatchReport) -> None:
        self.writer = writer
        self.report = report
        self.painter = QPainter(writer)
        self.painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        self.width = float(writer.width())
        self.bottom = float(writer.height()) - self.pt(18)  # room for the footer
        self.y = 0.0
        self.page = 1

    def pt(self, points: float) -> float:
        return points * RESOLUTION / 72.0

    def close(self) -> None:
        if self.painter.isActive():
            self._footer()
            self.painter.end()

    # -- primitives --

    def font(self, size: float, *, bold: bool = False, mono: bool = False) -> QFont:
        font = QFont()
        font.setFamilies(
            ["DejaVu Sans Mono", "Consolas", "Courier New"] if mono
            else ["DejaVu Sans", "Segoe UI", "Arial"]
        )
        font.setPointSizeF(size)
        font.setBold(bold)
        return font

    def ensure(self, height: float) -> None:
        if self.y + height > self.bottom and self.y > 0:
            self.new_page()

    def new_page(self) -> None:
        self._footer()
        self.writer.newPage()
        self.page += 1
        self.y = 0.0

    def _footer(self) -> None:
        header = self.report.header
        self.painter.setFont(self.font(7))
        self.painter.setPen(QColor(MUTED))
        rect = QRectF(0, self.bottom + self.pt(6), self.width, self.pt(10))
        self.painter.drawText(
            rect, Qt.AlignmentFlag.AlignLeft,
            f"Batch report {header.batch} ({header.source}) - generated {header.generated_at}",
        )
        self.painter.drawText(rect, Qt.AlignmentFlag.AlignRight, f"page {self.page}")

    def text(self, text: str, *, size: float = 9, bold: bool = False, color: str = INK,
             after: float = 4, mono: bool = False) -> None:
        font = self.font(size, bold=bold, mono=mono)
        metrics = QFontMetricsF(font, self.writer)
        flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
        bound = metrics.boundingRect(QRectF(0, 0, self.width, 1e6), flags, text)
        self.ensure(bound.height())
        self.painter.setFont(font)
        self.painter.setPen(QColor(color))
        self.painter.drawText(QRectF(0, self.y, self.width, bound.height() + 2), flags, text)
        self.y += bound.height() + self.pt(after)

    def heading(self, text: str, keep: float = 60) -> None:
        """A section title, kept on one page with the next ``keep`` points."""
        self.ensure(self.pt(30 + keep))
        self.y += self.pt(8)
        self.text(text, size=12.5, bold=True, after=2)
        self.painter.setPen(QPen(QColor("#0B4F9C"), self.pt(1.2)))
        self.painter.drawLine(QPointF(0, self.y), QPointF(self.width, self.y))
        self.y += self.pt(5)

    def note(self, text: str) -> None:
        font = self.font(8.5)
        metrics = QFontMetricsF(font, self.writer)
        pad = self.pt(4)
        flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
        bound = metrics.boundingRect(QRectF(0, 0, self.width - 3 * pad, 1e6), flags, text)
        height = bound.height() + 2 * pad
        self.ensure(height)
        self.painter.fillRect(QRectF(0, self.y, self.width, height), QColor("#FFF1C2"))
        self.painter.fillRect(QRectF(0, self.y, pad * 0.6, height), QColor("#B58900"))
        self.painter.setFont(font)
        self.painter.setPen(QColor(INK))
        self.painter.drawText(
            QRectF(2 * pad, self.y + pad, self.width - 3 * pad, bound.height() + 2), flags, text
        )
        self.y += height + self.pt(4)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        size: float = 8,
        right: frozenset[int] = frozenset(),
        mono: frozenset[int] = frozenset(),
        wrap: frozenset[int] = frozenset(),
        header_row: bool = True,
    ) -> None:
        """A table across the page; ``widths`` are fractions of the width. Rows never split
        across pages; the header is repeated on each page."""
        font = self.font(size)
        bold = self.font(size, bold=True)
        mono_font = self.font(size * 0.92, mono=True)
        metrics = QFontMetricsF(font, self.writer)
        pad = self.pt(2.5)
        line = metrics.height()
        lefts = []
        x = 0.0
        for fraction in widths:
            lefts.append(x)
            x += fraction * self.width
        cols = [fraction * self.width for fraction in widths]
        grid = QPen(QColor("#BBBBBB"), self.pt(0.4))

        def draw_header() -> None:
            if not header_row:
                return
            height = line + 2 * pad
            self.painter.fillRect(QRectF(0, self.y, self.width, height), QColor("#E6E6E6"))
            self.painter.setFont(bold)
            self.painter.setPen(QColor(INK))
            for i, title in enumerate(headers):
                align = Qt.AlignmentFlag.AlignRight if i in right else Qt.AlignmentFlag.AlignLeft
                self.painter.drawText(
                    QRectF(lefts[i] + pad, self.y + pad, cols[i] - 2 * pad, line),
                    align | Qt.AlignmentFlag.AlignVCenter, title,
                )
            self.y += height

        self.ensure(2 * (line + 2 * pad))
        draw_header()
        for row in rows:
            height = line
            for i in wrap:
                if row[i]:
                    bound = metrics.boundingRect(
                        QRectF(0, 0, cols[i] - 2 * pad, 1e6), Qt.TextFlag.TextWordWrap, row[i]
                    )
                    height = max(height, bound.height())
            height += 2 * pad
            if self.y + height > self.bottom:
                self.new_page()
                draw_header()
            for i, value in enumerate(row):
                self.painter.setFont(mono_font if i in mono else font)
                self.painter.setPen(QColor(INK))
                box = QRectF(lefts[i] + pad, self.y + pad, cols[i] - 2 * pad, height - 2 * pad)
                if i in wrap:
                    self.painter.drawText(box, Qt.TextFlag.TextWordWrap, value)
                else:
                    align = (Qt.AlignmentFlag.AlignRight if i in right
                             else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter
                    shown = self.painter.fontMetrics().elidedText(
                        value, Qt.TextElideMode.ElideRight, int(box.width())
                    )
                    self.painter.drawText(box, align, shown)
            self.painter.setPen(grid)
            self.painter.drawLine(QPointF(0, self.y + height), QPointF(self.width, self.y + height))
            self.y += height
        self.y += self.pt(6)

    def chart(self, kind: str, height_pt: float) -> None:
        height = self.pt(height_pt)
        self.ensure(height)
        rect = QRectF(0, self.y, self.width, height)
        if kind == "pareto":
            paint_pareto(self.painter, rect, self.report.failures, font_pt=7.5)
        else:
            paint_throughput(self.painter, rect, self.report.throughput, font_pt=7.5)
        self.y += height + self.pt(6)

    # -- the report --

    def write(self) -> None:
        report = self.report
        h = report.header
        c = report.counts
        self.text(f"Batch report {h.batch}", size=20, bold=True, after=2)
        source = h.source + (f" (DynamoDB table {h.table})" if h.table else "")
        self.text(
            f"{h.product or ''}  |  source: {source}  |  generated {h.generated_at}"
            + (f" by {h.generated_by}" if h.generated_by else ""),
            size=9, color=MUTED, after=8,
        )
        for note in report.notes:
            self.note(note)
        if report.unavailable:
            self.note("Only the station knows (n/a here): " + ", ".join(report.unavailable))

        self.heading("Batch")
        certificates = "\n".join(f"{cert.sha256} ({_unit_count(cert.units)})"
                                 for cert in h.claim_certificates) or "none"
        closed = NA if h.source == "cloud" else (
            f"{h.closed_at} by {h.closed_by}" if h.closed_at else "no (open)")
        self.table(
            ["", ""],
            [
                ["Product", _s(h.product)],
                ["Planned quantity", _s(h.planned_quantity)],
                ["Opened", _s(h.opened_at) + (f" by {h.opened_by}" if h.opened_by else "")],
                ["Closed", closed],
                ["Stations", ", ".join(h.stations) or "none"],
                ["Operators", NA if h.operators is None else (", ".join(h.operators) or "none")],
                ["First / last attempt", f"{_s(h.first_attempt_at)} / {_s(h.last_attempt_at)}"],
                ["First / last PASS", f"{_s(h.first_pass_at)} / {_s(h.last_pass_at)}"],
                ["Claim certificate SHA-256", certificates],
            ],
            [0.28, 0.72], wrap=frozenset({1}), header_row=False,
        )

        self.heading("Counts")
        attempts_split = " / ".join(_s(v) for v in (
            c.attempts_passed, c.attempts_failed, c.attempts_aborted, c.attempts_running))
        left = [
            ["Units attempted", _s(c.units_attempted)],
            ["PASS", _s(c.units_passed)],
            ["FAIL (never passed)", _s(c.units_failed)],
            ["In progress", _s(c.units_in_progress)],
            ["Re-tested", _s(c.units_retested)],
            ["PASS on the first attempt", _s(c.units_first_pass)],
            ["First-pass yield", _pct(c.first_pass_yield)],
            ["Final yield", _pct(c.final_yield)],
        ]
        right_rows = [
            ["Attempts", _s(c.attempts)],
            ["PASS / FAIL / aborted / running", attempts_split],
            ["Attempts without a serial", _s(c.attempts_without_serial)],
            ["Attempts per unit (mean / max)",
             f"{_num(c.attempts_per_unit_mean, 2)} / {_s(c.attempts_per_unit_max)}"],
            ["Revoked", _s(c.units_revoked)],
            ["Pending sync", _s(c.units_pending_sync)],
            ["Synced", _s(c.units_synced)],
            ["Provisioned in AWS IoT", _s(c.units_provisioned)] if c.units_provisioned
            is not None else ["Allow-list units", _s(c.allow_list_units)],
        ]
        self.table(
            ["", "", "", ""],
            [a + b for a, b in zip(left, right_rows, strict=True)],
            [0.27, 0.15, 0.38, 0.20], right=frozenset({1, 3}), header_row=False,
        )

        self.heading("Failures by error code", keep=40 + 17 * min(len(report.failures), 16))
        if "failures" in report.unavailable:
            self.text("n/a: failed attempts are only known to the station.")
        elif not report.failures:
            self.text("No failed attempts.")
        else:
            bars = min(len(report.failures), 16)
            self.chart("pareto", 40 + 17 * bars)
            self.table(
                ["Error code", "Attempts", "Units", "Share", "Cumul.", "What the operator is told"],
                [[f.code, str(f.attempts), str(f.units), _pct(f.share),
                  _pct(f.cumulative_share), f.hint or ""] for f in report.failures],
                [0.25, 0.09, 0.07, 0.08, 0.08, 0.43],
                right=frozenset({1, 2, 3, 4}), wrap=frozenset({5}), size=7.5,
            )

        self.heading("Cycle time")
        cycle = report.cycle_times
        if cycle is None:
            self.text("n/a: attempt and step times are only known to the station.")
        elif cycle.per_unit is None and not cycle.per_step:
            self.text("No finished attempts yet.")
        else:
            stats = ([("Unit (passing attempt)", cycle.per_unit)] if cycle.per_unit else [])
            stats += [(f"step {s.name}", s) for s in cycle.per_step]
            self.table(
                ["What", "Count", "p50", "p95", "max", "mean"],
                [[label, str(s.count), _ms(s.p50_ms), _ms(s.p95_ms), _ms(s.max_ms),
                  _ms(s.mean_ms)] for label, s in stats],
                [0.36, 0.12, 0.13, 0.13, 0.13, 0.13], right=frozenset({1, 2, 3, 4, 5}),
            )
            if cycle.step_attempts_used < cycle.step_attempts_total:
                self.text(f"Steps: from {cycle.step_attempts_used} of "
                          f"{cycle.step_attempts_total} attempts, evenly spread.",
                          size=8, color=MUTED)

        self.heading("Throughput per hour (UTC)", keep=190)
        if not report.throughput:
            self.text("No finished attempts yet.")
        else:
            self.chart("throughput", 170)
            passed = [b.passed for b in report.throughput]
            self.text(f"{len(passed)} hours; PASS per hour: peak {max(passed)}, "
                      f"mean {sum(passed) / len(passed):.1f}.", size=8.5)

        self.heading("Units that need a look")
        self._units()

    def _units(self) -> None:
        report = self.report
        if not report.units_included:
            self.text("The unit list was not included in this report.")
            return
        if not report.units:
            self.text("No units yet.")
            return
        shown: list = []
        needing = 0
        for row in report.iter_exceptions():  # one pass: a million-unit batch is read, not held
            needing += 1
            if len(shown) < PDF_UNIT_LIMIT:
                shown.append(row)
        self.text(
            f"{needing} of {len(report.units)} units: not PASS, PASS only after a retry, "
            "revoked, or not synced yet. Every unit is in the HTML, CSV and JSON reports; "
            "`station trace SERIAL` shows one unit's full history.",
            size=8.5, color=MUTED,
        )
        if not needing:
            self.text("None: every unit passed on its first attempt and is synced.")
            return
        self.table(
            ["Serial", "Result", "Att.", "Status", "Sync", "Last error", "Operator",
             "Device key SHA-256"],
            [[u.serial, u.result.upper(), _s(u.attempts, ""), u.status or "",
              u.sync_state or "", u.last_error_code or "", u.operator or "",
              (u.device_key_sha256[:16] + "...") if u.device_key_sha256 else ""]
             for u in shown],
            [0.15, 0.08, 0.05, 0.09, 0.09, 0.19, 0.12, 0.23],
            right=frozenset({2}), mono=frozenset({0, 7}), size=7,
        )
        if needing > len(shown):
            self.note(
                f"{needing - len(shown)} more units need a look; the PDF lists the first "
                f"{PDF_UNIT_LIMIT} by serial. See the CSV or HTML report for all of them."
            )


def _s(value: Any, none: str = NA) -> str:
    return none if value is None else str(value)


def _pct(value: float | None) -> str:
    return NA if value is None else f"{value * 100:.1f} %"


def _num(value: float | None, digits: int) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.1f} ms"


# -- for the QA tab ------------------------------------------------------------------------


def export_report(
    parent: Any,
    source: Records | Any,
    batch_id: str,
    fmt: str,
    path: str | os.PathLike[str] | None = None,
    *,
    station_id: str | None = None,
    show_errors: bool = True,
) -> Path | None:
    """Build the report of ``batch_id``, render it as ``fmt`` and save it.

    ``source`` is the :class:`records.Records` (or a station with ``.records``). Without
    ``path`` a save dialog asks (suggesting ``report-<batch>.<ext>``); cancelling returns
    None. Errors are shown in a message box (unless ``show_errors`` is False) and return
    None. Runs on the calling thread with a busy cursor: a 100,000-unit batch takes about
    a second or two.
    """
    from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    records = getattr(source, "records", source)
    if station_id is None:
        station_id = getattr(getattr(source, "config", None), "station_id", None)
    if path is None:
        suggested = report_filename(batch_id, fmt)
        chosen, _filter = QFileDialog.getSaveFileName(
            parent, f"Save the {fmt.upper()} report of batch {batch_id}", suggested,
            f"{fmt.upper()} (*.{EXTENSIONS[fmt]})",
        )
        if not chosen:
            return None
        path = chosen
    target = Path(path)
    error: StationError | OSError | None = None
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        report = build_report(records, batch_id, station_id=station_id)
        target.write_bytes(render(report, fmt))
    except (StationError, OSError) as exc:
        error = exc
    finally:
        QApplication.restoreOverrideCursor()
    if error is not None:
        if not show_errors:
            raise error
        message = getattr(error, "message", None) or str(error)
        hint = getattr(error, "hint", "")
        QMessageBox.warning(parent, "Report not saved", f"{message}\n\n{hint}".strip())
        return None
    return target


def install_report_buttons(qa_tab: Any, source: Records | Any | None = None) -> list[Any]:
    """Add "Export HTML/CSV/JSON/PDF" buttons to the QA tab's report slot
    (``qa_tab.add_report_button``); returns the buttons."""
    source = source if source is not None else qa_tab.records
    buttons = []
    for fmt in FORMATS:
        buttons.append(
            qa_tab.add_report_button(
                f"Export {fmt.upper()}…",
                lambda batch_id, fmt=fmt: export_report(qa_tab, source, batch_id, fmt),
            )
        )
        buttons[-1].setObjectName(f"reportExport_{fmt}")
    return buttons


def _unit_count(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"
