"""Fixtures: claim material, [greengrass] settings, simulated gateways on real pseudo-terminals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gg_helpers import PASSWORD, PASSWORD_ENV, make_bundle, make_settings

from flashing.board import ClaimBundle
from flashing.greengrass import GreengrassBoard, GreengrassSettings
from flashing.sim.greengrass_board import SimulatedGateway


@pytest.fixture(scope="session")
def bundle() -> ClaimBundle:
    return make_bundle()


@pytest.fixture
def settings() -> GreengrassSettings:
    return make_settings(login_seconds="8", command_seconds="5", keygen_seconds="20")


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD


@pytest.fixture
def gateways(settings: GreengrassSettings) -> Iterator[Callable[..., SimulatedGateway]]:
    """``gateways(serial="GW000001", faults=(), settings=..., **kwargs)``: started, stopped afterwards."""
    started: list[SimulatedGateway] = []

    def start(serial: str = "GW000001", *, faults: tuple[str, ...] = (), **kwargs: object) -> SimulatedGateway:
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("password", PASSWORD)
        kwargs.setdefault("kmsg_seconds", 0.5)
        gateway = SimulatedGateway(serial, faults=faults, **kwargs).start()  # type: ignore[arg-type]
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def boards(settings: GreengrassSettings) -> Iterator[Callable[..., GreengrassBoard]]:
    """``boards(port, settings=..., **open kwargs)``: a driver on the port, closed afterwards."""
    opened: list[GreengrassBoard] = []

    def open_board(port: str, **kwargs: object) -> GreengrassBoard:
        board_settings = kwargs.pop("settings", settings)
        board = GreengrassBoard.open(port, board_settings, **kwargs)  # type: ignore[arg-type]
        opened.append(board)
        return board

    yield open_board
    for board in opened:
        board.close()
