"""Open a station: its config, its log, its database and (when needed) its claim credentials."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from records import Records, RecordsError
from station.config import StationConfig, find_config, load_config
from station.errors import StationError, explain
from station.locks import FileLock, lock_path

if TYPE_CHECKING:
    from station.provisioning.claim import ClaimCredentials

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


@dataclass
class Station:
    config: StationConfig
    records: Records
    _claim: ClaimCredentials | None = field(default=None, repr=False)
    _line_lock: FileLock | None = field(default=None, repr=False)
    _log_handler: logging.Handler | None = field(default=None, repr=False)

    def claim(self, prompt: object = None) -> ClaimCredentials:
        """The claim credentials, loaded and checked on first use."""
        if self._claim is None:
            from station.provisioning.claim import load_claim_credentials

            files = self.config.claim
            self._claim = load_claim_credentials(
                files.certificate,
                files.private_key,
                files.root_ca,
                passphrase_env=files.passphrase_env,
                prompt=prompt,  # type: ignore[arg-type]
            )
            log.info("claim certificate %s loaded (sha256 %s)", self._claim.subject, self._claim.cert_sha256)
        return self._claim

    def take_line(self) -> int:
        """Become the process that provisions from this database.

        Only one process may hold the line; holding it proves no other process
        has attempts running, so attempts still open are leftovers of a crash
        and are marked aborted. Returns how many were.
        """
        if self._line_lock is None:
            self._line_lock = FileLock(lock_path(self.config, "line"), purpose="provisioning on this station").acquire()
        aborted = self.records.abort_open_attempts()
        if aborted:
            log.warning("%d attempt(s) left open by an earlier run were marked aborted", aborted)
        return aborted

    def close(self) -> None:
        if self._line_lock is not None:
            self._abort_running("the station stopped while this attempt was running")
            self._line_lock.release()
            self._line_lock = None
        self.records.close()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _abort_running(self, reason: str) -> None:
        """The process that holds the line is ending: whatever attempt is still open will
        never finish, so it is recorded as aborted now, not left RUNNING until the next run."""
        try:
            aborted = self.records.abort_open_attempts(reason)
        except Exception as exc:  # noqa: BLE001 - closing must go on; the next run aborts them
            log.warning("could not mark running attempts aborted: %s", exc)
            return
        if aborted:
            log.warning("%d attempt(s) still running were marked aborted", aborted)

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


BIG_DATABASE_BYTES = 100_000_000
"""A database this big takes seconds to bring up to date: the command says so first."""


def _say_schema_update(path: Path) -> Callable[[int, int], None]:
    """What a command says (on standard error, and in the log) before it brings an older
    station database up to date: nothing on the screen for a small one."""

    def say(before: int, after: int) -> None:
        log.info("bringing %s from schema version %d to %d", path, before, after)
        try:
            big = path.stat().st_size >= BIG_DATABASE_BYTES
        except OSError:
            big = False
        if big and sys.stderr is not None:  # None in a windowed app started by pythonw
            sys.stderr.write(f"note: bringing the station database {path} up to date (schema {before} -> "
                             f"{after}): a big station takes up to a minute, once\n")

    return say


def open_station(config_path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Station:
    """Open the station named by ``config_path``.

    ``read_only`` is for commands that only look: they create no file and write to no
    log, and without a database they see an empty one (in memory).
    """
    config = load_config(find_config(config_path))
    handler: logging.Handler | None = None
    if read_only:  # no log file; and never logging's last resort, which prints on the screen
        handler = logging.NullHandler()
        logging.getLogger().addHandler(handler)
    else:
        try:
            handler = setup_logging(config)
        except StationError as exc:
            if sys.stderr is not None:  # None in a windowed app started by pythonw
                sys.stderr.write(f"warning: {exc.code}: {exc.message}; going on without the log\n")
    try:
        if not read_only:
            records = Records(config.database, on_schema_update=_say_schema_update(config.database))
        elif config.database.exists():
            records = Records(config.database, read_only=True)
        else:
            records = Records(":memory:")
    except RecordsError as exc:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
        explained = explain(exc)
        raise StationError(
            f"cannot open the station database {config.database}: {exc}",
            code=explained.code, hint=explained.hint,
        ) from None
    return Station(config, records, _log_handler=handler)


def setup_logging(config: StationConfig) -> logging.Handler:
    """Log to ``<log_dir>/station.log`` (rotated); the console is for the CLI's own output.

    Returns the handler, which :meth:`Station.close` removes again, so a process that
    opens several stations (tests, the app) never writes one station's lines into another's log.
    """
    try:
        config.log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StationError(f"cannot create the log folder {config.log_dir}: {exc.strerror}", code="LOG_UNWRITABLE",
                           hint="Free disk space or fix the folder's permissions ([station] log_dir).") from None
    # logging.handlers costs every command a few ms at start: only those that log import it
    from station.logfile import QuietFileHandler

    path = config.log_dir / "station.log"
    try:
        handler: logging.Handler = QuietFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise StationError(f"cannot write the station log {path}: {exc.strerror}", code="LOG_UNWRITABLE",
                           hint="Free disk space or fix the file's permissions ([station] log_dir).") from None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler
