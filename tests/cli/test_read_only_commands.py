"""Commands that only look create no file: no database, no log folder."""

from __future__ import annotations

import pytest
from cli_helpers import station


@pytest.mark.parametrize("args", [("units",), ("units", "--json"), ("batch", "list"), ("sync", "status"),
                                  ("user", "list"), ("audit", "verify")])
def test_a_looking_command_in_a_fresh_station_folder_creates_nothing(station_folder, args):
    before = sorted(p.relative_to(station_folder) for p in station_folder.rglob("*"))

    done = station(*args, cwd=station_folder)

    assert done.code == 0, done
    assert sorted(p.relative_to(station_folder) for p in station_folder.rglob("*")) == before


def test_units_in_a_fresh_station_folder_says_there_are_none(station_folder):
    assert station("units", cwd=station_folder).out == "no units\n"
    assert station("units", "--json", cwd=station_folder).out == "[]\n"


@pytest.mark.parametrize("args", [("report", "--batch", "B1"), ("trace", "SN1"), ("show", "SN1")])
def test_a_looking_command_that_finds_nothing_says_so_and_creates_nothing(station_folder, args):
    before = sorted(p.relative_to(station_folder) for p in station_folder.rglob("*"))

    done = station(*args, cwd=station_folder)

    assert done.code == 3, done
    assert "INTERNAL_ERROR" not in done.err
    assert sorted(p.relative_to(station_folder) for p in station_folder.rglob("*")) == before
