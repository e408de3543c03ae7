"""The PySide6 operator and QA app (``station-gui``, see gui/app.py)."""

from .qt_compat import protect as _protect

_protect()  # PySide6 6.12 on Python 3.11 leaks references to None/True: see gui/qt_compat.py
