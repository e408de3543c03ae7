"""Fixtures for the records tests: a fresh database per test, a controllable clock, and a
helper that takes a board through a passing attempt."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from records import Records, StepTiming, Unit

START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """Starts at 2026-11-22T10:00:00.000Z and moves 1 ms forward on every reading, so every
    timestamp is distinct and predictable."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(milliseconds=1)):
        self.current = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now = self.current
            self.current += self.step
            return now


def fingerprint(text: str) -> str:
    """A well-formed SHA-256 hex fingerprint derived from ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


_CLAIM = fingerprint("claim")
_STEPS = (
    StepTiming(
        name="read_serial", started_at="2026-11-22T10:00:00.000Z", duration_ms=12.5, ok=True
    ),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "station.sqlite"


@pytest.fixture
def records(db_path: Path, clock: FakeClock) -> Iterator[Records]:
    with Records(db_path, now=clock) as opened:
        yield opened


@pytest.fixture
def batch(records: Records) -> str:
    records.open_batch("B1", "sensor-v2", 100, actor="alice")
    return "B1"


Provision = Callable[..., Unit]


@pytest.fixture
def provision(records: Records, batch: str) -> Provision:
    """``provision("SN1")`` starts an attempt in batch B1 and finishes it as a pass; the
    device key defaults to the fingerprint of ``"key of SN1"``."""

    def run(
        serial: str, *, key: str | None = None, batch_id: str = batch, operator: str = "alice"
    ) -> Unit:
        attempt_id = records.start_attempt(
            port="COM3", station_id="ST-01", operator=operator, driver="reference", batch=batch_id
        )
        records.set_attempt_serial(attempt_id, serial)
        return records.finish_attempt_pass(
            attempt_id,
            serial=serial,
            batch=batch_id,
            product="sensor-v2",
            device_key_sha256=key or fingerprint(f"key of {serial}"),
            claim_cert_sha256=_CLAIM,
            station_id="ST-01",
            operator=operator,
            steps=_STEPS,
        )

    return run
