"""Typed errors of the label room."""

from __future__ import annotations

from station.errors import StationError


class LabelError(StationError):
    """Base of every label or printer error: a station error like any other (code, hint),
    so the CLI, the app and ``explain()`` show it the same way."""

    code = "LABEL_ERROR"


class LabelTemplateError(LabelError):
    code = "LABEL_TEMPLATE_INVALID"
    hint = "Fix the label template named in the message (the sample station/labels/sample-label.ini explains every key) and start again."


class LabelCodeUnavailable(LabelError):
    code = "LABEL_CODE_UNAVAILABLE"
    hint = "Install zxing-cpp to preview DataMatrix codes; the printer still renders them itself."


class PrinterError(LabelError):
    """A label could not be handed to the printer; the label stays queued."""

    code = "PRINTER_ERROR"
    hint = "Check the label printer."


class PrinterOffline(PrinterError):
    code = "PRINTER_OFFLINE"
    hint = "Switch the label printer on and check its network or USB cable; queued labels print when it is back."


class PrinterPaperOut(PrinterError):
    code = "PRINTER_PAPER_OUT"
    hint = "Load labels (and ribbon), close the print head; queued labels print when it is ready."


class PrinterPaused(PrinterError):
    code = "PRINTER_PAUSED"
    hint = "Press the printer's PAUSE button to resume it; queued labels print when it is ready."


class PrinterTimeout(PrinterError):
    code = "PRINTER_TIMEOUT"
    hint = "The printer did not answer in time; check that it is not busy or in an error state."


class PrinterConfigError(PrinterError):
    code = "PRINTER_CONFIG"
    hint = "Fix printer = ... in labels.ini next to station.ini (tcp://HOST:9100, cups:QUEUE, windows:NAME, usb:/dev/usb/lp0)."


class LabelConfigError(LabelError):
    code = "LABEL_CONFIG_INVALID"
    hint = "Fix labels.ini next to station.ini (every key is explained in station/labels/settings.py) and start again."
