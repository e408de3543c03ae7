"""Open the right driver for a port, as ``station.ini`` says."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import Board
from flashing.greengrass import GreengrassBoard, GreengrassSettings
from flashing.nrf91 import Nrf91Board
from flashing.protocol import MAX_OBJECT_SIZE
from station.config import StationConfig
from station.errors import ClaimError, ConfigError
from station.provisioning.claim import ClaimCredentials


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
    if config.driver == "greengrass" and config.greengrass is not None:
        return GreengrassBoard.open(port, config.greengrass, baudrate=config.baud,
                                    password=gateway_password(config.greengrass))
    raise ConfigError(f"driver {config.driver!r} is not available in this version", code="DRIVER_UNAVAILABLE")


_PASSWORDS: dict[str, str] = {}


def gateway_password(settings: GreengrassSettings) -> Callable[[], str | None]:
    """The factory account's password: the environment variable ``password_env`` names, else
    asked once per process on the terminal (never from station.ini, never logged)."""

    def ask() -> str | None:
        value = os.environ.get(settings.password_env)
        if value:
            return value
        if settings.password_env not in _PASSWORDS:
            if not sys.stdin or not sys.stdin.isatty():
                return None
            _PASSWORDS[settings.password_env] = getpass.getpass(
                f"Password of the gateways' {settings.user} account: ")
        return _PASSWORDS[settings.password_env]

    return ask


# The longest AT%CMNG write command around a PEM: AT%CMNG=0,<tag>,<type>,"<pem>" and CR LF.
_CMNG_OVERHEAD = 32


def claim_object_limit(config: StationConfig) -> int | None:
    """The largest claim object (root CA, certificate, key) the configured driver can write,
    or None when it has no limit of its own."""
    if config.driver == "agent":
        return MAX_OBJECT_SIZE
    if config.driver == "nrf91":
        return config.nrf91.max_command - _CMNG_OVERHEAD
    return None


def check_claim_fits(config: StationConfig, claim: ClaimCredentials) -> None:
    """Refuse, before any board is touched, claim material a board could not store
    (``CLAIM_OBJECT_TOO_LARGE``): every board would otherwise FAIL with a misleading hint."""
    limit = claim_object_limit(config)
    if limit is None:
        return
    sizes = {"root CA": len(claim.root_ca_pem), "claim certificate": len(claim.cert_pem),
             "claim key": len(claim.key_pem)}
    for name, size in sizes.items():
        if size > limit:
            raise ClaimError(
                f"the {name} is {size} bytes; the {config.driver} driver can write at most {limit} "
                "bytes per object",
                code="CLAIM_OBJECT_TOO_LARGE",
                hint="Give [claim] just the one root CA that signs the AWS IoT endpoint (e.g. "
                "AmazonRootCA1.pem, not a bundle), or raise the board's limit (for nRF91: "
                "[nrf91] max_command, if the modem firmware allows it).",
            )
