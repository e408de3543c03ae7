"""Simulated boards that speak the exact bytes of the protocol on real pseudo-terminals or TCP."""

from .agent_model import AgentBoardModel
from .board import SimulatedBoard, WireClock, start_boards
from .faults import Fault, FaultSet, FaultSpecError, parse_fault
from .links import PtyLink, TcpLink

__all__ = [
    "AgentBoardModel",
    "Fault",
    "FaultSet",
    "FaultSpecError",
    "PtyLink",
    "SimulatedBoard",
    "TcpLink",
    "WireClock",
    "parse_fault",
    "start_boards",
]
