"""Label templates: one INI file per product, kept next to station.ini.

A template says how big the label is, which text fields go where, and what the 2D code
holds. It is read and validated in :func:`load_template`; everything that draws a label
(ZPL for the printer, the Qt preview) works from the :class:`LabelLayout` that
:func:`layout_label` makes from a template and one unit's values, so the printed label
and the preview cannot disagree.

Example (``label.ini``)::

    [label]
    width_mm = 50
    height_mm = 25
    dpi = 203
    date_format = %Y-%m-%d

    [code]
    kind = qr                                   ; qr or datamatrix
    content = https://example.com/u/{serial}    ; must contain {serial}
    x_mm = 2
    y_mm = 2
    module_mm = 0.5

    [field.serial]
    text = {serial}
    x_mm = 22
    y_mm = 3
    font_mm = 4

Placeholders: ``{serial} {product} {batch} {date} {station} {fingerprint}``; any other
text is printed as written.
"""

from __future__ import annotations

import configparser
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from station.labels.errors import LabelTemplateError

PLACEHOLDERS = ("serial", "product", "batch", "date", "station", "fingerprint")
CODE_KINDS = ("qr", "datamatrix")
DPIS = (152, 203, 300, 600)
MM_PER_INCH = 25.4
# The longest serial station.ini's pattern allows by default; used to check that the code fits.
LONGEST_SERIAL = 32
_FIELD_PREFIX = "field."


@dataclass(frozen=True)
class TextField:
    name: str
    text: str
    x: int
    y: int
    height: int


@dataclass(frozen=True)
class CodeSpec:
    kind: str
    content: str
    x: int
    y: int
    module: int


@dataclass(frozen=True)
class LabelTemplate:
    """A validated template; every position and size is in printer dots."""

    source: Path
    width: int
    height: int
    dpi: int
    date_format: str
    fields: tuple[TextField, ...]
    code: CodeSpec


@dataclass(frozen=True)
class LabelData:
    """What one unit's label says. ``fingerprint`` is a short hash of the device's public key."""

    serial: str
    product: str = ""
    batch: str = ""
    station: str = ""
    fingerprint: str = ""
    date: datetime | None = None


@dataclass(frozen=True)
class PlacedText:
    x: int
    y: int
    height: int
    text: str


@dataclass(frozen=True)
class PlacedCode:
    kind: str
    x: int
    y: int
    module: int
    content: str


@dataclass(frozen=True)
class LabelLayout:
    width: int
    height: int
    dpi: int
    texts: tuple[PlacedText, ...]
    code: PlacedCode


class _Reader:
    def __init__(self, parser: configparser.ConfigParser, path: Path):
        self.parser = parser
        self.path = path

    def fail(self, section: str, key: str | None, problem: str, todo: str) -> LabelTemplateError:
        where = f"{self.path.name} [{section}]" + (f" {key}" if key else "")
        return LabelTemplateError(f"{where}: {problem} ({self.path})", hint=todo)

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self.parser.get(section, key, fallback=None)
        if value is None or not value.strip():
            if default is not None:
                return default
            raise self.fail(section, key, "is missing", f"Add `{key} = ...` to [{section}].")
        return value.strip()

    def number(self, section: str, key: str, low: float, high: float, default: float | None = None) -> float:
        raw = self.parser.get(section, key, fallback=None)
        if raw is None or not raw.strip():
            if default is not None:
                return default
            raise self.fail(section, key, "is missing", f"Add `{key} = <millimetres>` to [{section}].")
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(section, key, f"must be a number, got {raw.strip()!r}",
                            f"Write a number between {low:g} and {high:g}.") from None
        if not low <= value <= high:
            raise self.fail(section, key, f"must be between {low:g} and {high:g}, got {value:g}",
                            f"Write a number between {low:g} and {high:g}.")
        return value

    def placeholders(self, section: str, key: str, value: str) -> set[str]:
        try:
            names = {name for _, name, spec, conv in string.Formatter().parse(value) if name is not None}
            bad_spec = [
                name for _, name, spec, conv in string.Formatter().parse(value)
                if name is not None and (spec or conv)
            ]
        except ValueError as exc:
            raise self.fail(section, key, f"has unbalanced braces: {exc}",
                            "Write placeholders as {serial}; write a literal brace as {{ or }}.") from None
        unknown = sorted(names - set(PLACEHOLDERS))
        if unknown or bad_spec:
            shown = ", ".join("{" + (n or "") + "}" for n in unknown + bad_spec)
            raise self.fail(section, key, f"unknown placeholder {shown}",
                            "Use only " + " ".join("{" + p + "}" for p in PLACEHOLDERS) + ".")
        return names


def _dots(mm: float, dpi: int) -> int:
    return round(mm * dpi / MM_PER_INCH)


def load_template(path: Path | str) -> LabelTemplate:
    """Read and validate one label template; raises :class:`LabelTemplateError`."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise LabelTemplateError(
            f"label template {path} does not exist",
            code="LABEL_TEMPLATE_MISSING",
            hint="Create it (copy station/labels/sample-label.ini) or fix its path in labels.ini.",
        ) from None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise LabelTemplateError(
            f"label template {path} cannot be read: {exc}",
            hint="Save it as a UTF-8 INI file with a [label] and a [code] section.",
        ) from None
    r = _Reader(parser, path)
    for section in ("label", "code"):
        if not parser.has_section(section):
            raise r.fail(section, None, "section is missing", f"Add a [{section}] section (see station/labels/sample-label.ini).")
    width_mm = r.number("label", "width_mm", 10, 220)
    height_mm = r.number("label", "height_mm", 5, 400)
    dpi_raw = r.text("label", "dpi", "203")
    if not dpi_raw.isdigit() or int(dpi_raw) not in DPIS:
        raise r.fail("label", "dpi", f"must be one of {', '.join(map(str, DPIS))}, got {dpi_raw!r}",
                     "Write the printer's resolution: 203 for most desktop Zebras, 300 or 600 for high-resolution heads.")
    dpi = int(dpi_raw)
    date_format = r.text("label", "date_format", "%Y-%m-%d")
    try:
        datetime(2026, 12, 31, 23, 59).strftime(date_format)
    except ValueError:
        raise r.fail("label", "date_format", f"is not a strftime format: {date_format!r}",
                     "Write a format such as %Y-%m-%d.") from None
    width, height = _dots(width_mm, dpi), _dots(height_mm, dpi)

    kind = r.text("code", "kind").lower()
    if kind not in CODE_KINDS:
        raise r.fail("code", "kind", f"must be qr or datamatrix, got {kind!r}", "Write kind = qr or kind = datamatrix.")
    content = r.text("code", "content", "{serial}")
    if "serial" not in r.placeholders("code", "content", content):
        raise r.fail("code", "content", "does not contain {serial}",
                     "The code must identify the unit: write content = {serial} or a URL with {serial} in it.")
    module_max = 10 if kind == "qr" else 12
    module = _dots(r.number("code", "module_mm", 0.1, 5, 0.5), dpi)
    if not 1 <= module <= module_max:
        raise r.fail("code", "module_mm", f"gives {module} dots per module at {dpi} dpi; the printer takes 1 to {module_max}",
                     "Choose a module size between one dot and a few tenths of a millimetre.")
    code = CodeSpec(kind, content, _dots(r.number("code", "x_mm", 0, width_mm), dpi),
                    _dots(r.number("code", "y_mm", 0, height_mm), dpi), module)
    _check_code_fits(r, code, width, height)

    fields = []
    for section in parser.sections():
        if section in ("label", "code"):
            continue
        if not section.startswith(_FIELD_PREFIX) or len(section) == len(_FIELD_PREFIX):
            raise r.fail(section, None, "is not a known section",
                         "Use [label], [code] and one [field.NAME] section per text field.")
        text = r.text(section, "text")
        r.placeholders(section, "text", text)
        field = TextField(
            name=section[len(_FIELD_PREFIX):],
            text=text,
            x=_dots(r.number(section, "x_mm", 0, width_mm), dpi),
            y=_dots(r.number(section, "y_mm", 0, height_mm), dpi),
            height=_dots(r.number(section, "font_mm", 1, 50), dpi),
        )
        if field.y + field.height > height:
            raise r.fail(section, "y_mm", "puts the text below the bottom of the label",
                         "Move the field up or make font_mm smaller.")
        fields.append(field)
    if not fields:
        raise r.fail("field.serial", None, "no text field is defined",
                     "Add at least [field.serial] with text = {serial}: the serial must be readable by a person.")
    return LabelTemplate(path, width, height, dpi, date_format, tuple(fields), code)


def _check_code_fits(r: _Reader, code: CodeSpec, width: int, height: int) -> None:
    if code.kind != "qr":
        return
    from station.labels.codes import code_matrix

    sample = code.content.format(**{p: "" for p in PLACEHOLDERS} | {"serial": "W" * LONGEST_SERIAL})
    size = len(code_matrix("qr", sample)) * code.module
    if code.x + size > width or code.y + size > height:
        raise r.fail("code", "module_mm",
                     f"a code for a {LONGEST_SERIAL}-character serial is {size} dots wide and does not fit the label from x_mm, y_mm",
                     "Make module_mm smaller, move the code, or shorten content.")


def fill(text: str, data: LabelData, date_format: str) -> str:
    """One template text with the unit's values put in."""
    date = (data.date or datetime.now()).strftime(date_format)
    return text.format(serial=data.serial, product=data.product, batch=data.batch,
                       date=date, station=data.station, fingerprint=data.fingerprint)


def layout_label(template: LabelTemplate, data: LabelData) -> LabelLayout:
    """Where everything goes on this unit's label, in dots."""
    texts = tuple(PlacedText(f.x, f.y, f.height, fill(f.text, data, template.date_format)) for f in template.fields)
    c = template.code
    code = PlacedCode(c.kind, c.x, c.y, c.module, fill(c.content, data, template.date_format))
    return LabelLayout(template.width, template.height, template.dpi, texts, code)


@dataclass(frozen=True)
class TemplateSet:
    """The product → template mapping; ``default`` serves every product without its own."""

    default: LabelTemplate | None
    by_product: Mapping[str, LabelTemplate]

    def for_product(self, product: str) -> LabelTemplate:
        template = self.by_product.get(product.lower(), self.default)
        if template is None:
            raise LabelTemplateError(
                f"no label template for product {product!r}",
                code="LABEL_TEMPLATE_MISSING",
                hint=f"Add `template.{product} = labels/{product}.ini` or a default `template = ...` to labels.ini.",
            )
        return template


def load_templates(default: Path | None, by_product: Mapping[str, Path]) -> TemplateSet:
    """Load every template named in labels.ini; the first bad one raises."""
    return TemplateSet(
        default=load_template(default) if default is not None else None,
        by_product={product.lower(): load_template(path) for product, path in by_product.items()},
    )
