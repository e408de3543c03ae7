"""Open the right driver for a port, as ``station.ini`` says."""

from __future__ import annotations

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import Board

from .config import StationConfig
from .errors import ConfigError


def open_board(config: StationConfig, port: str) -> Board:
    """Open ``port`` with the configured driver; raises a ``BoardError`` if the port cannot be opened."""
    timeouts = AgentTimeouts(
        answer=config.timeouts.answer_seconds,
        retries=config.timeouts.retries,
        keygen=config.timeouts.keygen_seconds,
    )
    if config.driver == "agent":
        return AgentBoard.open(port, baudrate=config.baud, timeouts=timeouts)
    raise ConfigError(f"driver {config.driver!r} is not available in this version", code="DRIVER_UNAVAILABLE")
