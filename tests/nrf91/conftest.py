"""Fixtures for the nRF91 driver tests: real claim material and simulated modems on ptys."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from nrf91_helpers import DEVICE_TAG, make_bundle

from flashing.board import ClaimBundle
from flashing.sim.nrf91_board import SimulatedNrf91Modem, start_nrf91_modems


@pytest.fixture(scope="session")
def bundle() -> ClaimBundle:
    return make_bundle()


@pytest.fixture
def modems() -> Iterator[Callable[..., list[SimulatedNrf91Modem]]]:
    """``modems(count=1, **start_nrf91_modems kwargs)``; every modem started is stopped afterwards."""
    started: list[SimulatedNrf91Modem] = []

    def start(count: int = 1, **kwargs: object) -> list[SimulatedNrf91Modem]:
        kwargs.setdefault("device_sec_tag", DEVICE_TAG)
        new = start_nrf91_modems(count, **kwargs)  # type: ignore[arg-type]
        started.extend(new)
        return new

    yield start
    for modem in started:
        modem.stop()


@pytest.fixture
def modem(modems: Callable[..., list[SimulatedNrf91Modem]]) -> SimulatedNrf91Modem:
    return modems(1)[0]
