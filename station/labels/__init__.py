"""Labels: a printed label with the serial and a 2D code for every PASSed board.

- :mod:`~station.labels.template`: label templates (INI next to station.ini) and the layout;
- :mod:`~station.labels.zpl`: ZPL for Zebra-compatible printers, and a parser for it;
- :mod:`~station.labels.codes`: the QR / DataMatrix module matrix for the on-screen preview;
- :mod:`~station.labels.printers`: transports (raw TCP 9100, CUPS, Windows spooler, USB);
- :mod:`~station.labels.queue`: the non-blocking, durable print queue;
- :mod:`~station.labels.settings`: the ``[labels]`` section of station.ini;
- :mod:`~station.labels.service`: :class:`LabelService`, what the station calls (PASS, reject, reprint);
- :mod:`~station.labels.emulator`: a loopback printer for tests and the demo.

This package imports nothing else of ``station``.
"""

from station.labels.errors import (
    LabelCodeUnavailable,
    LabelConfigError,
    LabelError,
    LabelTemplateError,
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterPaperOut,
    PrinterPaused,
    PrinterTimeout,
)
from station.labels.printers import PrinterStatus, PrinterTransport, printer_from_uri
from station.labels.queue import (
    JobOutcome,
    JsonFileStore,
    LabelJob,
    PrintQueue,
    label_job,
    reject_job,
)
from station.labels.service import LabelHistory, LabelService, RecordsHistory, short_fingerprint
from station.labels.settings import LabelSettings, load_label_settings
from station.labels.template import (
    LabelData,
    LabelLayout,
    LabelTemplate,
    layout_label,
    load_template,
)

__all__ = [
    "JobOutcome", "JsonFileStore", "LabelCodeUnavailable", "LabelConfigError", "LabelData", "LabelError",
    "LabelJob", "LabelLayout", "LabelSettings", "LabelTemplate", "LabelTemplateError", "PrintQueue",
    "PrinterConfigError", "PrinterError", "PrinterOffline", "PrinterPaperOut", "PrinterPaused",
    "PrinterStatus", "PrinterTimeout", "PrinterTransport", "LabelHistory", "LabelService", "RecordsHistory", "label_job",
    "layout_label", "load_label_settings", "load_template", "printer_from_uri", "reject_job",
    "short_fingerprint",
]

