"""The line runner: one slot per port, every board provisioned in parallel, hot-plug.

A slot is keyed by what the port source's ``scan`` answers: a device path, or with
``[slots]`` (:class:`~station.provisioning.ports.NamedSlots`) the slot's name, and then
the device to open is asked from the source at each start. A board pulled in the middle
of its run leaves a FAIL on its slot ("unplugged at step N") until the next board is
plugged into that slot.

Each slot runs its board on a thread of its own, so a board that hangs or
fails never stalls another slot. The runner publishes what happens on the
station's :class:`~station.provisioning.events.EventBus` (no Qt here): the CLI's live view
and the GUI's bridge subscribe the same way.

With a :class:`~station.labels.LabelService` the runner queues each PASS's label once the
unit is recorded (and a reject tag on FAIL when configured); the printer never holds up a
slot. The slot's ``label`` says what became of it: ``sending``, ``printed``, or
``queued`` (not printed yet; the app shows the PASS amber).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from records import RecordsError
from station.errors import StationError
from station.labels.errors import LabelError
from station.provisioning.events import (
    AttemptFinished,
    AttemptStarted,
    DeviceOutsideSlots,
    SerialRead,
    StepStarted,
)
from station.provisioning.pipeline import (
    STEPS,
    Provisioner,
    ProvisionRequest,
    ProvisionResult,
    ReprovisionOverride,
)
from station.provisioning.ports import PortSource

if TYPE_CHECKING:
    from station.labels import JobOutcome, LabelService

log = logging.getLogger(__name__)


class SlotState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class Slot:
    """What one slot shows now. Immutable: every change is a new value in a SlotChanged event."""

    port: str
    state: SlotState = SlotState.WAITING
    present: bool = False
    serial: str | None = None
    step: str | None = None
    step_index: int = 0
    total_steps: int = len(STEPS)
    attempt_id: int | None = None
    started_at: float | None = None
    """time.monotonic() when the run started."""
    finished_at: float | None = None
    code: str | None = None
    hint: str | None = None
    detail: str | None = None
    device: str | None = None
    """The device the current or last run opened (the slot's name is ``port``)."""
    unplugged_at: int | None = None
    """The step (1-based) at which the board was pulled in the middle of its run."""
    label: str | None = None
    """The PASS's label: None (no label printer), ``sending``, ``printed`` or ``queued``."""
    label_code: str | None = None
    label_hint: str | None = None

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def progress(self) -> float:
        if self.state == SlotState.PASS:
            return 1.0
        return self.step_index / self.total_steps if self.total_steps else 0.0

    @property
    def step_number(self) -> int:
        """The step in work, 1-based ("Step 6 of 9"), the one a FAIL stopped at."""
        return min(self.step_index + 1, self.total_steps) if self.total_steps else 0


@dataclass(frozen=True)
class SlotChanged:
    slot: Slot


@dataclass(frozen=True)
class PortAppeared:
    port: str


@dataclass(frozen=True)
class PortDisappeared:
    port: str


@dataclass(frozen=True)
class RunnerStopped:
    aborted: int


DISCONNECT_CODES = frozenset({"BOARD_DISCONNECTED"})
"""A FAIL with one of these codes ended because the board went away."""


class LineRunner:
    def __init__(
        self,
        provisioner: Provisioner,
        ports: PortSource,
        *,
        batch: str,
        operator: str,
        poll_interval: float = 0.25,
        auto_start: bool = True,
        labels: LabelService | None = None,
    ) -> None:
        self.provisioner = provisioner
        self.bus = provisioner.bus
        self.ports = ports
        self.batch = batch
        self.operator = operator
        self.poll_interval = poll_interval
        self.auto_start = auto_start
        self.results: list[ProvisionResult] = []
        self._slots: dict[str, Slot] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._labels: deque[str] = deque()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._by_attempt: dict[int, str] = {}
        self._by_device: dict[str, str] = {}
        self._strays: dict[str, str] = {}
        self._unsubscribe = self.bus.subscribe(self._on_event)
        self.labels = labels
        if labels is not None:
            labels.add_listener(self._on_label)
            labels.start()

    # -- control -------------------------------------------------------------

    def start(self) -> LineRunner:
        """Watch the ports and provision every board that appears."""
        self._watcher = threading.Thread(target=self._watch, name="port-watcher", daemon=True)
        self._watcher.start()
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """Stop watching, let running boards finish for up to ``timeout`` s, abort the rest.

        Returns how many attempts had to be marked aborted.
        """
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        aborted = 0
        if any(t.is_alive() for t in self._threads.values()):
            aborted = self.provisioner.records.abort_open_attempts("station stopped while this attempt was running")
            log.warning("runner stopped with %d board(s) still running: attempts marked aborted", aborted)
        self._unsubscribe()
        if self.labels is not None:
            self.labels.remove_listener(self._on_label)
            self.labels.stop()
        self.bus.publish(RunnerStopped(aborted))
        return aborted

    def run_once(self, ports: list[str]) -> list[ProvisionResult]:
        """Provision the boards on ``ports`` once, all in parallel; results in the order of ``ports``.

        Only results of this call count: a port whose run ended without a result (the batch
        was closed, ...) is left out, never answered with an earlier call's result.
        """
        threads = []
        with self._lock:
            first = len(self.results)
        for port in ports:
            with self._lock:
                self._set(port, present=True)
                threads.append(self._start_run(port))
        for thread in threads:
            thread.join()
        with self._lock:
            by_port = {self._by_device.get(r.port, r.port): r for r in self.results[first:]}
        return [by_port[p] for p in ports if p in by_port]

    def retry(self, port: str, *, override: ReprovisionOverride | None = None) -> bool:
        """Run the board on ``port`` again (the Retry button), with a supervisor's
        ``override`` for that one run if given. False if it is not there or already running."""
        with self._lock:
            slot = self._slots.get(port)
            if slot is None or not slot.present or slot.state == SlotState.RUNNING:
                return False
            self._start_run(port, override)
            return True

    def queued_labels(self) -> int:
        """Scanned labels waiting for their board."""
        with self._lock:
            return len(self._labels)

    def queue_label(self, label: str) -> None:
        """A scanned label, matched to the next board that starts."""
        with self._lock:
            self._labels.append(label.strip())

    def slots(self) -> list[Slot]:
        with self._lock:
            return sorted(self._slots.values(), key=lambda s: s.port)

    def running(self) -> int:
        with self._lock:
            return sum(1 for s in self._slots.values() if s.state == SlotState.RUNNING)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no slot is running; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                return True
            time.sleep(0.02)
        return not self.running()

    # -- watching ports --------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_ports()
            except Exception:
                log.exception("port watcher failed; going on")
            self._stop.wait(self.poll_interval)

    def poll_ports(self) -> None:
        present = self.ports.scan()
        with self._lock:
            known = {port for port, slot in self._slots.items() if slot.present}
            for port in sorted(present - known):
                self._appeared(port)
            for port in sorted(known - present):
                self._disappeared(port)
        self._report_strays()

    def _report_strays(self) -> None:
        """Devices outside every named slot: reported once when they appear and when they go."""
        strays_of = getattr(self.ports, "strays", None)
        if strays_of is None:
            return
        strays = strays_of()
        for device in sorted(set(strays) - set(self._strays)):
            log.warning("a board on %s (USB location %s) is in no named slot: not provisioned", device, strays[device])
            self.bus.publish(DeviceOutsideSlots(device, strays[device], present=True))
        for device in sorted(set(self._strays) - set(strays)):
            self.bus.publish(DeviceOutsideSlots(device, self._strays[device], present=False))
        self._strays = strays

    def strays(self) -> dict[str, str]:
        """Devices (device → USB location) seen outside every named slot at the last poll."""
        return dict(self._strays)

    def _appeared(self, port: str) -> None:
        log.info("board appeared on %s", port)
        self.bus.publish(PortAppeared(port))
        old = self._slots.get(port)
        if old is not None and old.state != SlotState.RUNNING:
            self._slots[port] = Slot(port)  # a new board: the last board's result goes
        self._set(port, present=True, device=self._device(port))
        if self.auto_start and not self._stop.is_set():
            self._start_run(port)

    def _disappeared(self, port: str) -> None:
        log.info("board gone from %s", port)
        self.bus.publish(PortDisappeared(port))
        slot = self._slots[port]
        if slot.state == SlotState.RUNNING:
            self._set(port, present=False, unplugged_at=slot.step_number)
        elif slot.state == SlotState.FAIL and (slot.unplugged_at or slot.code in DISCONNECT_CODES):
            self._set(port, present=False, unplugged_at=slot.unplugged_at or slot.step_number)
        else:
            self._slots[port] = Slot(port)
            self.bus.publish(SlotChanged(self._slots[port]))

    def _device(self, port: str) -> str:
        device_of = getattr(self.ports, "device", None)
        return device_of(port) if device_of is not None else port

    # -- runs ---------------------------------------------------------------------

    def _start_run(self, port: str, override: ReprovisionOverride | None = None) -> threading.Thread:
        label = self._labels.popleft() if self._labels else None
        device = self._device(port)
        self._by_device[device] = port
        self._set(
            port, state=SlotState.RUNNING, serial=None, step=None, step_index=0, attempt_id=None,
            started_at=time.monotonic(), finished_at=None, code=None, hint=None, detail=None,
            device=device, unplugged_at=None,
        )
        thread = threading.Thread(target=self._run, args=(port, device, label, override), name=f"slot-{port}", daemon=True)
        self._threads[port] = thread
        thread.start()
        return thread

    def _run(self, port: str, device: str, label: str | None, override: ReprovisionOverride | None) -> None:
        request = ProvisionRequest(port=device, operator=self.operator, batch=self.batch, label=label, override=override)
        try:
            result = self.provisioner.provision(request)
        except StationError as exc:
            self._end(port, False, exc.code, exc.hint, exc.message)
            return
        except Exception as exc:
            log.exception("slot %s crashed", port)
            self._end(port, False, "INTERNAL_ERROR", "Retry; if it repeats, call engineering.", type(exc).__name__)
            return
        with self._lock:
            self.results.append(result)
        self._end(port, result.passed, result.code, result.hint, result.detail)
        if self.labels is not None and result.serial:
            self._print_label(port, result)

    def _print_label(self, port: str, result: ProvisionResult) -> None:
        """Queue the label of a recorded PASS (or a reject tag); returns at once."""
        assert self.labels is not None
        try:
            if result.passed and result.unit is not None:
                unit = result.unit
                with self._lock:
                    self._set(port, label="sending", label_code=None, label_hint=None)
                self.labels.print_pass(serial=unit.serial, product=unit.product, batch=unit.batch,
                                       device_key_sha256=unit.device_key_sha256, operator=self.operator)
            elif not result.passed and self.labels.settings.reject_tag:
                batch = self.provisioner.records.get_batch(self.batch)
                self.labels.print_reject(serial=result.serial or "", product=batch.product if batch else "",
                                         reason=result.code or "FAIL", operator=self.operator)
        except RecordsError as exc:  # the station is closing (Ctrl-C): nothing to print for
            log.warning("slot %s: no label for %s: %s", port, result.serial, exc)
        except LabelError as exc:  # e.g. no template for this product: the PASS stands
            log.error("slot %s: label for %s not queued: %s", port, result.serial, exc)
            if result.passed:
                with self._lock:
                    self._set(port, label="queued", label_code=exc.code, label_hint=exc.hint)

    def _on_label(self, outcome: JobOutcome) -> None:
        if outcome.kind != "label":
            return
        with self._lock:
            for port, slot in list(self._slots.items()):
                if slot.serial == outcome.serial and slot.state == SlotState.PASS and slot.label is not None:
                    self._set(port, label=outcome.state, label_code=outcome.code, label_hint=outcome.hint)

    def _end(self, port: str, passed: bool, code: str | None, hint: str | None, detail: str | None) -> None:
        with self._lock:
            slot = self._slots[port]
            changes: dict[str, object] = {}
            if not passed and not slot.present:
                changes["unplugged_at"] = slot.unplugged_at or slot.step_number
            self._set(
                port, state=SlotState.PASS if passed else SlotState.FAIL, finished_at=time.monotonic(),
                code=code, hint=hint, detail=detail,
                step_index=len(STEPS) if passed else slot.step_index, **changes,
            )

    def _on_event(self, event: object) -> None:
        if isinstance(event, AttemptStarted):
            with self._lock:
                port = self._by_device.get(event.port, event.port)
                self._by_attempt[event.attempt_id] = port
                if port in self._slots:
                    self._set(port, attempt_id=event.attempt_id)
        elif isinstance(event, StepStarted):
            with self._lock:
                port = self._by_device.get(event.port, event.port)
                if port in self._slots:
                    self._set(port, step=event.step, step_index=event.index)
        elif isinstance(event, SerialRead):
            with self._lock:
                port = self._by_device.get(event.port, event.port)
                if port in self._slots:
                    self._set(port, serial=event.serial)
        elif isinstance(event, AttemptFinished):
            with self._lock:
                self._by_attempt.pop(event.attempt_id, None)

    def _set(self, port: str, **changes: object) -> None:
        slot = self._slots.get(port) or Slot(port)
        slot = replace(slot, **changes)  # type: ignore[arg-type]
        self._slots[port] = slot
        self.bus.publish(SlotChanged(slot))
