"""Plain helpers for the sync tests (fixtures are in conftest.py)."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
from pathlib import Path
from typing import Any

from records import Records, StepTiming, Unit
from station.config import CloudConfig
from station.sync.dynamo import ClientSettings, make_client

_STEPS = (StepTiming(name="read_serial", started_at="2026-11-22T10:00:00.000Z",
                     duration_ms=1.0, ok=True),)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


CLAIM = fingerprint("claim certificate")


class StationDB:
    """A station database (Records) whose units are provisioned by ``station_id``."""

    def __init__(self, path: Path, station_id: str) -> None:
        self.path = path
        self.station_id = station_id
        self.records = Records(path)
        self._batches: set[str] = set()

    def provision(self, serial: str, *, batch: str = "B1", key: str | None = None,
                  product: str = "sensor-v2") -> Unit:
        if batch not in self._batches:
            if self.records.get_batch(batch) is None:
                self.records.open_batch(batch, product, 1000, "tester")
            self._batches.add(batch)
        attempt = self.records.start_attempt(
            port="COM1", station_id=self.station_id, operator="alice", driver="agent", batch=batch
        )
        self.records.set_attempt_serial(attempt, serial)
        return self.records.finish_attempt_pass(
            attempt, serial=serial, batch=batch, product=product,
            device_key_sha256=key or fingerprint(f"{self.station_id} key of {serial}"),
            claim_cert_sha256=CLAIM, station_id=self.station_id, operator="alice", steps=_STEPS,
        )

    def provision_many(self, count: int, prefix: str = "SN") -> list[Unit]:
        return [self.provision(f"{prefix}{i:05d}") for i in range(count)]

    def unit(self, serial: str) -> Unit:
        unit = self.records.get_unit(serial)
        assert unit is not None
        return unit

    def copy_to(self, path: Path, station_id: str | None = None) -> StationDB:
        """A consistent copy of the database file as it is now (an "older copy" later)."""
        source = sqlite3.connect(self.path)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return StationDB(path, station_id or self.station_id)

    def close(self) -> None:
        self.records.close()


def provision_into(path: Path, station_id: str, *serials: str) -> None:
    """Provision ``serials`` into the database at ``path`` (opened and closed here)."""
    db = StationDB(path, station_id)
    try:
        for serial in serials:
            db.provision(serial)
    finally:
        db.close()


class FakeTime:
    """A monotonic clock that only moves when the sync sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(table: Any, endpoint_url: str | None = None, *, max_attempts: int = 1,
               pool: int = 16) -> Any:
    """A DynamoDB client made by station.sync.dynamo, as the station makes it (no botocore
    retries by default, so the sync's own retry loop is what the tests see)."""
    cloud = CloudConfig(table=table.name, region=table.region,
                        endpoint_url=endpoint_url or table.endpoint_url)
    settings = ClientSettings(max_pool_connections=pool, connect_timeout=2, read_timeout=10,
                              max_attempts=max_attempts, retry_mode="standard")
    return make_client(cloud, settings=settings)


def plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A DynamoDB item as plain values (numbers as int)."""
    if item is None:
        return None
    out: dict[str, Any] = {}
    for name, value in item.items():
        (kind, raw), = value.items()
        out[name] = int(raw) if kind == "N" else raw
    return out


def count_requests(client: Any) -> list[str]:
    """Every HTTP request the client sends from now on, by operation name (a botocore event
    hook: it only observes)."""
    sent: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, bytes):
            target = target.decode()
        sent.append(target.rpartition(".")[2])

    client.meta.events.register("before-send.dynamodb", before_send)
    return sent


def free_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
