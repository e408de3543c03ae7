"""A simulated board: the agent model on a real link, with wire timing and faults."""

from __future__ import annotations

import os
import time

from ..frames import Frame, FrameDecoder, FrameError
from ..protocol import PROTOCOL_VERSIONS, Command, FrameType
from .agent_model import AgentBoardModel
from .device import SimulatedDevice
from .faults import FaultSet
from .links import Link, LinkClosed, PtyLink, TcpLink

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
PROGRESS_INTERVAL = 0.4
TX_SLICE = 16
SLOW_ANSWER_SECONDS = 0.8


class WireClock:
    """Makes a fast link behave like a UART at ``baud``: bytes take their wire time."""

    def __init__(self, baud: int | None) -> None:
        self.byte_time = BITS_PER_BYTE / baud if baud else 0.0

    def receive(self, nbytes: int) -> None:
        """The station's bytes came at memory speed; let them take their time to 'arrive'."""
        if self.byte_time:
            time.sleep(nbytes * self.byte_time)

    def send(self, link: Link, data: bytes) -> None:
        """Write ``data`` so that each slice lands when its last byte would have."""
        if not self.byte_time:
            link.write(data)
            return
        start = time.monotonic()
        for offset in range(0, len(data), TX_SLICE):
            end = min(offset + TX_SLICE, len(data))
            delay = start + end * self.byte_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            link.write(data[offset:end])


class SimulatedBoard(SimulatedDevice):
    """One board on its own thread. ``port`` is what the station opens."""

    def __init__(
        self,
        serial: str,
        *,
        link: Link | None = None,
        baud: int | None = None,
        keygen_ms: float = 0.0,
        faults: FaultSet | list[str] | None = None,
        model: AgentBoardModel | None = None,
        logs: bool = False,
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        write_protect: bool = False,
    ) -> None:
        """``logs``: print a log line after every answer, ended by 0x00 as protocol 1.1 requires.
        ``versions=(1,)`` makes a protocol 1.0 board."""
        fault_set = faults if isinstance(faults, FaultSet) else FaultSet(faults or [])
        self.model = model or AgentBoardModel(
            serial, faults=fault_set, versions=versions, write_protect=write_protect
        )
        self.faults = self.model.faults
        self.link = link or PtyLink()
        self.port = self.link.port
        self.serial = serial
        self.keygen_seconds = keygen_ms / 1000.0
        self.clock = WireClock(baud)
        self.requests_seen: list[Command | int] = []
        self.logs = logs
        self._stalled = False
        super().__init__(f"sim-board-{serial}")

    @property
    def device_private_key(self):  # type: ignore[no-untyped-def]
        """The key the board generated (only a simulator can show it: tests and the demo's cloud check)."""
        return self.model.state.device_key

    def _run(self) -> None:
        decoder = FrameDecoder()
        try:
            while not self._stop.is_set():
                data = self.link.read(0.05)
                for item in decoder.feed(data) if data else ():
                    if isinstance(item, FrameError) or item.type != FrameType.REQUEST:
                        continue  # a damaged frame is dropped silently; the station retransmits
                    if not self._serve(item):
                        return
        except LinkClosed:
            return

    def _serve(self, request: Frame) -> bool:
        """Answer one request; False when the board has left the line."""
        self.clock.receive(len(request.encode()) + 1)
        command = Command(request.cmd) if request.cmd in Command._value2member_map_ else request.cmd
        self.requests_seen.append(command)
        if isinstance(command, Command):
            if self.faults.at("drop", command):
                self.link.drop()
                return False
            if self.faults.at("stall", command):
                self._stalled = True
        if self._stalled or (isinstance(command, Command) and self.faults.at("deaf-once", command)):
            return True
        if command == Command.KEYGEN and not self.model.is_repeat(request) and not self._emulate_keygen(request):
            return False  # stopped while "generating": a board being switched off
        answer = self.model.handle(request)
        if isinstance(command, Command):
            if self.faults.at("slow", command):
                time.sleep(SLOW_ANSWER_SECONDS)
            if self.faults.at("garbage", command):
                answer = os.urandom(len(answer)).replace(b"\x00", b"\x01") + b"\x00"
            elif self.faults.at("corrupt", command) or self.faults.at("corrupt-once", command):
                answer = _flip_one_byte(answer)
        self.clock.send(self.link, answer)
        if self.faults.has("chatter"):
            self.clock.send(self.link, f"I (prov) answered 0x{request.cmd:02x}\r\n".encode())
        elif self.logs:
            self.clock.send(self.link, f"I (prov) answered 0x{request.cmd:02x}\r\n".encode() + b"\x00")
        return True

    def _emulate_keygen(self, request: Frame) -> bool:
        """Take ``keygen_ms`` like a real board, telling the station we are alive meanwhile.
        False when the board was stopped meanwhile (it then answers nothing)."""
        deadline = time.monotonic() + self.keygen_seconds
        if self.keygen_seconds > 0:
            self.clock.send(self.link, self.model.progress(request))  # the 500 ms rule counts to the first frame
        while (remaining := deadline - time.monotonic()) > 0:
            if self._stop.wait(min(PROGRESS_INTERVAL, remaining)):
                return False
            if deadline - time.monotonic() > 0:
                self.clock.send(self.link, self.model.progress(request))
        return True


def _flip_one_byte(frame: bytes) -> bytes:
    middle = len(frame) // 2
    flipped = frame[middle] ^ 0x20 or 0x21
    return frame[:middle] + bytes([flipped]) + frame[middle + 1 :]


def start_boards(
    count: int,
    *,
    serial_prefix: str = "SIM",
    first_number: int = 1,
    baud: int | None = None,
    keygen_ms: float = 0.0,
    faults: dict[int, list[str]] | None = None,
    transport: str = "pty",
) -> list[SimulatedBoard]:
    """Start ``count`` boards with unique serials; ``faults`` maps a board index to its faults."""
    boards = []
    for index in range(count):
        serial = f"{serial_prefix}{first_number + index:06d}"
        link: Link = TcpLink() if transport == "tcp" else PtyLink()
        board = SimulatedBoard(
            serial, link=link, baud=baud, keygen_ms=keygen_ms, faults=(faults or {}).get(index, [])
        )
        boards.append(board.start())
    return boards
