"""The report in the app: export (the function the QA tab's buttons call), its buttons in
the QA tab's report slot, and the charts drawn with QPainter."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_fixtures import BATCH, EXPECTED_COUNTS

from records import Records
from station.reports.data import build_report

pytest.importorskip("pytestqt")


@pytest.fixture
def report(known_db: Path):
    with Records(known_db) as records:
        return build_report(records, BATCH)


@pytest.mark.parametrize("fmt", ["html", "csv", "json", "pdf"])
def test_export_report_writes_each_format(qtbot, known_db: Path, tmp_path: Path,
                                          fmt: str) -> None:
    from gui.report_pdf import export_report

    target = tmp_path / f"r.{fmt}"
    with Records(known_db) as records:
        saved = export_report(None, records, BATCH, fmt, target, show_errors=False)
    assert saved == target
    data = target.read_bytes()
    assert data[:5] in (b"<!DOC", b"\xef\xbb\xbfBa", b"{\n \"s", b"%PDF-")
    if fmt == "json":
        assert json.loads(data)["counts"] == EXPECTED_COUNTS


def test_export_report_of_an_unknown_batch(qtbot, known_db: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from gui.report_pdf import export_report

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args))
    with Records(known_db) as records:
        assert export_report(None, records, "NOPE", "html", tmp_path / "x.html") is None
    assert shown and "there is no batch 'NOPE'" in shown[0][2]
    assert not (tmp_path / "x.html").exists()


def test_buttons_in_the_qa_tab(records: Records, qtbot, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # ``records`` before ``qtbot``: the tab is closed before its database.
    from PySide6.QtWidgets import QFileDialog

    from gui.qa_tab import QaTab
    from gui.report_pdf import install_report_buttons

    tab = QaTab(records)
    qtbot.addWidget(tab)
    buttons = install_report_buttons(tab)
    assert [b.text() for b in buttons] == [
        "Export HTML…", "Export CSV…", "Export JSON…", "Export PDF…"]
    assert tab.reports_placeholder.isHidden()
    target = tmp_path / "from-button.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), ""))
    monkeypatch.setattr(type(tab), "current_batch", property(lambda self: BATCH))
    buttons[1].click()
    assert target.read_bytes().startswith("\ufeffBatch report,B1".encode())


def test_chart_widget_paints(qtbot, report) -> None:
    from gui.charts import ReportChart

    for kind in ("pareto", "throughput"):
        chart = ReportChart(kind)
        qtbot.addWidget(chart)
        chart.resize(520, 260)
        chart.set_report(report)
        image = chart.grab().toImage()
        colours = {image.pixel(x, y) for x in range(0, image.width(), 4)
                   for y in range(0, image.height(), 4)}
        assert len(colours) > 3, kind


def test_chart_png_and_svg(qtbot, report) -> None:
    from gui.charts import chart_png, chart_svg

    assert chart_png("pareto", report).startswith(b"\x89PNG")
    root = ET.fromstring(chart_svg("throughput", report))
    assert root.tag.endswith("svg")
