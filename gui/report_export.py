"""Report exports from the QA tab, in a child process, saying where the file went.

Building a report of a big batch and rendering it (the PDF above all) takes seconds; on
the UI thread that would freeze every tile meanwhile, and even on a worker thread its
Python would keep the tiles waiting for the interpreter lock. The file dialog runs on
the UI thread; the work (:func:`export_job`) is a report job of :mod:`station.jobs` in a
child Python, waited for on a worker thread; the QA tab's report line then says where
the file was saved, in full, or what went wrong and what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from station.context import Station
from station.errors import explain
from station.jobs import run_job
from station.reports.formats import EXTENSIONS, FORMATS, report_filename

from .worker import run_in_thread

log = logging.getLogger(__name__)


def export_job(station: Station, batch_id: str, fmt: str, path: Path) -> Path:
    """Build, render and save one report in a child process (blocking: a worker thread).
    Returns the absolute path; the file appears whole or not at all."""
    spec = {"job": "report", "config": str(station.config.path), "batch": batch_id, "format": fmt, "path": str(path)}
    return Path(run_job(spec))


def ask_path(parent: Any, batch_id: str, fmt: str) -> Path | None:
    from PySide6.QtWidgets import QFileDialog

    chosen, _filter = QFileDialog.getSaveFileName(
        parent, f"Save the {fmt.upper()} report of batch {batch_id}", report_filename(batch_id, fmt),
        f"{fmt.upper()} (*.{EXTENSIONS[fmt]})",
    )
    return Path(chosen) if chosen else None


def export_in_background(
    qa_tab: Any,
    station: Station,
    batch_id: str,
    fmt: str,
    path: str | Path | None = None,
    *,
    choose: Callable[[Any, str, str], Path | None] = ask_path,
) -> Future | None:
    """Export ``batch_id`` as ``fmt`` (asking where when no ``path``) on a worker thread;
    the QA tab shows "Saving…", then the file's full path or the error and what to do."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    target = Path(path) if path is not None else choose(qa_tab, batch_id, fmt)
    if target is None:
        return None
    qa_tab.show_report_status(f"Saving the {fmt.upper()} report of {batch_id}…")

    def saved(where: Path) -> None:
        log.info("report of %s saved to %s", batch_id, where)
        qa_tab.show_report_status(f"{fmt.upper()} report of {batch_id} saved to {where}", path=where)

    def failed(exc: BaseException) -> None:
        explained = explain(exc)
        qa_tab.show_report_status(
            f"{fmt.upper()} report NOT saved: {explained.message}. What to do: {explained.hint}", problem=True
        )

    return run_in_thread(lambda: export_job(station, batch_id, fmt, target), saved, failed, owner=qa_tab)


def install_export_buttons(qa_tab: Any, station: Station) -> list[Any]:
    """"Export HTML/CSV/JSON/PDF…" buttons in the QA tab, each exporting in the background."""
    buttons = []
    for fmt in FORMATS:
        button = qa_tab.add_report_button(
            f"Export {fmt.upper()}…", lambda batch_id, fmt=fmt: export_in_background(qa_tab, station, batch_id, fmt)
        )
        button.setObjectName(f"reportExport_{fmt}")
        buttons.append(button)
    return buttons
