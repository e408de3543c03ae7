"""The line as the app drives it: a LineRunner, who is signed in, which batch is in work.

No Qt here. Boards start by themselves only while someone is signed in and a
batch is open ("armed"); a board plugged in meanwhile waits on its tile and
starts as soon as the line is armed.

The re-provision override: ``LineRunner.retry(port)`` takes no override, so the
provisioner used here takes a one-shot override per port from an
:class:`OverrideDesk` (see the report: ``LineRunner.retry(port, override=...)``
would make this unnecessary).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from station.claim import ClaimCredentials
from station.context import Station
from station.events import EventBus
from station.pipeline import Provisioner, ProvisionRequest, ProvisionResult, ReprovisionOverride
from station.ports import PortSource
from station.runner import LineRunner, Slot, SlotState

log = logging.getLogger(__name__)


class OverrideDesk:
    """Supervisor overrides waiting for the next run on their port (one run each)."""

    def __init__(self) -> None:
        self._by_port: dict[str, ReprovisionOverride] = {}
        self._lock = threading.Lock()

    def put(self, port: str, override: ReprovisionOverride) -> None:
        with self._lock:
            self._by_port[port] = override

    def take(self, port: str) -> ReprovisionOverride | None:
        with self._lock:
            return self._by_port.pop(port, None)


class GuiProvisioner(Provisioner):
    """A Provisioner that applies a supervisor's override handed in for a port."""

    def __init__(self, *args: object, desk: OverrideDesk, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.desk = desk

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        override = self.desk.take(request.port)
        if override is not None and request.override is None:
            request = replace(request, override=override)
        return super().provision(request)


class LineSession:
    """Owns the runner of this window; every method is cheap and safe on the UI thread."""

    def __init__(
        self,
        station: Station,
        claim: ClaimCredentials,
        ports: PortSource,
        *,
        poll_interval: float = 0.25,
    ) -> None:
        self.station = station
        self.ports = ports
        self.desk = OverrideDesk()
        self.bus = EventBus()
        self.provisioner = GuiProvisioner(station.config, station.records, claim, bus=self.bus, desk=self.desk)
        self.runner = LineRunner(
            self.provisioner, ports, batch="", operator="", poll_interval=poll_interval, auto_start=False
        )
        self._started = False

    @property
    def config(self):
        return self.station.config

    @property
    def operator(self) -> str:
        return self.runner.operator

    @property
    def batch(self) -> str:
        return self.runner.batch

    @property
    def armed(self) -> bool:
        return bool(self.runner.operator and self.runner.batch)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.runner.start()

    def stop(self, timeout: float = 10.0) -> int:
        if not self._started:
            return 0
        self._started = False
        return self.runner.stop(timeout=timeout)

    def set_operator(self, name: str | None) -> None:
        self.runner.operator = name or ""
        self._arm()

    def set_batch(self, batch_id: str | None) -> None:
        self.runner.batch = batch_id or ""
        self._arm()

    def _arm(self) -> None:
        armed = self.armed
        self.runner.auto_start = armed
        if armed:
            # Boards plugged in while nobody was signed in (or no batch was open) start now.
            for slot in self.runner.slots():
                if slot.present and slot.state == SlotState.WAITING:
                    self.runner.retry(slot.port)

    def slots(self) -> list[Slot]:
        return self.runner.slots()

    def retry(self, port: str) -> bool:
        if not self.armed:
            return False
        return self.runner.retry(port)

    def reprovision(self, port: str, override: ReprovisionOverride) -> bool:
        """Run the board on ``port`` again with a supervisor's override (one run)."""
        if not self.armed:
            return False
        self.desk.put(port, override)
        if self.runner.retry(port):
            return True
        self.desk.take(port)
        return False

    def queue_label(self, label: str) -> None:
        self.runner.queue_label(label)

    def queued_labels(self) -> int:
        return len(self.runner._labels)  # read-only peek for the display; see the report

    def running(self) -> int:
        return self.runner.running()
