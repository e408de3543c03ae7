"""The Qt preview draws the label from the same layout as the ZPL: its QR decodes to the serial."""

from __future__ import annotations

import pytest
from labels_support import GOOD, write_template

from station.labels.template import LabelData, layout_label, load_template
from station.labels.zpl import parse_zpl

pytest.importorskip("PySide6")

from gui.label_preview import LabelPreview, render_label_image
from station.labels.queue import label_job


def test_the_previewed_qr_code_decodes_to_the_serial_in_the_printed_zpl(qapp, template, unit):
    zxingcpp = pytest.importorskip("zxingcpp")
    layout = layout_label(template, unit)
    found = zxingcpp.read_barcode(render_label_image(layout), formats=zxingcpp.BarcodeFormat.QRCode)
    printed = parse_zpl(label_job(template, unit).data).codes()[0].data
    assert found is not None and found.text == printed == "SIM000042"


def test_the_previewed_datamatrix_decodes_to_the_serial(qapp, tmp_path, unit):
    zxingcpp = pytest.importorskip("zxingcpp")
    template = load_template(write_template(tmp_path, GOOD.replace("kind = qr", "kind = datamatrix")))
    found = zxingcpp.read_barcode(render_label_image(layout_label(template, unit)),
                                  formats=zxingcpp.BarcodeFormat.DataMatrix)
    assert found is not None and found.text == "SIM000042"


def test_the_preview_image_has_the_labels_proportions(qapp, template, unit):
    image = render_label_image(layout_label(template, unit), scale=1.0, margin=0)
    assert (image.width(), image.height()) == (template.width, template.height)


def test_the_widget_describes_the_label_it_shows(qtbot, template):
    widget = LabelPreview()
    qtbot.addWidget(widget)
    widget.set_layout(layout_label(template, LabelData(serial="SIM000001", product="GW")))
    assert "SIM000001" in widget.accessibleDescription()
    assert widget.toolTip() == "QR: SIM000001"
    widget.set_layout(None)
    assert widget.accessibleDescription() == "no label"
