"""Run blocking work (database writes, PIN checks, the sync) off the UI thread.

``run_in_thread(fn, on_done, on_error)`` runs ``fn`` on a small thread pool and
calls ``on_done(result)`` or ``on_error(exc)`` back **on the UI thread**, through a
queued Qt signal. A callback whose ``owner`` widget was deleted meanwhile is
dropped instead of touching a dead object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gui-worker")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


class _Dispatcher(QObject):
    """Lives on the UI thread; anything emitted to it is called there."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._call, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _call(self, function: Callable[[], None]) -> None:
        function()


_dispatcher: _Dispatcher | None = None


def dispatcher() -> _Dispatcher:
    """The UI-thread dispatcher (created on first use, which must be on the UI thread)."""
    global _dispatcher
    if _dispatcher is None or not shiboken6.isValid(_dispatcher):
        app = QCoreApplication.instance()
        assert app is not None, "create the QApplication first"
        _dispatcher = _Dispatcher()
        _dispatcher.moveToThread(app.thread())
    return _dispatcher


def call_on_ui(function: Callable[[], None]) -> None:
    """Call ``function`` on the UI thread soon (safe from any thread)."""
    dispatcher().call.emit(function)


def run_in_thread(
    function: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    *,
    owner: QObject | None = None,
) -> Future:
    """Run ``function`` on a worker thread; its outcome goes to a callback on the UI thread."""
    relay = dispatcher()

    def alive() -> bool:
        return owner is None or shiboken6.isValid(owner)

    def work() -> Any:
        try:
            result = function()
        except Exception as exc:
            if on_error is None:
                log.exception("background task %r failed", function)
            else:
                log.info("background task failed: %s", exc)
                relay.call.emit(lambda error=exc: alive() and on_error(error))
            return None
        if on_done is not None:
            relay.call.emit(lambda: alive() and on_done(result))
        return result

    future = _POOL.submit(work)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)


def busy() -> int:
    """How many background tasks are queued or running (tests wait for 0)."""
    with _pending_lock:
        return len(_pending)
