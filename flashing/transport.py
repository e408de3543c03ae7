"""A byte link to one board, over pyserial.

``port`` is anything pyserial opens: a device (``/dev/ttyACM0``, ``COM7``) or a
URL (``socket://127.0.0.1:7001``). Reads are always bounded in time and size.
"""

from __future__ import annotations

import time

import serial

from .errors import BoardDisconnected, PortUnavailable
from .frames import Frame, FrameDecoder, FrameError

READ_SLICE_SECONDS = 0.1
MAX_READ = 4096

try:  # pyserial lets termios.error (not an OSError) escape from flush, reset and reconfigure
    import termios

    _LINK_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    _LINK_ERRORS = (serial.SerialException, OSError)


class SerialTransport:
    """Sends bytes and collects frames from one serial port."""

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        self.port = port
        self.baudrate = baudrate
        self.bytes_sent = 0
        self.bytes_received = 0
        self._decoder = FrameDecoder()
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=READ_SLICE_SECONDS, write_timeout=5.0
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortUnavailable(f"cannot open {port}: {_reason(exc)}") from None

    def send(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except _LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: write failed: {_reason(exc)}") from None
        self.bytes_sent += len(data)

    def receive(self, deadline: float) -> list[Frame | FrameError]:
        """Wait until at least one frame (good or bad) arrives or ``deadline`` (monotonic) passes."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            data = self._read(min(remaining, READ_SLICE_SECONDS))
            if not data:
                continue
            self.bytes_received += len(data)
            items = self._decoder.feed(data)
            if items:
                return items

    def discard_input(self) -> None:
        """Drop whatever the board sent that nobody asked for (a boot banner, a stale answer)."""
        try:
            self._serial.reset_input_buffer()
        except _LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: {_reason(exc)}") from None
        self._decoder.reset()

    def close(self) -> None:
        try:
            self._serial.close()
        except _LINK_ERRORS:
            pass

    def _read(self, timeout: float) -> bytes:
        try:
            if timeout < READ_SLICE_SECONDS:  # changing it reconfigures the port: only near a deadline
                self._serial.timeout = timeout
            elif self._serial.timeout != READ_SLICE_SECONDS:
                self._serial.timeout = READ_SLICE_SECONDS
            waiting = self._serial.in_waiting
            return self._serial.read(min(max(waiting, 1), MAX_READ))
        except _LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: link dropped: {_reason(exc)}") from None

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
