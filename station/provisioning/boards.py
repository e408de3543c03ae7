"""Open the right driver for a port, as ``station.ini`` says."""

from __future__ import annotations

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import Board
from flashing.nrf91 import Nrf91Board
from station.config import StationConfig
from station.errors import ConfigError


def open_board(config: StationConfig, port: str) -> Board:
    """Open ``port`` with the configured driver; raises a ``BoardError`` if the port cannot be opened."""
    timeouts = config.timeouts
    if config.driver == "agent":
        return AgentBoard.open(
            port,
            baudrate=config.baud,
            timeouts=AgentTimeouts(answer=timeouts.answer_seconds, retries=timeouts.retries, keygen=timeouts.keygen_seconds),
        )
    if config.driver == "nrf91":
        return Nrf91Board.open(port, baudrate=config.baud, settings=config.nrf91)
    raise ConfigError(f"driver {config.driver!r} is not available in this version", code="DRIVER_UNAVAILABLE")
