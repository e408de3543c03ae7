"""Simulated boards that speak the exact bytes of the protocol on real pseudo-terminals or TCP."""

from ..greengrass import GreengrassSettings
from .agent_model import AgentBoardModel
from .board import SimulatedBoard, WireClock, start_boards
from .faults import Fault, FaultSet, FaultSpecError, parse_fault
from .greengrass_board import (
    DEFAULT_PASSWORD,
    SimulatedGateway,
    SimulatorUnavailable,
    start_gateways,
)
from .links import PtyLink, TcpLink
from .nrf91_board import SimulatedNrf91Modem, start_nrf91_modems

__all__ = [
    "AgentBoardModel",
    "Fault",
    "FaultSet",
    "FaultSpecError",
    "PtyLink",
    "SimulatedBoard",
    "SimulatedGateway",
    "SimulatedNrf91Modem",
    "SimulatorUnavailable",
    "TcpLink",
    "WireClock",
    "parse_fault",
    "start_boards",
    "start_gateways",
    "start_nrf91_modems",
]

SIMULATED_DRIVERS = ("agent", "nrf91", "greengrass")


def check_fault(driver: str, text: str) -> None:
    """Raise FaultSpecError if ``text`` is not a fault the simulator of ``driver`` knows."""
    if driver == "nrf91":
        from .nrf91_model import parse_modem_fault

        parse_modem_fault(text)
    elif driver == "greengrass":
        from .greengrass_board import parse_gateway_fault

        parse_gateway_fault(text)
    else:
        parse_fault(text)


def start_simulated(
    driver: str,
    count: int,
    *,
    baud: int | None = None,
    keygen_ms: float = 0.0,
    faults: dict[int, list[str]] | None = None,
    first_number: int = 1,
    transport: str = "pty",
    greengrass: GreengrassSettings | None = None,
    password: str | None = None,
) -> list[SimulatedBoard] | list[SimulatedNrf91Modem] | list[SimulatedGateway]:
    """Start ``count`` simulated boards of the kind ``driver`` talks to, with unique serials.

    ``greengrass`` (the station's [greengrass] settings) and ``password`` (the factory
    account's) are for ``driver="greengrass"`` only; gateways need a pty (no ``tcp``)."""
    if driver == "greengrass":
        if greengrass is None:
            raise ValueError("simulated gateways need the [greengrass] settings (their paths and serial source)")
        if transport != "pty":
            raise ValueError("simulated gateways run on pseudo-terminals only (POSIX, with mount namespaces)")
        return start_gateways(
            count, greengrass, password=password or DEFAULT_PASSWORD, baud=baud, faults=faults,
            first_number=first_number,
        )
    if driver == "nrf91":
        return start_nrf91_modems(
            count, baud=baud, keygen_ms=keygen_ms, faults=faults, first_number=first_number, transport=transport
        )
    return start_boards(
        count, serial_prefix="SIM", first_number=first_number, baud=baud, keygen_ms=keygen_ms,
        faults=faults, transport=transport,
    )
