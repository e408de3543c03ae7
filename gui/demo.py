"""``station-gui --demo``: the whole app on simulated boards, with no setup.

A demo station folder (``station.demo.line.prepare_folder``: demo claim material, a
demo ``station.ini``), simulated boards on pseudo-terminals plugged into a
:class:`~station.provisioning.ports.ManualPorts` with a short stagger, and a loopback
DynamoDB-compatible server for the sync. Demo users: a supervisor and a QA user
(see :data:`DEMO_USERS`); anyone else signs in as operator with any ID.
"""

from __future__ import annotations

import logging
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


class DemoLine:
    """Simulated boards that a trainee plugs in and pulls out (no Qt here)."""

    def __init__(
        self,
        ports: ManualPorts,
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

    def plug_new(self, faults: Iterable[str] = (), *, serial: str | None = None, keygen_ms: float | None = None) -> str:
        """Start a simulated board and plug it in; returns its port."""
        board = SimulatedBoard(
            serial or self.new_serial(),
            baud=self.baud,
            keygen_ms=self.keygen_ms if keygen_ms is None else keygen_ms,
            faults=list(faults),
        ).start()
        self.boards[board.port] = board
        self.ports.plug(board.port)
        log.info("demo: board %s plugged in on %s", board.serial, board.port)
        return board.port

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
    """The loopback DynamoDB-compatible server and the allow-list table, started off the UI thread."""

    def __init__(self) -> None:
        self.server = None
        self.table = f"station-allowlist-demo-{secrets.token_hex(3)}"
        self.error: BaseException | None = None

    def start(self, station: Station) -> None:
        """Blocking (a worker thread): start the server, create the table, point the sync at it."""
        from station.allowlist_item import create_allowlist_table
        from station.sync.local_server import LocalDynamo

        for name, value in (("AWS_ACCESS_KEY_ID", "demo"), ("AWS_SECRET_ACCESS_KEY", "demo")):
            os.environ.setdefault(name, value)  # the local server accepts any credentials
        server = LocalDynamo()
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
