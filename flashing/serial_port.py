"""Raw bytes to and from one serial port, over pyserial; every read bounded in time and size.

``port`` is anything pyserial opens: a device (``/dev/ttyACM0``, ``COM7``) or a URL
(``socket://127.0.0.1:7001``). Both drivers build on this: the agent protocol cuts the
bytes into frames (``transport.py``), the nRF91 driver into AT lines (``at.py``).
"""

from __future__ import annotations

import os

import serial

from .errors import BoardDisconnected, PortUnavailable

READ_SLICE_SECONDS = 0.05
MAX_READ = 4096

try:  # POSIX: pyserial lets termios.error (not an OSError) escape from flush, reset and reconfigure
    import termios

    LINK_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    LINK_ERRORS = (serial.SerialException, OSError)


class SerialPort:
    """One open port with byte counters (the benchmarks compare them with the wire time)."""

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        self.port = port
        self.baudrate = baudrate
        self.bytes_sent = 0
        self.bytes_received = 0
        self._closed = False
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=READ_SLICE_SECONDS, write_timeout=5.0, **exclusive_open(port)
            )
        except (*LINK_ERRORS, ValueError) as exc:
            raise PortUnavailable(f"cannot open {port}: {reason(exc)}") from None

    def send(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: write failed: {reason(exc)}") from None
        self.bytes_sent += len(data)

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``min(timeout, READ_SLICE_SECONDS)`` seconds (possibly nothing)."""
        try:
            if timeout < READ_SLICE_SECONDS:  # setting it reconfigures the port: only near a deadline
                self._serial.timeout = max(timeout, 0.001)
            elif self._serial.timeout != READ_SLICE_SECONDS:
                self._serial.timeout = READ_SLICE_SECONDS
            waiting = self._serial.in_waiting
            data = self._serial.read(min(max(waiting, 1), MAX_READ))
        except LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: link dropped: {reason(exc)}") from None
        self.bytes_received += len(data)
        return data

    def discard_input(self) -> None:
        """Drop whatever the board sent that nobody asked for (a boot banner, a stale answer)."""
        try:
            self._serial.reset_input_buffer()
        except LINK_ERRORS as exc:
            raise BoardDisconnected(f"{self.port}: {reason(exc)}") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._serial.close()
        except LINK_ERRORS:
            pass

    def __enter__(self) -> SerialPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def exclusive_open(port: str) -> dict[str, bool]:
    """On POSIX, a device is locked while open (pyserial's ``exclusive``), so two stations on
    one PC cannot both talk to one board; Windows opens COM ports exclusively by itself, and
    URLs (``socket://``) have nothing to lock."""
    if os.name == "posix" and "://" not in port:
        return {"exclusive": True}
    return {}


def reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
