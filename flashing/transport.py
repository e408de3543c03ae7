"""The agent protocol's link: a serial port whose bytes are cut into frames."""

from __future__ import annotations

import time

from .frames import Frame, FrameDecoder, FrameError
from .serial_port import READ_SLICE_SECONDS, SerialPort


class SerialTransport(SerialPort):
    """Sends bytes and collects frames (good and bad) from one serial port."""

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        super().__init__(port, baudrate=baudrate)
        self._decoder = FrameDecoder()
        self.last_byte_at = 0.0
        """Monotonic time the last byte arrived: the driver waits for a quiet line before it retransmits."""

    def receive(self, deadline: float) -> list[Frame | FrameError]:
        """Wait until at least one frame (good or bad) arrives or ``deadline`` (monotonic) passes."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            data = self.read(min(remaining, READ_SLICE_SECONDS))
            if data:
                self.last_byte_at = time.monotonic()
                items = self._decoder.feed(data)
                if items:
                    return items

    def discard_input(self) -> None:
        super().discard_input()
        self._decoder.reset()

    def __enter__(self) -> SerialTransport:
        return self
