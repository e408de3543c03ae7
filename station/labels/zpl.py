"""ZPL II for Zebra-compatible printers: generated here (it is text), and read back.

Every field goes through ``^FH\\`` so ``^``, ``~``, ``\\`` and anything outside printable
ASCII is written as ``\\XX`` hex bytes of its UTF-8 encoding (``^CI28``): field data can
never be taken for a command. The job id rides in a ``^FX`` comment so a printer log (or
the emulator) can show that one job printed once.

:func:`parse_zpl` reads the subset we write (and the common commands around it) back into
fields with their origin, for tests and the emulator; it is not a ZPL interpreter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from station.labels.template import LabelLayout

HEX_INDICATOR = "\\"
QR_FIELD_PREFIX = "MA,"  # error correction M, automatic data mode
_SAFE = frozenset(range(0x20, 0x7F)) - {ord("^"), ord("~"), ord(HEX_INDICATOR)}
_JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def escape_field(text: str) -> str:
    """Field data for ``^FH\\^FD``: printable ASCII as is, everything else as hex bytes."""
    return "".join(chr(b) if b in _SAFE else f"{HEX_INDICATOR}{b:02X}" for b in text.encode("utf-8"))


def render_zpl(layout: LabelLayout, job_id: str, copies: int = 1) -> bytes:
    """One label format, ``^XA`` to ``^XZ``, ready to send to the printer."""
    if not _JOB_ID.fullmatch(job_id):
        raise ValueError(f"job id {job_id!r} must be 1-64 letters, digits or . _ : -")
    lines = [
        "^XA",
        f"^FXjob={job_id}^FS",
        "^CI28",
        f"^PW{layout.width}",
        f"^LL{layout.height}",
        "^LH0,0",
    ]
    for text in layout.texts:
        lines.append(f"^FO{text.x},{text.y}^A0N,{text.height},{text.height}^FH{HEX_INDICATOR}^FD{escape_field(text.text)}^FS")
    code = layout.code
    if code.kind == "qr":
        lines.append(f"^FO{code.x},{code.y}^BQN,2,{code.module}^FH{HEX_INDICATOR}^FD{QR_FIELD_PREFIX}{escape_field(code.content)}^FS")
    else:
        lines.append(f"^FO{code.x},{code.y}^BXN,{code.module},200^FH{HEX_INDICATOR}^FD{escape_field(code.content)}^FS")
    lines += [f"^PQ{copies}", "^XZ", ""]
    return "\n".join(lines).encode("ascii")


def render_reject_zpl(width: int, height: int, serial: str, reason: str, job_id: str) -> bytes:
    """A plain reject tag for a FAILed board: REJECT, its serial and the failure code."""
    if not _JOB_ID.fullmatch(job_id):
        raise ValueError(f"job id {job_id!r} must be 1-64 letters, digits or . _ : -")
    big, small = max(20, height // 4), max(16, height // 7)
    margin = max(8, width // 25)
    rows = [("REJECT", big), (serial, small), (reason, small)]
    lines = ["^XA", f"^FXjob={job_id}^FS", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0"]
    y = margin
    for text, size in rows:
        lines.append(f"^FO{margin},{y}^A0N,{size},{size}^FH{HEX_INDICATOR}^FD{escape_field(text)}^FS")
        y += size + margin // 2
    lines += ["^PQ1", "^XZ", ""]
    return "\n".join(lines).encode("ascii")


@dataclass(frozen=True)
class ParsedField:
    kind: str  # text, qr or datamatrix
    x: int
    y: int
    data: str
    size: int  # font height for text, module size for codes


@dataclass
class ParsedLabel:
    job_id: str | None = None
    width: int | None = None
    height: int | None = None
    copies: int = 1
    fields: list[ParsedField] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [f.data for f in self.fields if f.kind == "text"]

    def codes(self) -> list[ParsedField]:
        return [f for f in self.fields if f.kind != "text"]


class ZplParseError(ValueError):
    pass


_COMMAND = re.compile(r"[\^~]([A-Za-z@][A-Za-z0-9@]?)")


def _unhex(data: str, indicator: str | None) -> str:
    if indicator is None:
        return data
    out = bytearray()
    i = 0
    raw = data.encode("utf-8")
    mark = indicator.encode("ascii")
    while i < len(raw):
        if raw[i:i + 1] == mark:
            pair = raw[i + 1:i + 3]
            try:
                out.append(int(pair, 16))
            except ValueError:
                raise ZplParseError(f"bad hex escape {pair!r} in field data") from None
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8")


def _ints(params: str) -> list[int]:
    values = []
    for part in params.split(","):
        part = part.strip()
        values.append(int(part) if part.lstrip("-").isdigit() else 0)
    return values


def parse_zpl(job: bytes | str) -> ParsedLabel:
    """The first label format (``^XA``..``^XZ``) in ``job``, as fields with their origin."""
    text = job.decode("utf-8") if isinstance(job, bytes) else job
    start = text.find("^XA")
    if start < 0:
        raise ZplParseError("no ^XA: not a label format")
    end = text.find("^XZ", start)
    if end < 0:
        raise ZplParseError("no ^XZ: the label format is incomplete")
    body = text[start + 3:end]
    label = ParsedLabel()
    origin = (0, 0)
    font = 0
    barcode: tuple[str, int] | None = None
    indicator: str | None = None
    data: str | None = None
    matches = list(_COMMAND.finditer(body))
    for i, match in enumerate(matches):
        name = match.group(1).upper()
        params = body[match.end():matches[i + 1].start() if i + 1 < len(matches) else len(body)]
        if name == "FX":
            found = re.search(r"job=([A-Za-z0-9._:-]+)", params)
            if found:
                label.job_id = found.group(1)
        elif name == "PW":
            label.width = _ints(params)[0]
        elif name == "LL":
            label.height = _ints(params)[0]
        elif name == "PQ":
            label.copies = _ints(params)[0] or 1
        elif name == "FO":
            values = _ints(params) + [0, 0]
            origin = (values[0], values[1])
        elif name.startswith("A") and len(name) == 2:
            values = _ints(params[1:].lstrip(",")) if params[:1].isalpha() else _ints(params)
            font = values[0] if values else 0
        elif name == "BQ":
            values = _ints(params[1:].lstrip(",")) + [0, 0]
            barcode = ("qr", values[1])
        elif name == "BX":
            values = _ints(params[1:].lstrip(",")) + [0]
            barcode = ("datamatrix", values[0])
        elif name == "FH":
            indicator = params.strip()[:1] or "_"
        elif name == "FD":
            data = params
        elif name == "FS":
            if data is not None:
                value = _unhex(data, indicator)
                if barcode is None:
                    label.fields.append(ParsedField("text", origin[0], origin[1], value, font))
                else:
                    kind, size = barcode
                    if kind == "qr":
                        if "," not in value[:3]:
                            raise ZplParseError(f"QR field data {value[:10]!r}... lacks its mode prefix (e.g. MA,)")
                        value = value.split(",", 1)[1]
                    label.fields.append(ParsedField(kind, origin[0], origin[1], value, size))
            barcode, indicator, data = None, None, None
    return label
