"""A board of the other kind (or a station set to the wrong driver) is named, with the
``[station] driver`` to set, instead of "reseat the cable"; ports are opened exclusively."""

from __future__ import annotations

import time

import pytest
from cli_helpers import ini_set, station

from flashing.errors import PortUnavailable
from flashing.probe import probe_protocol
from flashing.serial_port import SerialPort
from flashing.sim import start_simulated


@pytest.fixture
def modem():
    [board] = start_simulated("nrf91", 1, first_number=900)
    yield board
    board.stop()


def test_the_probe_hears_at_commands_on_a_modem(modem):
    assert probe_protocol(modem.port) == "at"


def test_the_probe_hears_the_agent_on_an_agent_board(boards):
    [board] = boards(1)

    assert probe_protocol(board.port) == "agent"


def test_an_agent_station_names_the_driver_of_a_modem(line, modem):
    started = time.monotonic()

    done = station("provision", "--port", modem.port, cwd=line)

    assert done.code == 3, done
    assert "WRONG_DRIVER" in done.out
    assert "[station] driver = nrf91" in done.out
    assert time.monotonic() - started < 15


def test_a_modem_station_names_the_driver_of_an_agent_board(line, boards):
    ini_set(line / "station.ini", "station", "driver", "nrf91")
    [board] = boards(1)

    done = station("provision", "--port", board.port, cwd=line)

    assert "[station] driver = agent" in done.out, done


def test_a_port_open_in_one_station_cannot_be_opened_by_another(boards):
    [board] = boards(1)
    with SerialPort(board.port), pytest.raises(PortUnavailable):
        SerialPort(board.port)
