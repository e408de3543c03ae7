"""Fixtures shared by the whole suite: a ready station folder and simulated boards."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flashing.sim import SimulatedBoard, start_boards
from station.context import Station, open_station
from station.demo import prepare_folder

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FAST_TIMEOUTS = """
[timeouts]
answer_seconds = 0.3
retries = 2
step_retries = 1
step_seconds = 20
"""


@pytest.fixture
def station_folder(tmp_path: Path) -> Path:
    """A demo station folder (station.ini, demo claim material) with short board timeouts."""
    folder = tmp_path / "station"
    ini = prepare_folder(folder)
    text = ini.read_text().split("[timeouts]")[0] + FAST_TIMEOUTS
    ini.write_text(text)
    return folder


@pytest.fixture
def station(station_folder: Path) -> Iterator[Station]:
    """An open station on ``station_folder`` holding the line, with batch B1 (product GW) open."""
    with open_station(station_folder / "station.ini") as opened:
        opened.take_line()
        opened.records.open_batch("B1", "GW", 100, "tester")
        yield opened


@pytest.fixture
def boards() -> Iterator[Callable[..., list[SimulatedBoard]]]:
    """Start simulated boards on ptys: ``boards(3, faults={1: ["wrong-cn"]})``; all stopped afterwards."""
    started: list[SimulatedBoard] = []
    next_number = [1]

    def start(count: int = 1, **kwargs: object) -> list[SimulatedBoard]:
        kwargs.setdefault("first_number", next_number[0])
        new = start_boards(count, **kwargs)  # type: ignore[arg-type]
        next_number[0] = int(kwargs["first_number"]) + count  # type: ignore[call-overload]
        started.extend(new)
        return new

    yield start
    for board in started:
        board.stop()
