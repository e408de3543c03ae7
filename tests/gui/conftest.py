"""Fixtures for the operator app: a window on a real station folder, simulated boards
plugged in through ManualPorts, and helpers that drive it like an operator would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui import worker
from gui.line import LineSession
from gui.main_window import MainWindow
from gui.slot_tile import SlotTile
from station.context import Station, open_station
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import SlotState

WAIT_MS = 20_000


@pytest.fixture
def make_station(station_folder: Path) -> Iterator[Callable[..., Station]]:
    """Open the test station (holding the line); ``require_label=True`` switches labels on."""
    opened: list[Station] = []

    def make(*, require_label: bool = False, batch: str | None = "B1") -> Station:
        ini = station_folder / "station.ini"
        if require_label:
            ini.write_text(ini.read_text().replace("[serial]\n", "[serial]\nrequire_label = yes\n"))
        station = open_station(ini)
        station.take_line()
        if batch:
            station.records.open_batch(batch, "GW", 100, "tester")
        opened.append(station)
        return station

    yield make
    for station in opened:
        station.close()


class App:
    """A window under test and the handles a test needs."""

    def __init__(self, qtbot, window: MainWindow, ports: ManualPorts, station: Station) -> None:
        self.qtbot = qtbot
        self.window = window
        self.ports = ports
        self.station = station
        self.records = station.records

    # -- acting like an operator ------------------------------------------------------

    def type_into(self, widget, text: str) -> None:
        widget.setFocus()
        widget.clear()
        self.qtbot.keyClicks(widget, text)
        self.qtbot.keyClick(widget, Qt.Key.Key_Return)

    def sign_in(self, name: str = "OP1", *, expect_batch: bool = True) -> None:
        self.type_into(self.window.sign_in.id_edit, name)
        self.qtbot.waitUntil(lambda: self.window.stack.currentWidget() is self.window.work, timeout=WAIT_MS)
        if expect_batch:
            self.qtbot.waitUntil(lambda: self.window.summary is not None, timeout=WAIT_MS)

    def click(self, button) -> None:
        assert button.isVisible() and button.isEnabled(), f"{button.text()} is not clickable"
        self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    # -- looking ------------------------------------------------------------------------

    def tile(self, port: str) -> SlotTile:
        self.qtbot.waitUntil(lambda: port in self.window.tiles, timeout=WAIT_MS)
        return self.window.tiles[port]

    def wait_state(self, port: str, state: SlotState, timeout: int = WAIT_MS) -> SlotTile:
        tile = self.tile(port)
        self.qtbot.waitUntil(lambda: tile.slot.state == state, timeout=timeout)
        return tile

    def wait_idle(self) -> None:
        self.qtbot.waitUntil(lambda: worker.busy() == 0, timeout=WAIT_MS)


@pytest.fixture
def make_app(qtbot, make_station) -> Iterator[Callable[..., App]]:
    windows: list[MainWindow] = []

    def make(
        station: Station | None = None,
        *,
        ports: object = None,
        fixed_ports: tuple[str, ...] = (),
        ports_note: str = "",
        sync_service: object = None,
        **station_kwargs: object,
    ) -> App:
        """A window on ``station``; ``ports`` is a port source (ManualPorts by default),
        ``fixed_ports`` the slots with a tile from the start."""
        station = station or make_station(**station_kwargs)
        ports = ports if ports is not None else ManualPorts()
        line = LineSession(station, station.claim(), ports, poll_interval=0.05)  # type: ignore[arg-type]
        window = MainWindow(
            station, line, fixed_ports=fixed_ports, ports_note=ports_note, sync_service=sync_service  # type: ignore[arg-type]
        )
        qtbot.addWidget(window)
        windows.append(window)
        line.start()
        window.show()
        window.activateWindow()
        qtbot.waitActive(window)
        return App(qtbot, window, ports, station)

    yield make
    for window in windows:
        window.shutdown(timeout=5)
    qtbot.waitUntil(lambda: worker.busy() == 0, timeout=WAIT_MS)
