"""Fixtures of the CLI tests: a station folder with batch B1 open (the suite's
``station_folder`` and ``boards`` fixtures come from tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from records import Records


@pytest.fixture
def line(station_folder: Path) -> Path:
    """A station folder with batch B1 (product GW) open and nobody holding the line."""
    with Records(station_folder / "station.sqlite") as records:
        records.open_batch("B1", "GW", 100, "tester")
    return station_folder
