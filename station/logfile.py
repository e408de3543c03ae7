"""The station's log file: rotated, and never a traceback on the operator's screen."""

from __future__ import annotations

import logging
import logging.handlers
import sys


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The station log, which never prints a Python traceback on the operator's screen.

    logging's default answer to a failing write (a full disk) is a traceback on stderr for
    every record; this handler says it once, in one line, and goes on without its log.
    """

    failed = False

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            self._say_once(exc)

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:
            self._say_once(exc)

    def _say_once(self, error: BaseException | None) -> None:
        if not self.failed:
            self.failed = True
            reason = getattr(error, "strerror", None) or error
            sys.stderr.write(f"warning: LOG_UNWRITABLE: cannot write the station log {self.baseFilename} ({reason}); "
                             "going on without it. Free disk space.\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._say_once(sys.exc_info()[1])
