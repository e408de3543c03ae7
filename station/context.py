"""Open a station: its config, its log, its database and (when needed) its claim credentials."""

from __future__ import annotations

import logging
import logging.handlers
import os
from dataclasses import dataclass, field

from records import Records, RecordsError
from station.config import StationConfig, find_config, load_config
from station.errors import StationError, explain
from station.locks import FileLock, lock_path
from station.provisioning.claim import ClaimCredentials, load_claim_credentials

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
            self._line_lock.release()
            self._line_lock = None
        self.records.close()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_station(config_path: str | os.PathLike[str] | None = None) -> Station:
    config = load_config(find_config(config_path))
    handler = setup_logging(config)
    try:
        records = Records(config.database)
    except RecordsError as exc:
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
    config.log_dir.mkdir(parents=True, exist_ok=True)
    path = config.log_dir / "station.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler
