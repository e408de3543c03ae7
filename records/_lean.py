"""Import sqlite-utils without numpy and pandas.

sqlite-utils imports numpy and pandas when they are installed, only to convert their
value types on insert. The station never hands it such values, and importing numpy costs
more than the rest of a small command (``station units``: about 0.2 s of 0.5 s). So while
sqlite-utils is first imported, both are made unimportable; the blocks are lifted at
once, and a program that imported them before (or imports them later) is not affected.
"""

from __future__ import annotations

import sys

_OPTIONAL = ("numpy", "pandas")


def import_sqlite_utils() -> None:
    if "sqlite_utils" in sys.modules:
        return
    blocked = [name for name in _OPTIONAL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]

