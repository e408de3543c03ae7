"""The module matrix of a label's 2D code, for drawing it on screen.

The printer renders the code itself from the ZPL (``^BQ``/``^BX``); the preview draws the
same data from this matrix. QR comes from ``segno`` (pure Python) with the error
correction level the ZPL asks for (M). DataMatrix comes from ``zxing-cpp`` when it is
installed (a wheel, no system library); without it only the printer can draw DataMatrix.
"""

from __future__ import annotations

import segno

from station.labels.errors import LabelCodeUnavailable

Matrix = tuple[tuple[bool, ...], ...]
QR_ERROR_LEVEL = "M"


def code_matrix(kind: str, content: str) -> Matrix:
    """Rows of modules, ``True`` for dark, without the quiet zone."""
    if kind == "qr":
        qr = segno.make_qr(content, error=QR_ERROR_LEVEL.lower(), boost_error=False)
        return tuple(tuple(bool(m) for m in row) for row in qr.matrix_iter(border=0))
    if kind == "datamatrix":
        return _datamatrix(content)
    raise ValueError(f"unknown code kind {kind!r}")


def datamatrix_available() -> bool:
    try:
        import zxingcpp  # noqa: F401
    except ImportError:
        return False
    return True


def _datamatrix(content: str) -> Matrix:
    try:
        import zxingcpp
    except ImportError:
        raise LabelCodeUnavailable("a DataMatrix preview needs the zxing-cpp package") from None
    barcode = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.DataMatrix)
    image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))
    rows, cols = image.shape
    return tuple(tuple(image[r, c] < 128 for c in range(cols)) for r in range(rows))
