"""Take docs/images/label-preview.png: the label preview widget in a real window on Xvfb.

    xvfb-run -a python tests/labels/make_label_screenshot.py

The label is the sample template (station/labels/sample-label.ini) for a demo unit.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtWidgets import QApplication, QGroupBox, QLabel, QVBoxLayout

    from gui import theme
    from gui.label_preview import LabelPreview
    from station.labels.template import LabelData, layout_label, load_template

    app = QApplication([])
    theme.apply_theme(app)
    box = QGroupBox("Label for SIM000042")
    column = QVBoxLayout(box)
    preview = LabelPreview()
    template = load_template(ROOT / "station" / "labels" / "sample-label.ini")
    preview.set_layout(layout_label(template, LabelData(
        serial="SIM000042", product="ACME-GW-2", batch="B2026-0042", station="LINE1-ST01",
        fingerprint="3F9A01C2B7DE", date=datetime(2026, 12, 3))))
    column.addWidget(preview)
    note = QLabel("50 × 25 mm at 203 dpi — QR holds the serial")
    note.setProperty("role", "muted")
    column.addWidget(note)
    box.resize(560, 340)
    box.show()
    for _ in range(20):
        app.processEvents()
    out = ROOT / "docs" / "images" / "label-preview.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    box.grab().save(str(out))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
