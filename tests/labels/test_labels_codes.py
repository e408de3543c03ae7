"""The 2D code holds the serial: decoded back from an image of the module matrix (zxing-cpp),
or, where no decoder is installed, compared with the matrix generated from the ZPL's code data."""

from __future__ import annotations

import pytest
import segno
from labels_support import GOOD, write_template

from station.labels.codes import code_matrix, datamatrix_available
from station.labels.queue import label_job
from station.labels.template import LabelData, load_template
from station.labels.zpl import parse_zpl


def _image(matrix, scale: int = 4, quiet: int = 4) -> memoryview:
    """A grayscale picture of the matrix (dark = 0) with a quiet zone, as the preview draws it."""
    size = (len(matrix) + 2 * quiet) * scale
    pixels = bytearray([255]) * (size * size)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = ((r + quiet) * scale + dy) * size + (c + quiet) * scale
                    pixels[start:start + scale] = bytes(scale)
    return memoryview(bytes(pixels)).cast("B", (size, size))


def _code_from_job(template, serial: str):
    return parse_zpl(label_job(template, LabelData(serial=serial)).data).codes()[0]


@pytest.mark.parametrize("serial", ["SIM000042", "AB-1234-XYZ", "W" * 32])
def test_the_qr_code_on_a_label_decodes_to_the_serial(template, serial):
    zxingcpp = pytest.importorskip("zxingcpp")
    code = _code_from_job(template, serial)
    found = zxingcpp.read_barcode(_image(code_matrix(code.kind, code.data)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert found is not None and found.text == serial


def test_a_url_qr_code_decodes_to_the_url_with_the_serial(tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    template = load_template(write_template(tmp_path, GOOD.replace("content = {serial}", "content = https://example.com/u/{serial}")))
    code = _code_from_job(template, "SN-77")
    assert zxingcpp.read_barcode(_image(code_matrix("qr", code.data))).text == "https://example.com/u/SN-77"


def test_the_preview_matrix_is_the_qr_of_the_zpl_code_data(template):
    """The comparison that works without a decoder: same data, same error level, same matrix."""
    code = _code_from_job(template, "SIM000042")
    expected = segno.make_qr("SIM000042", error="m", boost_error=False)
    assert code_matrix("qr", code.data) == tuple(tuple(bool(m) for m in row) for row in expected.matrix_iter(border=0))


@pytest.mark.skipif(not datamatrix_available(), reason="the DataMatrix preview needs zxing-cpp")
def test_the_datamatrix_code_on_a_label_decodes_to_the_serial(tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    template = load_template(write_template(tmp_path, GOOD.replace("kind = qr", "kind = datamatrix")))
    code = _code_from_job(template, "SIM000042")
    found = zxingcpp.read_barcode(_image(code_matrix(code.kind, code.data)), formats=zxingcpp.BarcodeFormat.DataMatrix)
    assert found is not None and found.text == "SIM000042"
