"""The line as the app drives it: a LineRunner, who is signed in, which batch is in work.

No Qt here. Boards start by themselves only while someone is signed in and a
batch is open ("armed"); a board plugged in meanwhile waits on its tile and
starts as soon as the line is armed.
"""

from __future__ import annotations

import logging

from station.context import Station
from station.labels import LabelService
from station.provisioning.claim import ClaimCredentials
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner, ReprovisionOverride
from station.provisioning.ports import PortSource
from station.provisioning.runner import LineRunner, Slot, SlotState

log = logging.getLogger(__name__)


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
        self.bus = EventBus()
        self.provisioner = Provisioner(station.config, station.records, claim, bus=self.bus)
        config = station.config
        labels = LabelService.for_station(config.folder, config.station_id, station.records)
        self.runner = LineRunner(
            self.provisioner, ports, batch="", operator="", poll_interval=poll_interval, auto_start=False,
            labels=labels,
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
        return self.runner.retry(port, override=override)

    def queue_label(self, label: str) -> None:
        self.runner.queue_label(label)

    def queued_labels(self) -> int:
        return self.runner.queued_labels()

    def running(self) -> int:
        return self.runner.running()
