"""Report exports from the QA tab, on a worker thread, saying where the file went.

Building a report of a big batch and rendering it (the PDF above all) takes seconds; on
the UI thread that would freeze every tile meanwhile. The file dialog runs on the UI
thread, the work (:func:`export_job`) on a worker, and the QA tab's report line then
says where the file was saved, in full, or what went wrong and what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from records import Records
from station.errors import explain
from station.reports.data import build_report
from station.reports.formats import EXTENSIONS, FORMATS, render, report_filename

from .worker import run_in_thread

log = logging.getLogger(__name__)


def export_job(records: Records, batch_id: str, fmt: str, path: Path, station_id: str | None) -> Path:
    """Build, render and save one report (blocking: a worker thread). Returns the absolute path."""
    report = build_report(records, batch_id, station_id=station_id)
    data = render(report, fmt)
    target = path.expanduser().resolve()
    target.write_bytes(data)
    return target


def ask_path(parent: Any, batch_id: str, fmt: str) -> Path | None:
    from PySide6.QtWidgets import QFileDialog

    chosen, _filter = QFileDialog.getSaveFileName(
        parent, f"Save the {fmt.upper()} report of batch {batch_id}", report_filename(batch_id, fmt),
        f"{fmt.upper()} (*.{EXTENSIONS[fmt]})",
    )
    return Path(chosen) if chosen else None


def export_in_background(
    qa_tab: Any,
    source: Records | Any,
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
    records = getattr(source, "records", source)
    station_id = getattr(getattr(source, "config", None), "station_id", None)
    qa_tab.show_report_status(f"Saving the {fmt.upper()} report of {batch_id}…")

    def saved(where: Path) -> None:
        log.info("report of %s saved to %s", batch_id, where)
        qa_tab.show_report_status(f"{fmt.upper()} report of {batch_id} saved to {where}", path=where)

    def failed(exc: BaseException) -> None:
        explained = explain(exc)
        qa_tab.show_report_status(
            f"{fmt.upper()} report NOT saved: {explained.message}. What to do: {explained.hint}", problem=True
        )

    return run_in_thread(lambda: export_job(records, batch_id, fmt, target, station_id), saved, failed, owner=qa_tab)


def install_export_buttons(qa_tab: Any, source: Records | Any | None = None) -> list[Any]:
    """"Export HTML/CSV/JSON/PDF…" buttons in the QA tab, each exporting in the background."""
    source = source if source is not None else qa_tab.records
    buttons = []
    for fmt in FORMATS:
        button = qa_tab.add_report_button(
            f"Export {fmt.upper()}…", lambda batch_id, fmt=fmt: export_in_background(qa_tab, source, batch_id, fmt)
        )
        button.setObjectName(f"reportExport_{fmt}")
        buttons.append(button)
    return buttons
