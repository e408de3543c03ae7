"""The runner's events, turned into Qt signals for the UI thread.

The station's :class:`~station.provisioning.events.EventBus` calls subscribers on the runner's
slot threads. The bridge only re-emits each event as a signal; the connections
are queued, so every slot of the UI runs on the UI thread, and the runner never
waits for a widget.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from station.provisioning.events import (
    AttemptFinished,
    AttemptStarted,
    DeviceOutsideSlots,
    EventBus,
    StepFinished,
)
from station.provisioning.runner import PortAppeared, PortDisappeared, RunnerStopped, SlotChanged


class EventBridge(QObject):
    slot_changed = Signal(object)  # station.provisioning.runner.Slot
    attempt_started = Signal(object)  # AttemptStarted
    attempt_finished = Signal(object)  # AttemptFinished
    step_finished = Signal(object)  # StepFinished
    port_appeared = Signal(str)
    port_disappeared = Signal(str)
    runner_stopped = Signal(int)
    device_outside_slots = Signal(object)  # DeviceOutsideSlots

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self._on_event)

    def connect_queued(self, signal_name: str, slot: Callable) -> None:
        """Connect with Qt.QueuedConnection: the slot always runs on the receiver's thread."""
        getattr(self, signal_name).connect(slot, Qt.ConnectionType.QueuedConnection)

    def _on_event(self, event: object) -> None:
        # Runs on a runner thread: emit and return at once.
        if isinstance(event, SlotChanged):
            self.slot_changed.emit(event.slot)
        elif isinstance(event, AttemptFinished):
            self.attempt_finished.emit(event)
        elif isinstance(event, AttemptStarted):
            self.attempt_started.emit(event)
        elif isinstance(event, StepFinished):
            self.step_finished.emit(event)
        elif isinstance(event, PortAppeared):
            self.port_appeared.emit(event.port)
        elif isinstance(event, PortDisappeared):
            self.port_disappeared.emit(event.port)
        elif isinstance(event, RunnerStopped):
            self.runner_stopped.emit(event.aborted)
        elif isinstance(event, DeviceOutsideSlots):
            self.device_outside_slots.emit(event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
