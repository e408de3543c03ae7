"""Work around a PySide6 refcount bug that kills long-running apps on Python 3.11.

With PySide6 6.12.0 on CPython 3.11, every call into Qt that returns ``None`` (any
setter: ``setText``, ``setValue``, a QTimer calling a Python function...) and every
``Signal.emit()`` (which returns ``True``) gives back one reference it never took.
``None`` and ``True`` start with a few hundred to a few thousand references, so
after that many calls the interpreter aborts with "Fatal Python error:
none_dealloc" (or "bool_dealloc"). Python 3.12 made these objects immortal,
which is why the bug does not show there.

:func:`protect` does what 3.12 does: it gives ``None``, ``True`` and ``False`` a
reference count so large that the leak can never reach zero. It runs once, when
``gui`` is imported, and only if a probe shows the leak, so a fixed PySide6 (or
Python 3.12+) leaves everything untouched. The proper fix is a PySide6 release
without the bug (see the project notes: pin PySide6-Essentials below 6.12 on
Python 3.11).
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

HEADROOM = 1 << 40  # references added: ~10^12 leaked calls before any trouble
PROBE_CALLS = 64

_protected = False


def _refcount_field(obj: object) -> ctypes.c_ssize_t:
    """``ob_refcnt``: the first field of every CPython object (release builds)."""
    return ctypes.c_ssize_t.from_address(id(obj))


def leak_found() -> bool:
    """True if calling into Qt loses references to None or True (probe: a few calls)."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")
        probe.ping.emit()
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    return lost_none >= PROBE_CALLS // 2 or lost_true >= PROBE_CALLS // 2


def protect() -> bool:
    """Make None/True/False effectively immortal if PySide6 leaks them; True if it did."""
    global _protected
    if _protected:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return False  # 3.12+: already immortal; debug builds: a different object layout
    if not leak_found():
        return False
    for obj in (None, True, False):
        _refcount_field(obj).value += HEADROOM
    _protected = True
    import PySide6

    log.warning(
        "PySide6 %s leaks references to None/True on Python %d.%d; None, True and False were made "
        "immortal to keep the app alive (use another PySide6 version to avoid this)",
        PySide6.__version__, *sys.version_info[:2],
    )
    return True
