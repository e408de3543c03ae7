"""Labels in the app: the printer's state in the status bar, and a PASS's label printed."""

from __future__ import annotations

import pytest

from station.labels.demo import start_demo_printer
from station.provisioning.runner import SlotState

WAIT_MS = 20_000


@pytest.fixture
def printer(station_folder):
    emulator = start_demo_printer(station_folder)
    yield emulator
    emulator.stop()


def test_the_status_bar_shows_the_label_printer_and_its_state(make_app, printer):
    app = make_app()
    status = app.window.printer_status
    app.qtbot.waitUntil(lambda: "ready" in status.text() or "unknown" in status.text(), timeout=WAIT_MS)
    assert status.text().startswith("label printer ")
    printer.set_offline(True)
    app.qtbot.waitUntil(lambda: "offline" in status.text(), timeout=WAIT_MS)


def test_a_pass_in_the_app_prints_its_label(make_app, boards, printer):
    app = make_app()
    app.sign_in()
    sim = boards(1)[0]
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)
    app.qtbot.waitUntil(lambda: len(printer.jobs) == 1, timeout=WAIT_MS)
    assert sim.serial.encode() in printer.jobs[0].data


def test_a_selected_unit_shows_its_label_and_a_supervisor_reprint_is_printed_and_audited(make_app, boards, printer):
    app = make_app()
    app.sign_in()
    sim = boards(1)[0]
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)
    app.qtbot.waitUntil(lambda: len(printer.jobs) == 1, timeout=WAIT_MS)
    window = app.window
    window.units_model.refresh()
    app.qtbot.waitUntil(lambda: window.units_model.rowCount() == 1, timeout=WAIT_MS)
    window.units_view.selectRow(0)

    layout = window.label_preview.label_layout()
    assert layout is not None and sim.serial in layout.code.content
    assert any(sim.serial in text.text for text in layout.texts)
    assert window.reprint_button.isEnabled()

    window._reprint(window.selected_unit(), "SUP1")  # what the approved supervisor dialog calls
    app.qtbot.waitUntil(lambda: len(printer.jobs) == 2, timeout=WAIT_MS)
    assert sim.serial.encode() in printer.jobs[1].data
    audit = window.records.audit_entries(subject=sim.serial)
    assert any(e.action == "label.reprint" and e.actor == "SUP1" for e in audit)
