"""Helpers for the label tests: the sample template path and a known-good template text."""

from __future__ import annotations

from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "station" / "labels" / "sample-label.ini"


def write_template(folder: Path, text: str, name: str = "label.ini") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[label]
width_mm = 50
height_mm = 25
dpi = 203

[code]
kind = qr
content = {serial}
x_mm = 1
y_mm = 1
module_mm = 0.5

[field.serial]
text = {serial}
x_mm = 22
y_mm = 2
font_mm = 3
"""
