"""The runner's events, turned into Qt signals for the UI thread.

The station's :class:`~station.provisioning.events.EventBus` calls subscribers on the runner's
slot threads. The bridge hands the window what it shows and returns at once, so the runner
never waits for a widget; the connections are queued, so every slot of the UI runs on the
UI thread.

Slot states are coalesced: a runner thread only stores the newest state of its port, and
the window is told once that states are waiting (:meth:`EventBridge.take_slots`). Sixteen
boards make a few thousand state changes a minute; each signal crossing threads holds the
interpreter lock while Qt queues it, and the window draws the newest state anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from station.provisioning.events import AttemptFinished, DeviceOutsideSlots, EventBus
from station.provisioning.runner import Slot, SlotChanged


class EventBridge(QObject):
    slots_changed = Signal()  # newer slot states wait in take_slots()
    attempt_finished = Signal(object)  # AttemptFinished
    device_outside_slots = Signal(object)  # DeviceOutsideSlots

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: dict[str, Slot] = {}
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self._on_event)

    def connect_queued(self, signal_name: str, slot: Callable) -> None:
        """Connect with Qt.QueuedConnection: the slot always runs on the receiver's thread."""
        getattr(self, signal_name).connect(slot, Qt.ConnectionType.QueuedConnection)

    def take_slots(self) -> list[Slot]:
        """The newest state of every port that changed since the last call (UI thread)."""
        with self._lock:
            slots, self._latest = list(self._latest.values()), {}
        return slots

    def _on_event(self, event: object) -> None:
        # Runs on a runner thread: store or emit, and return at once.
        if isinstance(event, SlotChanged):
            with self._lock:
                announce = not self._latest
                self._latest[event.slot.port] = event.slot
            if announce:
                self.slots_changed.emit()
        elif isinstance(event, AttemptFinished):
            self.attempt_finished.emit(event)
        elif isinstance(event, DeviceOutsideSlots):
            self.device_outside_slots.emit(event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
