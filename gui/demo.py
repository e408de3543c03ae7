"""``station-gui --demo``: the whole app on simulated boards, with no setup.

A demo station folder (``station.demo.line.prepare_folder``: demo claim material, a
demo ``station.ini``), simulated boards on pseudo-terminals plugged into a
:class:`~station.provisioning.ports.ManualPorts` with a short stagger, and a loopback
DynamoDB-compatible server for the sync. Demo users: a supervisor and a QA user
(see :data:`DEMO_USERS`); anyone else signs in as operator with any ID.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flashing.sim import SimulatedBoard
from station.config import CloudConfig
from station.context import Station
from station.demo.line import DEMO_PRODUCT
from station.provisioning.ports import ManualPorts

log = logging.getLogger(__name__)

DEMO_USERS = (("SUP1", "supervisor", "1234"), ("QA1", "qa", "1234"))
DEMO_NOTE = (
    "DEMO — simulated boards, nothing is real. Sign in with any ID (e.g. TRAINEE). "
    "Supervisor: SUP1, PIN 1234 · QA: QA1, PIN 1234."
)
DEFAULT_FAULTS = {1: ["wrong-cn"]}  # board 2 answers with a CSR for another serial: a FAIL
_SERIAL = re.compile(r"SIM(\d{6})")


def default_demo_dir() -> Path:
    """A per-user folder for the demo station (kept between runs)."""
    base = os.environ.get("XDG_DATA_HOME") or (
        os.environ.get("LOCALAPPDATA") if os.name == "nt" else None
    ) or str(Path.home() / ".local" / "share")
    return Path(base) / "provisioning-station" / "gui-demo"


def demo_batch_id() -> str:
    return "DEMO-" + datetime.now(UTC).strftime("%Y%m%d")


def prepare_demo_records(station: Station) -> str:
    """Demo users and today's demo batch (idempotent); returns the batch id."""
    records = station.records
    known = {user.name for user in records.users()}
    for name, role, pin in DEMO_USERS:
        if name not in known:
            records.add_user(name, role, pin, actor="demo")
    batch_id = demo_batch_id()
    batch = records.get_batch(batch_id)
    if batch is None or batch.is_open:
        records.open_batch(batch_id, DEMO_PRODUCT, 100, "demo")
    return batch_id


def next_serial_number(station: Station) -> int:
    highest = 0
    for attempt in station.records.attempts(limit=5000):
        match = _SERIAL.fullmatch(attempt.serial or "")
        if match:
            highest = max(highest, int(match[1]))
    return highest + 1


def demo_slot_names(count: int) -> tuple[str, ...]:
    """A fixture of ``count`` slots in rows of up to 8: 16 → A1..A8, B1..B8."""
    if count <= 0:
        return ()
    rows = math.ceil(count / 8)
    columns = math.ceil(count / rows)
    return tuple(f"{chr(ord('A') + n // columns)}{n % columns + 1}" for n in range(count))


class DemoSlots:
    """A demo fixture with named slots (``--slots N``): each simulated board goes into the
    slot asked for, else the first free one, as a board pushed into a fixture would."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self._devices: dict[str, str] = {}
        self._lock = threading.Lock()

    def plug(self, device: str, slot: str | None = None) -> str | None:
        """Put the board on ``device`` into ``slot`` (or the first free one); None when all are taken."""
        with self._lock:
            free = [name for name in self.names if name not in self._devices]
            name = slot if slot in free else (free[0] if free else None)
            if name is not None:
                self._devices[name] = device
            return name

    def unplug(self, key: str) -> None:
        with self._lock:
            for name, device in list(self._devices.items()):
                if key in (name, device):
                    del self._devices[name]

    def scan(self) -> set[str]:
        with self._lock:
            return set(self._devices)

    def device(self, name: str) -> str:
        with self._lock:
            return self._devices.get(name, name)


class DemoLine:
    """Simulated boards that a trainee plugs in and pulls out (no Qt here)."""

    def __init__(
        self,
        ports: ManualPorts | DemoSlots,
        *,
        first_number: int = 1,
        keygen_ms: float = 1500.0,
        baud: int | None = 115200,
    ) -> None:
        self.ports = ports
        self.keygen_ms = keygen_ms
        self.baud = baud
        self.boards: dict[str, SimulatedBoard] = {}
        self._next = first_number
        self._lock = threading.Lock()

    def new_serial(self) -> str:
        with self._lock:
            serial = f"SIM{self._next:06d}"
            self._next += 1
            return serial

    def plug_new(
        self,
        faults: Iterable[str] = (),
        *,
        serial: str | None = None,
        keygen_ms: float | None = None,
        slot: str | None = None,
    ) -> str | None:
        """Start a simulated board and plug it in; returns its slot (its port without named
        slots), or None when every slot of the demo fixture is taken."""
        board = SimulatedBoard(
            serial or self.new_serial(),
            baud=self.baud,
            keygen_ms=self.keygen_ms if keygen_ms is None else keygen_ms,
            faults=list(faults),
        ).start()
        if isinstance(self.ports, DemoSlots):
            key = self.ports.plug(board.port, slot)
            if key is None:
                board.stop()
                log.info("demo: every slot is taken; board %s not plugged in", board.serial)
                return None
        else:
            self.ports.plug(board.port)
            key = board.port
        self.boards[key] = board
        log.info("demo: board %s plugged in on %s", board.serial, key)
        return key

    def unplug(self, port: str) -> None:
        board = self.boards.pop(port, None)
        self.ports.unplug(port)
        if board is not None:
            board.unplug()
            log.info("demo: board %s unplugged from %s", board.serial, port)

    def serial_on(self, port: str) -> str | None:
        board = self.boards.get(port)
        return board.serial if board else None

    def stop(self) -> None:
        for port in list(self.boards):
            self.ports.unplug(port)
            self.boards.pop(port).stop()


class DemoCloud:
    """The loopback DynamoDB-compatible server (a process of its own) and the allow-list table,
    started off the UI thread."""

    def __init__(self) -> None:
        self.server = None
        self.table = f"station-allowlist-demo-{secrets.token_hex(3)}"
        self.error: BaseException | None = None

    def start(self, station: Station) -> None:
        """Blocking (a worker thread): start the server, create the table, point the sync at it."""
        from station.allowlist_item import create_allowlist_table
        from station.sync.local_server import LocalDynamoProcess

        for name, value in (("AWS_ACCESS_KEY_ID", "demo"), ("AWS_SECRET_ACCESS_KEY", "demo")):
            os.environ.setdefault(name, value)  # the local server accepts any credentials
        server = LocalDynamoProcess()  # the cloud is elsewhere: its work does not stall the window
        url = server.start()
        self.server = server
        import boto3

        client = boto3.session.Session(region_name="us-east-1").client("dynamodb", endpoint_url=url)
        create_allowlist_table(client, self.table)
        client.close()
        station.config = replace(
            station.config, cloud=CloudConfig(table=self.table, region="us-east-1", endpoint_url=url)
        )
        log.info("demo: sync goes to %s table %s", url, self.table)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
