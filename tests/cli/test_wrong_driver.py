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


@pytest.fixture
def patient_line(line):
    """The line with the shipped board timeouts (the suite's are shorter), as a real station has."""
    ini_set(line / "station.ini", "timeouts", "answer_seconds", "1.0")
    ini_set(line / "station.ini", "timeouts", "retries", "3")
    return line


def test_an_agent_station_names_the_driver_of_a_modem_within_3_seconds(patient_line, modem):
    started = time.monotonic()

    done = station("provision", "--port", modem.port, cwd=patient_line)

    assert done.code == 3, done
    assert "WRONG_DRIVER" in done.out
    assert "[station] driver = nrf91" in done.out
    assert time.monotonic() - started < 3.0


def test_a_modem_station_names_the_driver_of_an_agent_board_within_3_seconds(patient_line, boards):
    ini_set(patient_line / "station.ini", "station", "driver", "nrf91")
    [board] = boards(1)
    started = time.monotonic()

    done = station("provision", "--port", board.port, cwd=patient_line)

    assert done.code == 3, done
    assert "[station] driver = agent" in done.out, done
    assert time.monotonic() - started < 3.0


def test_a_board_of_the_right_kind_that_answers_slowly_is_still_provisioned(patient_line):
    [board] = start_simulated("agent", 1, first_number=902, faults={0: ["slow@hello"]})
    try:
        done = station("provision", "--port", board.port, cwd=patient_line)
    finally:
        board.stop()

    assert done.code == 0, done
    assert "PASS" in done.out


def test_a_port_open_in_one_station_cannot_be_opened_by_another(boards):
    [board] = boards(1)
    with SerialPort(board.port), pytest.raises(PortUnavailable):
        SerialPort(board.port)
