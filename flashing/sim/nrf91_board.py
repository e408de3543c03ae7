"""A simulated nRF91 modem: the AT model on a real link, with an AT host's line handling and faults.

The line handling follows the nRF Connect SDK AT host: a command ends at CR or
LF (CRLF works too) *outside* double quotes, so a quoted PEM string may carry
its own line breaks; whitespace-only lines are dropped; a command longer than
the buffer is refused. Answers are written the way the AT host forwards the
modem's response (``+CGSN: "..."\\r\\nOK\\r\\n``), at an emulated baud rate.

Use :func:`start_nrf91_modems`; each object has ``.port`` (what the station
opens), ``.serial`` (what ``Nrf91Board.read_serial`` returns for the chosen
``serial_source``), ``.stop()`` and ``.unplug()``, like ``SimulatedBoard``.
"""

from __future__ import annotations

import itertools
import os

from .board import WireClock
from .device import SimulatedDevice
from .links import Link, LinkClosed, PtyLink, TcpLink
from .nrf91_model import DEFAULT_TAC, ModemFaultSet, Nrf91ModemModel, make_imei

MAX_COMMAND = 4096
"""The AT host's command buffer (CONFIG_AT_HOST_CMD_MAX_LEN)."""
SLOW_KEYGEN_SECONDS = 1.5
FLOOD_BYTES = 12 * 1024
URCS = ("+CEREG: 2", "%XSIM: 1", "+CEREG: 0", "%XSIM: 0")


class SimulatedNrf91Modem(SimulatedDevice):
    """One modem on its own thread."""

    def __init__(
        self,
        imei: str,
        *,
        link: Link | None = None,
        baud: int | None = None,
        keygen_ms: float = 0.0,
        faults: ModemFaultSet | list[str] | None = None,
        serial_source: str = "imei",
        device_sec_tag: int = 201,
        model: Nrf91ModemModel | None = None,
    ) -> None:
        fault_set = faults if isinstance(faults, ModemFaultSet) else ModemFaultSet(faults or [])
        self._device_sec_tag = device_sec_tag
        self.model = model or Nrf91ModemModel(imei, faults=fault_set, device_sec_tag=device_sec_tag)
        self.faults = self.model.faults
        self.link = link or PtyLink()
        self.port = self.link.port
        self.serial_source = serial_source
        self.keygen_seconds = keygen_ms / 1000.0
        if self.faults.has("slow-keygen"):
            self.keygen_seconds = max(self.keygen_seconds, SLOW_KEYGEN_SECONDS)
        self.clock = WireClock(baud)
        self.echo = self.faults.has("echo")
        self.line_end = "\n" if self.faults.has("lf-only") else "\r\n"
        self.commands: list[str] = []
        """Every command line received, as text (quoted content included, terminator excluded)."""
        self.wire_rx = bytearray()
        """Every byte received from the station, in order."""
        self.wire_tx = bytearray()
        """Every byte sent to the station, in order."""
        self._urcs = itertools.cycle(URCS)
        self._stalled = False
        super().__init__(f"sim-nrf91-{imei}")

    @property
    def serial(self) -> str:
        """What the driver's read_serial returns with this modem's ``serial_source``."""
        return self.model.device_uuid if self.serial_source == "uuid" else self.model.reported_imei

    @property
    def imei(self) -> str:
        return self.model.imei

    @property
    def device_uuid(self) -> str:
        return self.model.device_uuid

    @property
    def device_private_key(self):  # type: ignore[no-untyped-def]
        """The key the modem generated in its device tag (tests and the demo's cloud check)."""
        return self.model.state.keys.get(self._device_sec_tag)

    # -- the AT host --------------------------------------------------------

    def _run(self) -> None:
        buffer = bytearray()
        inside_quotes = False
        overflow = False
        try:
            while not self._stop.is_set():
                data = self.link.read(0.05)
                if not data:
                    continue
                self.wire_rx += data
                echo = bytearray()
                for byte in data:
                    if self.echo and not self._stalled:
                        echo.append(byte)
                    if byte == 0x00:
                        continue  # the AT host ignores NUL outside NUL-termination mode
                    if not inside_quotes and byte in (0x0D, 0x0A):
                        if echo:
                            self._send(bytes(echo))
                            echo.clear()
                        if buffer.strip():
                            if not self._serve(bytes(buffer), overflow):
                                return
                        buffer.clear()
                        overflow = False
                        continue
                    if len(buffer) >= MAX_COMMAND - 1:
                        overflow = True  # the AT host drops what does not fit
                        continue
                    buffer.append(byte)
                    if byte == 0x22:
                        inside_quotes = not inside_quotes
                if echo:
                    self._send(bytes(echo))
        except LinkClosed:
            return

    def _serve(self, raw: bytes, overflow: bool) -> bool:
        """Answer one command line; False when the modem has left the line."""
        self.clock.receive(len(raw) + 2)
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            line = raw.decode("latin-1")
        self.commands.append(line)
        steps = self.model.steps_of(line)
        if self.faults.at("drop", steps):
            self.link.drop()
            return False
        if self.faults.at("stall", steps):
            self._stalled = True
        if self._stalled or self.faults.at("deaf-once", steps):
            return True
        if "keygen" in steps and self.keygen_seconds and self._stop.wait(self.keygen_seconds):
            return False  # stopped while "generating": a modem being switched off
        if overflow:
            answer = "ERROR\r\n"
        else:
            answer = self.model.handle(line)
        if self.faults.at("garbage", steps):
            out = bytes(0x80 | b for b in os.urandom(max(len(answer), 8))) + b"\r\n"
        elif self.faults.at("flood", steps):
            out = b"A" * FLOOD_BYTES
        else:
            out = answer.replace("\r\n", self.line_end).encode("ascii")
        if self.faults.has("urc"):
            out = self._urc() + out + self._urc()
        self._send(out)
        return True

    def _urc(self) -> bytes:
        return f"{self.line_end}{next(self._urcs)}{self.line_end}".encode("ascii")

    def _send(self, data: bytes) -> None:
        self.wire_tx += data
        self.clock.send(self.link, data)


def start_nrf91_modems(
    count: int,
    *,
    baud: int | None = None,
    keygen_ms: float = 0.0,
    faults: dict[int, list[str]] | None = None,
    serial_prefix: str = DEFAULT_TAC,
    first_number: int = 1,
    serial_source: str = "imei",
    device_sec_tag: int = 201,
    transport: str = "pty",
) -> list[SimulatedNrf91Modem]:
    """Start ``count`` modems with unique, valid IMEIs: ``serial_prefix`` is the 8-digit TAC,
    ``first_number`` the first 6-digit serial number part. ``faults`` maps a modem index to its faults."""
    if serial_source not in ("imei", "uuid"):
        raise ValueError(f"serial_source must be imei or uuid, not {serial_source!r}")
    modems = []
    for index in range(count):
        imei = make_imei(serial_prefix, first_number + index)
        link: Link = TcpLink() if transport == "tcp" else PtyLink()
        modem = SimulatedNrf91Modem(
            imei,
            link=link,
            baud=baud,
            keygen_ms=keygen_ms,
            faults=(faults or {}).get(index, []),
            serial_source=serial_source,
            device_sec_tag=device_sec_tag,
        )
        modems.append(modem.start())
    return modems
