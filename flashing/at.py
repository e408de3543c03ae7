"""A bounded AT command channel over a serial port (pyserial), for modem drivers.

This is the line layer under :mod:`flashing.nrf91`: it sends one command line,
and reads the answer up to its final result code (``OK``, ``ERROR``,
``+CME ERROR: <n>``, ``+CMS ERROR: <n>``), while tolerating what real modems and
their AT hosts do:

* command echo (``ATE1`` style), which is recognised line by line, in order,
  against what was sent (so an echoed multi-line PEM string is skipped too);
* unsolicited result codes (lines starting with ``+`` or ``%``) arriving
  before, inside or after an answer; they are set aside in :attr:`AtChannel.urcs`;
* ``CR``, ``LF`` or ``CRLF`` line ends, and empty lines.

Every read is bounded in time (a deadline per command) and in size (a maximum
line length); overflow, silence and a dropped link end as typed
:class:`~flashing.errors.BoardError` s, never as a hang.

The serial handling mirrors :class:`flashing.transport.SerialTransport`, which
only hands out COBS frames; an AT modem needs the raw byte stream.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field

from .errors import (
    BoardTimeout,
    FrameError,
    FrameTooLong,
    ProtocolError,
)
from .nrf91_settings import DEFAULT_MAX_LINE
from .serial_port import READ_SLICE_SECONDS, SerialPort

MAX_URCS_KEPT = 64
TERMINATOR = b"\r\n"

# At most 9 significant digits: int() refuses numbers of more than 4300 digits (ValueError),
# and a line of 8 KiB can hold one. A longer "code" is not a final result code.
_FINAL_CME = re.compile(r"\+CME ERROR: *0*(\d{1,9})")
_FINAL_CMS = re.compile(r"\+CMS ERROR: *0*(\d{1,9})")


class AtSerialPort(SerialPort):
    """The modem's UART: raw bytes, read in bounded slices (see :class:`SerialPort`)."""


class LineSplitter:
    """Cut a byte stream into text lines at CR, LF or CRLF; bounded line length.

    Empty lines are dropped. A line must be printable ASCII (tab allowed);
    anything else means the link is damaging bytes and raises ``FrameError``.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        lines = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._buffer:
                    lines.append(self._finish())
                continue
            if len(self._buffer) >= self.max_line:
                self._buffer.clear()
                raise FrameTooLong(
                    f"the modem sent more than {self.max_line} bytes without a line end",
                    hint="The modem is sending data that is not an AT answer. Power-cycle the board and retry; "
                    "if it repeats, set the board aside.",
                )
            self._buffer.append(byte)
        return lines

    def reset(self) -> None:
        self._buffer.clear()

    def _finish(self) -> str:
        raw = bytes(self._buffer)
        self._buffer.clear()
        if any(not (0x20 <= b <= 0x7E or b == 0x09) for b in raw):
            raise FrameError(
                f"the modem sent a line that is not printable ASCII ({len(raw)} bytes)"
            )
        return raw.decode("ascii")


@dataclass(frozen=True)
class FinalResult:
    """The final result code of one AT command."""

    kind: str
    """``OK``, ``ERROR``, ``CME`` or ``CMS``."""
    code: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "OK"

    def __str__(self) -> str:
        if self.kind == "CME":
            return f"+CME ERROR: {self.code}"
        if self.kind == "CMS":
            return f"+CMS ERROR: {self.code}"
        return self.kind


def parse_final(line: str) -> FinalResult | None:
    """The final result code in ``line``, or None if the line is not one."""
    text = line.strip()
    if text == "OK":
        return FinalResult("OK")
    if text == "ERROR":
        return FinalResult("ERROR")
    if match := _FINAL_CME.fullmatch(text):
        return FinalResult("CME", int(match[1]))
    if match := _FINAL_CMS.fullmatch(text):
        return FinalResult("CMS", int(match[1]))
    return None


BARE = "<bare>"
"""``expect`` value for commands whose information response has no prefix (``+CGMR``)."""


@dataclass
class AtReply:
    command: str
    """A short, printable name of the command (never the content of a credential)."""
    final: FinalResult
    lines: list[str] = field(default_factory=list)
    """The information response lines that belong to the command."""


class AtChannel:
    """Send AT commands and collect their answers over an :class:`AtSerialPort`."""

    def __init__(
        self,
        port: AtSerialPort,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        keep_transcript: bool = False,
    ) -> None:
        self.port = port
        self._splitter = LineSplitter(max_line)
        self._pending: deque[str] = deque()
        self.urcs: deque[str] = deque(maxlen=MAX_URCS_KEPT)
        """Unsolicited result codes seen so far (most recent last)."""
        self.transcript: list[tuple[str, bytes]] | None = [] if keep_transcript else None
        """``("tx"|"rx", bytes)`` in wire order, if asked for; secret command content is redacted."""
        self._withheld: int | None = None
        """While a secret command runs: how many received bytes were kept out of the transcript."""

    def discard_input(self) -> None:
        self.port.discard_input()
        self._splitter.reset()
        self._pending.clear()

    def command(
        self,
        command: str,
        *,
        timeout: float,
        expect: str | None = None,
        label: str | None = None,
        secret: bool = False,
        reply_bytes: int = 64,
    ) -> AtReply:
        """Send ``command`` + CRLF and return its reply once the final result code arrives.

        ``expect`` is the prefix of the information lines that belong to the
        command (``"+CGSN:"``), :data:`BARE` for unprefixed information text, or
        None when the command answers nothing but a result code. Lines that
        start with ``+`` or ``%`` and are not expected are URCs. Any other line
        is a protocol error. ``timeout`` is counted from the end of the send,
        plus the wire time of ``reply_bytes`` and of an echo at this baud rate.
        ``secret`` keeps the command's bytes out of the transcript and out of
        every error message (``label`` names it instead).
        """
        name = label or command
        data = command.encode("ascii") + TERMINATOR
        echo = [part for part in re.split(r"[\r\n]+", command) if part]
        self._withheld = 0 if secret else None
        if self.transcript is not None:
            shown = (
                data
                if not secret
                else f"{name} <{len(data)} bytes not recorded>\r\n".encode("ascii")
            )
            self.transcript.append(("tx", shown))
        self.port.send(data)
        echo_at = 0
        wire = (
            (2 * len(data) + reply_bytes) * 10 / max(self.port.baudrate, 1)
        )  # command, its echo, reply
        deadline = time.monotonic() + timeout + wire
        lines: list[str] = []
        unexpected: list[str] = []
        while True:
            line = self._next_line(deadline, name, timeout)
            if echo_at < len(echo) and line == echo[echo_at]:
                echo_at += 1
                continue
            final = parse_final(line)
            if final is not None:
                if self.transcript is not None and self._withheld is not None:
                    note = f"<{self._withheld} bytes withheld during {name}> then {final}"
                    self.transcript.append(("rx", note.encode("ascii")))
                self._withheld = None
                if unexpected:
                    first = "" if secret else f" (first: {_shorten(unexpected[0])!r})"
                    raise ProtocolError(
                        f"{name}: the modem answered with {len(unexpected)} line(s) that are not part "
                        f"of the reply{first}"
                    )
                return AtReply(name, final, lines)
            if expect is not None and expect != BARE and line.startswith(expect):
                lines.append(line)
            elif line[:1] in ("+", "%"):
                if not secret:  # during a secret command a stray line may be a piece of the secret
                    self.urcs.append(line)
            elif expect == BARE:
                lines.append(line)
            else:
                unexpected.append(line)

    def _next_line(self, deadline: float, name: str, timeout: float) -> str:
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeout(f"{name}: no final result code within {timeout:.1f} s")
            data = self.port.read(min(remaining, READ_SLICE_SECONDS))
            if data:
                if self.transcript is not None:
                    self._record_rx(data)
                self._pending.extend(self._splitter.feed(data))
        return self._pending.popleft()

    def _record_rx(self, data: bytes) -> None:
        assert self.transcript is not None
        if self._withheld is not None:  # the reply to a secret command may echo the secret
            self._withheld += len(data)
            return
        self.transcript.append(("rx", data))

    def close(self) -> None:
        self.port.close()


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
