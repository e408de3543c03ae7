"""A driver whose first request meets silence asks, over the link it holds, whether the
port speaks the other protocol: a wrong ``[station] driver`` is named in about a second,
and a board of the right kind that missed its first request is not disturbed by the question."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from flashing.agent import AgentBoard
from flashing.errors import WrongProtocol
from flashing.nrf91 import Nrf91Board
from flashing.protocol import Command
from flashing.sim import start_simulated


@pytest.fixture
def simulated() -> Iterator:
    started = []

    def start(driver: str, faults: list[str] | None = None):
        [board] = start_simulated(driver, 1, first_number=700 + len(started), faults={0: faults or []})
        started.append(board)
        return board

    yield start
    for board in started:
        board.stop()


def test_the_agent_driver_names_a_modem_after_its_first_silent_hello(simulated):
    modem = simulated("nrf91")
    began = time.monotonic()

    with AgentBoard.open(modem.port) as board, pytest.raises(WrongProtocol) as raised:
        board.identify()

    assert raised.value.spoken == "at"
    assert raised.value.code == "WRONG_DRIVER"
    assert time.monotonic() - began < 2.0


def test_the_modem_driver_names_an_agent_board_after_its_first_silent_at(simulated):
    agent = simulated("agent")
    began = time.monotonic()

    with Nrf91Board.open(agent.port) as board, pytest.raises(WrongProtocol) as raised:
        board.identify()

    assert raised.value.spoken == "agent"
    assert time.monotonic() - began < 2.0


def test_an_agent_board_that_missed_its_first_hello_is_identified_after_the_question(simulated):
    agent = simulated("agent", ["deaf-once@hello"])

    with AgentBoard.open(agent.port) as board:
        identity = board.identify()
        serial = board.read_serial()

    assert identity.protocol.startswith("agent/")
    assert serial == agent.serial
    assert agent.requests_seen.count(Command.HELLO) == 2


def test_a_modem_that_missed_its_first_at_is_identified_after_the_question(simulated):
    modem = simulated("nrf91", ["deaf-once@at"])

    with Nrf91Board.open(modem.port) as board:
        identity = board.identify()
        serial = board.read_serial()

    assert identity.model
    assert serial == modem.imei
