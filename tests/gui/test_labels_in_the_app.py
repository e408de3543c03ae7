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
