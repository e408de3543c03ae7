"""Typed station errors.

Every failure the station reports carries a stable ``code`` (for the database,
reports and scripts) and a ``hint`` an operator can act on. The message never
contains secret material.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


class StationError(Exception):
    """Base of every error the station reports to a person or a script."""

    code: str = "STATION_ERROR"
    hint: str = "See the station log for details."

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(StationError):
    code = "CONFIG_INVALID"
    hint = "Fix station.ini (see the sample station.ini in the repository) and start again."


class ClaimError(StationError):
    code = "CLAIM_INVALID"
    hint = "Check the claim certificate, key and root CA files named in station.ini."


class CsrRejected(StationError):
    code = "CSR_REJECTED"
    hint = "Set this board aside and report it to engineering: its certificate request is not acceptable."


# -- one vocabulary for every error a person can meet -----------------------------------------

@dataclass(frozen=True)
class Explanation:
    """What a person reads about an error: a stable code, one line, what to do, and a short
    title for dialogs. The CLI, the pipeline's FAIL and the app all show this."""

    code: str
    message: str
    hint: str
    title: str

    def line(self) -> str:
        return f"{self.code}: {self.message}"


_DB_CHECK = "Run `station doctor` to see what is wrong with the database."

# Codes raised by :mod:`records` (which knows nothing of operators) and what to do about them.
RECORDS_HINTS: dict[str, tuple[str, str]] = {
    "DB_LOCKED": ("The station database is locked",
                  "Another program holds the database (a second station window, a database "
                  "tool). Close it and try again."),
    "DB_CORRUPT": ("The station database is damaged",
                   "Stop the station and call engineering: restore the database from the last "
                   "backup (`station audit verify` then tells what is missing)."),
    "DB_SCHEMA_TOO_NEW": ("The database is from a newer station version",
                          "Install the station software that wrote it; this version left it unchanged."),
    "DB_FULL": ("The disk is full",
                "Free space on the station PC's disk (old logs, reports), then retry. "
                "Nothing already recorded was lost."),
    "DB_READ_ONLY": ("The station database is read-only",
                     "Give the station's user write access to the database file and its folder "
                     "(or remount the disk read-write), then retry."),
    "DB_IO_ERROR": ("The disk reported an error",
                    "The disk may be failing: stop the line, back up the database and call engineering."),
    "BATCH_NOT_FOUND": ("No such batch", "Check the batch name (`station batch list`)."),
    "BATCH_CLOSED": ("The batch is closed",
                     "Open a new batch: station batch open BATCH --product P --quantity N"),
    "BATCH_EXISTS": ("The batch exists for another product", "Choose another batch name."),
    "UNIT_NOT_FOUND": ("Unknown serial", "Check the serial (`station units --search PART`)."),
    "DEVICE_KEY_REPEATED": ("A board repeated another board's key",
                            "Set this board aside for engineering: its random number generator "
                            "repeats keys, or it is a clone."),
    "USER_EXISTS": ("The user exists", "Remove it first to change its role or PIN."),
    "USER_NOT_FOUND": ("Unknown user", "`station user list` shows the users."),
}


def explain(exc: BaseException) -> Explanation:
    """The one translation of any error the station can meet into what a person reads.

    ``flashing`` and ``records`` keep their own error types; a ``StationError`` or a
    ``BoardError`` carries its own hint; a records error gets its hint from
    :data:`RECORDS_HINTS`; a full or read-only disk seen as an ``OSError`` is named as such.
    Anything else is an internal error (its details belong in the station log, not here).
    """
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = str(exc)
    hint = getattr(exc, "hint", None)
    if isinstance(exc, StationError) or (isinstance(code, str) and isinstance(hint, str) and hint):
        return Explanation(str(code), message, str(hint), _title(str(code)))
    if isinstance(code, str) and code in RECORDS_HINTS:
        title, records_hint = RECORDS_HINTS[code]
        return Explanation(code, message, records_hint, title)
    if isinstance(code, str) and code:
        return Explanation(code, message, _DB_CHECK, "The station database refused")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        title, disk_hint = RECORDS_HINTS["DB_FULL"]
        return Explanation("DISK_FULL", f"{exc.strerror}: {exc.filename or ''}".rstrip(": "), disk_hint, title)
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return Explanation("FILE_NOT_WRITABLE", f"{exc.strerror}: {exc.filename or ''}".rstrip(": "),
                           "Give the station's user write access to that file and its folder.",
                           "A file cannot be written")
    return Explanation(
        "INTERNAL_ERROR", f"{type(exc).__name__} (details in the station log)",
        "This is a bug in the station software. Report it with logs/station.log.",
        "Something unexpected went wrong",
    )


def _title(code: str) -> str:
    if code in RECORDS_HINTS:
        return RECORDS_HINTS[code][0]
    if code == "LOCK_BUSY":
        return "The line is already in use"
    if code.startswith("CONFIG"):
        return "The station configuration is wrong"
    if code.startswith("CLAIM"):
        return "The claim certificate or key cannot be used"
    if code.startswith("SYNC"):
        return "The sync needs attention"
    return "The station cannot do this"
