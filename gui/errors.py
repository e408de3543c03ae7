"""Clear error dialogs instead of tracebacks.

:func:`describe` turns an exception into a title, what happened and what to do.
:func:`install_excepthook` makes an unexpected error (on the UI thread or any
other) log its traceback to the station log and show a dialog, instead of
dumping a traceback on a console nobody reads.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from station.errors import explain

from .worker import call_on_ui

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    title: str
    text: str
    hint: str
    code: str

    def as_text(self) -> str:
        return f"{self.text}\n\nWhat to do: {self.hint}"


def describe(exc: BaseException) -> Problem:
    """Title, message and what-to-do for an error (never a traceback): the station's one
    vocabulary (:func:`station.errors.explain`), so the app says what the CLI says."""
    explained = explain(exc)
    if explained.code == "INTERNAL_ERROR":
        return Problem(explained.title, f"{type(exc).__name__}: {exc}", explained.hint, explained.code)
    return Problem(explained.title, explained.message, explained.hint, explained.code)


def show_error(parent: QWidget | None, exc: BaseException) -> QMessageBox:
    """A modal dialog for ``exc``; returns it after it was closed."""
    problem = describe(exc)
    box = message_box(parent, problem)
    box.exec()
    return box


def message_box(parent: QWidget | None, problem: Problem) -> QMessageBox:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(problem.title)
    box.setText(f"<b>{problem.title}</b>")
    box.setInformativeText(problem.as_text())
    box.setDetailedText(f"error code: {problem.code}")
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


_showing = threading.Lock()


def _show_unexpected(exc: BaseException) -> None:
    if QApplication.instance() is None or not _showing.acquire(blocking=False):
        return  # no GUI, or a dialog is already up: the log has it
    try:
        box = message_box(QApplication.activeWindow(), describe(exc))
        box.exec()
    finally:
        _showing.release()


def handle_exception(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.error("unexpected error", exc_info=(exc_type, exc, tb))
    app = QApplication.instance()
    if app is not None and QThread.currentThread() is app.thread():
        _show_unexpected(exc)
    elif app is not None:
        call_on_ui(lambda: _show_unexpected(exc))


def install_excepthook() -> None:
    """Route uncaught exceptions (UI thread and other threads) to the log and a dialog."""
    sys.excepthook = handle_exception

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            handle_exception(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
