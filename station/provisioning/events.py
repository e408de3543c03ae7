"""What the station tells its watchers (the CLI view, the GUI bridge, logs).

Plain dataclasses and a tiny publisher: no Qt here, so the CLI and the GUI
subscribe the same way. Subscribers are called on the thread that publishes and
must return quickly; a subscriber that raises is logged and never disturbs the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptStarted:
    port: str
    attempt_id: int
    total_steps: int


@dataclass(frozen=True)
class StepStarted:
    port: str
    attempt_id: int
    step: str
    index: int
    total_steps: int


@dataclass(frozen=True)
class StepFinished:
    port: str
    attempt_id: int
    step: str
    index: int
    total_steps: int
    ok: bool
    duration_ms: float


@dataclass(frozen=True)
class SerialRead:
    port: str
    attempt_id: int
    serial: str


@dataclass(frozen=True)
class AttemptFinished:
    port: str
    attempt_id: int
    serial: str | None
    passed: bool
    code: str | None
    hint: str | None
    detail: str | None
    duration_ms: float


@dataclass(frozen=True)
class DeviceOutsideSlots:
    """A USB serial device in no ``[slots]`` place: never provisioned (``present`` False: it went)."""

    device: str
    location: str
    present: bool = True


Event = AttemptStarted | StepStarted | StepFinished | SerialRead | AttemptFinished | DeviceOutsideSlots
Subscriber = Callable[[object], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: object) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", subscriber, event)
