"""Open the right driver for a port, as ``station.ini`` says."""

from __future__ import annotations

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import Board
from flashing.nrf91 import Nrf91Board, Nrf91Timeouts
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
        nrf91 = config.nrf91
        try:
            return Nrf91Board.open(
                port,
                baudrate=config.baud,
                timeouts=Nrf91Timeouts(answer=nrf91.answer_seconds, cfun=nrf91.cfun_seconds, keygen=timeouts.keygen_seconds),
                serial_source=nrf91.serial_source,
                claim_sec_tag=nrf91.claim_sec_tag,
                device_sec_tag=nrf91.device_sec_tag,
                csr_subject=nrf91.csr_subject,
            )
        except ValueError as exc:
            raise ConfigError(f"[nrf91] in {config.path}: {exc}") from None
    raise ConfigError(f"driver {config.driver!r} is not available in this version", code="DRIVER_UNAVAILABLE")
