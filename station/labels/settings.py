"""``[labels]``: which printer, which template for which product.

The section lives in ``labels.ini`` next to station.ini (:func:`load_labels_file`; no
file, no labels), beside the templates it names, so station.ini needs no change to add a
printer. :func:`load_label_settings` takes the section from wherever it is kept and
validates it at start: every template is loaded and the printer address parsed, so a
mistake stops the station before the first board, not at the first PASS. Example::

    [labels]
    ; tcp://HOST[:9100], cups:QUEUE, windows:PRINTER NAME, usb:/dev/usb/lp0, or none
    printer = tcp://192.168.10.40:9100
    ; the template for every product without its own, and one per product
    template = labels/label.ini
    template.ACME-GW-2 = labels/acme-gw-2.ini
    ; print a reject tag for a FAILed board
    reject_tag = no
    ; ask the printer for ~HS host status around each job (paper out, paused)
    host_status = yes
    connect_seconds = 2
    io_seconds = 5
    ; labels not printed yet survive a restart here
    queue_file = label-queue.json
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from station.labels.errors import LabelConfigError
from station.labels.printers import PrinterTransport, printer_from_uri
from station.labels.queue import JsonFileStore, Listener, PrintQueue
from station.labels.template import TemplateSet, load_templates

_BOOLEANS = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}
_KEYS = {"printer", "template", "reject_tag", "host_status", "connect_seconds", "io_seconds", "queue_file"}


@dataclass(frozen=True)
class LabelSettings:
    printer: str
    templates: TemplateSet
    reject_tag: bool = False
    host_status: bool = True
    connect_seconds: float = 2.0
    io_seconds: float = 5.0
    queue_file: Path = Path("label-queue.json")

    def make_printer(self) -> PrinterTransport:
        return printer_from_uri(self.printer, connect_seconds=self.connect_seconds,
                                io_seconds=self.io_seconds, host_status=self.host_status)

    def make_queue(self, listener: Listener | None = None) -> PrintQueue:
        """A queue on the configured printer, durable in ``queue_file``; call ``start()`` on it."""
        return PrintQueue(self.make_printer(), store=JsonFileStore(self.queue_file), listener=listener)


def load_label_settings(section: Mapping[str, str] | None, base_dir: Path,
                        source: str = "station.ini") -> LabelSettings | None:
    """The validated ``[labels]`` section, or None when there is none or ``printer = none``."""
    if section is None:
        return None
    values = {key.strip().lower(): str(value).strip() for key, value in section.items()}

    def fail(key: str, problem: str, todo: str) -> LabelConfigError:
        return LabelConfigError(f"{source} [labels] {key}: {problem}", hint=todo)

    for key in values:
        if key not in _KEYS and not key.startswith("template."):
            raise fail(key, "is not a known key", "Remove it; known keys: " + ", ".join(sorted(_KEYS)) + ", template.PRODUCT.")
    printer = values.get("printer", "")
    if not printer:
        raise fail("printer", "is missing", "Write printer = tcp://HOST:9100 (or none to print no labels).")
    if printer.lower() == "none":
        return None

    def boolean(key: str, default: bool) -> bool:
        raw = values.get(key, "").lower()
        if not raw:
            return default
        if raw not in _BOOLEANS:
            raise fail(key, f"must be yes or no, got {raw!r}", f"Write {key} = yes or {key} = no.")
        return _BOOLEANS[raw]

    def seconds(key: str, default: float) -> float:
        raw = values.get(key, "")
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.1 <= value <= 120:
            raise fail(key, f"must be a number of seconds between 0.1 and 120, got {raw!r}", f"Write {key} = {default:g}.")
        return value

    def path(raw: str) -> Path:
        candidate = Path(raw).expanduser()
        return candidate if candidate.is_absolute() else base_dir / candidate

    default = path(values["template"]) if values.get("template") else None
    by_product = {key.split(".", 1)[1]: path(value) for key, value in values.items()
                  if key.startswith("template.") and value}
    if default is None and not by_product:
        raise fail("template", "is missing", "Write template = labels/label.ini (a template next to station.ini).")
    settings = LabelSettings(
        printer=printer,
        templates=load_templates(default, by_product),
        reject_tag=boolean("reject_tag", False),
        host_status=boolean("host_status", True),
        connect_seconds=seconds("connect_seconds", 2.0),
        io_seconds=seconds("io_seconds", 5.0),
        queue_file=path(values.get("queue_file") or "label-queue.json"),
    )
    settings.make_printer()
    return settings


LABELS_FILE = "labels.ini"


def load_labels_file(folder: Path) -> LabelSettings | None:
    """``labels.ini`` in ``folder`` (the station.ini folder), validated; None when there is none."""
    path = Path(folder) / LABELS_FILE
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # product names keep their case
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise LabelConfigError(f"{path} cannot be read: {exc}",
                               hint="Save it as a UTF-8 INI file with one [labels] section.") from None
    unknown = [name for name in parser.sections() if name != "labels"]
    if unknown or not parser.has_section("labels"):
        raise LabelConfigError(f"{path} must hold one [labels] section" + (f", not [{unknown[0]}]" if unknown else ""),
                               hint="Put printer = ... and template = ... under a [labels] heading.")
    return load_label_settings(dict(parser["labels"]), Path(folder), LABELS_FILE)
