"""Which protocol answers on a port: the agent's frames or AT commands.

A driver asks this when its first request met silence, over the link it already holds, so
that a station set to the wrong ``[station] driver`` (or a port that is another kind of
board) says which driver to set within seconds instead of "reseat the USB cable" after
every retry has run out. :func:`probe_protocol` does the same on a port it opens itself.
"""

from __future__ import annotations

import random
import time

from .errors import BoardError
from .frames import Frame, FrameDecoder, encode_frame
from .protocol import PROTOCOL_VERSIONS, Command, FrameType
from .serial_port import SerialPort

AT_PROBE = b"AT\r\n"
AT_ANSWERS = (b"OK", b"ERROR")
FRAME_FLUSH = b"\x00"
"""Ends whatever the AT probe left in an agent board's frame decoder, so its next frame is clean."""
LINE_FLUSH = b"\r\n"
"""Ends whatever a HELLO frame left in a modem's line buffer (it answers ERROR, and is ready again)."""
PROBE_WAIT = 0.8
"""Seconds a probe waits for an answer. Either protocol answers in milliseconds when it is
there; the margin is for a station PC (or a simulated board) busy with other work."""

PROTOCOLS = ("at", "agent")


def answers_at(link: SerialPort, wait: float = PROBE_WAIT) -> bool:
    """Whether the board on ``link`` answers ``AT`` with a result code within ``wait`` seconds."""
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


def answers_frames(link: SerialPort, wait: float = PROBE_WAIT) -> bool:
    """Whether the board on ``link`` answers a HELLO with any frame (even a damaged one)
    within ``wait`` seconds. Our own request echoed back does not count."""
    link.discard_input()
    low, high = PROTOCOL_VERSIONS[0], PROTOCOL_VERSIONS[-1]
    link.send(FRAME_FLUSH + encode_frame(FrameType.REQUEST, random.randrange(256), Command.HELLO, bytes([low, high])))
    decoder = FrameDecoder()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for item in decoder.feed(link.read(deadline - time.monotonic())):
            if not isinstance(item, Frame) or item.type != FrameType.REQUEST:
                return True
    link.send(LINE_FLUSH)
    _read_until_result_code(link, wait)
    return False


def _read_until_result_code(link: SerialPort, wait: float) -> None:
    """Take in a modem's answer to the line a probe left (so the next command gets its own)."""
    heard = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not any(answer + b"\r" in heard or answer + b"\n" in heard
                                                  for answer in AT_ANSWERS):
        heard += link.read(deadline - time.monotonic())


def probe_protocol(
    port: str, *, baudrate: int = 115200, wait: float = PROBE_WAIT, candidates: tuple[str, ...] = PROTOCOLS
) -> str | None:
    """``"at"`` if ``port`` answers an AT command, ``"agent"`` if it answers the agent's
    HELLO (of ``candidates``, asked in that order), else None. Opens the port itself (the
    caller must not hold it) and takes at most about ``2 * wait`` seconds."""
    try:
        with SerialPort(port, baudrate=baudrate) as link:
            if "at" in candidates and answers_at(link, wait):
                return "at"
            if "agent" in candidates and answers_frames(link, wait):
                return "agent"
            return None
    except BoardError:
        return None
