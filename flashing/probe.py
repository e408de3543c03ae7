"""Which protocol answers on a port: the agent's frames or AT commands.

The pipeline asks this after a board did not answer its configured driver, so that a
station set to the wrong ``[station] driver`` (or a port that is another kind of board)
says which driver to set instead of "reseat the USB cable". It opens the port itself;
the caller must have closed its own handle first.
"""

from __future__ import annotations

import time

from .agent import AgentBoard, AgentTimeouts
from .errors import BoardError
from .serial_port import SerialPort

AT_PROBE = b"AT\r\n"
AT_ANSWERS = (b"OK", b"ERROR")
FRAME_FLUSH = b"\x00"
"""Ends whatever the AT probe left in an agent board's frame decoder, so its next frame is clean."""


PROTOCOLS = ("at", "agent")


def probe_protocol(
    port: str, *, baudrate: int = 115200, wait: float = 0.4, candidates: tuple[str, ...] = PROTOCOLS
) -> str | None:
    """``"at"`` if the port answers an AT command, ``"agent"`` if it answers the agent's
    HELLO (of ``candidates``, asked in that order), else None. Takes at most about
    ``3 * wait`` seconds. The pipeline asks only for the protocols its driver does not
    speak, so a dead board of the right kind gets no request of its own protocol more."""
    try:
        if "at" in candidates and _answers_at(port, baudrate, wait):
            return "at"
        if "agent" in candidates and _answers_hello(port, baudrate, wait):
            return "agent"
        return None
    except BoardError:
        return None


def _answers_at(port: str, baudrate: int, wait: float) -> bool:
    with SerialPort(port, baudrate=baudrate) as link:
        link.discard_input()
        link.send(AT_PROBE)
        heard = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not any(answer in heard for answer in AT_ANSWERS):
            heard += link.read(deadline - time.monotonic())
        if any(answer in heard for answer in AT_ANSWERS):
            return True
        link.send(FRAME_FLUSH)
        return False


def _answers_hello(port: str, baudrate: int, wait: float) -> bool:
    board = AgentBoard.open(port, baudrate=baudrate, timeouts=AgentTimeouts(answer=wait, retries=1, spacing=0.0))
    try:
        board.identify()
        return True
    except BoardError:
        return False
    finally:
        board.close()
