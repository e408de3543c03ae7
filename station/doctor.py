"""``station doctor``: the station's security posture and health on one screen.

Every check says OK, WARN or FAIL, what it found, and what to do. Nothing here
prints or stores key material: only paths, modes, fingerprints and dates.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from station.config import StationConfig, find_config, load_config
from station.errors import StationError, explain
from station.provisioning.boards import check_claim_fits
from station.provisioning.claim import load_claim_credentials

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    area: str
    status: str
    finding: str
    hint: str = ""


def diagnose(config_path: str | os.PathLike[str] | None = None) -> list[Check]:
    try:
        config = load_config(find_config(config_path))
    except StationError as exc:
        return [Check("config", FAIL, exc.message, exc.hint)]
    checks = [Check("config", OK, f"{config.path} (station {config.station_id}, driver {config.driver})")]
    for probe in (_secrets_in_ini, _claim_key_file, _claim_credentials, _database, _audit, _logs, _cloud):
        try:
            checks.extend(probe(config))
        except Exception as exc:  # noqa: BLE001 - a broken probe is a finding, not a crash
            checks.append(Check(probe.__name__.strip("_").replace("_", " "), FAIL, f"check failed: {type(exc).__name__}"))
    return checks


def _mode_text(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def _secrets_in_ini(config: StationConfig) -> list[Check]:
    from station.sync.dynamo import refuse_secrets_in_ini

    try:
        refuse_secrets_in_ini(config.path)
    except StationError as exc:
        return [Check("station.ini secrets", FAIL, exc.message, exc.hint)]
    return [Check("station.ini secrets", OK, "no AWS credentials in station.ini")]


def _claim_key_file(config: StationConfig) -> list[Check]:
    path = config.claim.private_key
    if not path.is_file():
        return [Check("claim key file", FAIL, f"{path} does not exist", "Fix [claim] private_key in station.ini.")]
    checks = []
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            checks.append(Check("claim key permissions", FAIL, f"{path} is {oct(mode)}: readable by others",
                                f"chmod 600 {path}"))
        else:
            checks.append(Check("claim key permissions", OK, f"{path} is {oct(mode)} (owner only)"))
    else:
        checks.append(Check("claim key permissions", WARN, f"{path}: Windows ACLs are not checked",
                            "Make sure only the station's account can read the file (icacls)."))
    head = path.read_bytes()[:200]
    if b"ENCRYPTED" in head:
        source = config.claim.passphrase_env
        have = bool(source and os.environ.get(source))
        checks.append(Check("claim key encryption", OK,
                            "passphrase-encrypted" + (f"; passphrase from ${source}" if have else "; passphrase asked at start")))
    else:
        checks.append(Check("claim key encryption", WARN, "the key file is not encrypted",
                            "Consider a passphrase-encrypted key (openssl pkcs8 -topk8 -v2 aes-256-cbc) "
                            "with [claim] passphrase_env."))
    return checks


def _claim_credentials(config: StationConfig) -> list[Check]:
    files = config.claim
    prompt: Callable[[], str] | None = None
    try:
        claim = load_claim_credentials(files.certificate, files.private_key, files.root_ca,
                                       passphrase_env=files.passphrase_env, prompt=prompt)
    except StationError as exc:
        return [Check("claim certificate", FAIL, exc.message, exc.hint)]
    try:
        check_claim_fits(config, claim)
    except StationError as exc:
        return [Check("claim certificate", FAIL, exc.message, exc.hint)]
    days = (claim.not_after - datetime.now(UTC)).days
    status = FAIL if days < 0 else WARN if days < 60 or claim.is_demo else OK
    finding = f"sha256 {claim.cert_sha256[:16]}…, expires {claim.not_after:%Y-%m-%d} ({days} days)"
    hint = "DEMO claim material: never use it on real boards." if claim.is_demo else (
        "Renew the claim certificate soon (station cloud claim-create)." if days < 60 else "")
    return [Check("claim certificate", status, finding + (" — DEMO material" if claim.is_demo else ""), hint)]


def _database(config: StationConfig) -> list[Check]:
    path = config.database
    if not path.exists():
        return [Check("database", WARN, f"{path} does not exist yet", "It is created on first use.")]
    try:
        integrity, journal, version = _database_facts(path)
    except sqlite3.Error as exc:
        return [Check("database", FAIL, f"{path} cannot be read: {exc}",
                      "The file is damaged or not a station database: restore it from a backup."),
                _database_writable(path)]
    size = path.stat().st_size / 1e6
    checks = [Check("database", OK if integrity == "ok" else FAIL,
                    f"{path} ({size:.1f} MB, schema {version}, journal {journal}, integrity {integrity})",
                    "" if integrity == "ok" else "Restore the database from a backup and call engineering.")]
    checks.append(_database_writable(path))
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o002:
        checks.append(Check("database permissions", FAIL, f"{path} is world-writable ({_mode_text(path)})",
                            f"chmod o-w {path}"))
    return checks


LOW_DISK_BYTES = 100_000_000


def _database_facts(path: Path) -> tuple[str, str, int]:
    """Integrity, journal mode and schema version, read without writing (as immutable on a
    read-only mount, where SQLite cannot make the WAL's shared-memory file)."""
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=5)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            integrity = connection.execute("PRAGMA quick_check").fetchone()[0]
            journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            return integrity, journal, version
        except sqlite3.Error as exc:
            last = exc
        finally:
            connection.close()
    assert last is not None
    raise last


def _database_writable(path: Path) -> Check:
    """Whether the station can record: the file, its folder (SQLite's -wal and -shm files
    live there) and the file system must be writable, and the disk not nearly full."""
    hint = (f"Make {path} and its folder writable for the station's account (and the file system "
            "mounted read-write); until then nothing can be provisioned.")
    if os.name == "posix" and os.statvfs(path).f_flag & os.ST_RDONLY:
        return Check("database writable", FAIL, f"{path} is on a read-only file system", hint)
    for target in (path, path.parent):
        if not os.access(target, os.W_OK):
            return Check("database writable", FAIL, f"{target} is read-only for this account", hint)
    free = shutil.disk_usage(path.parent).free
    if free < LOW_DISK_BYTES:
        return Check("database writable", WARN, f"only {free / 1e6:.1f} MB free on the database's disk",
                     "Free disk space: when it is full no board can be recorded.")
    return Check("database writable", OK, f"writable, {free / 1e9:.1f} GB free")


def _audit(config: StationConfig) -> list[Check]:
    if not config.database.exists():
        return []
    from records import Records, RecordsError

    try:
        with Records(config.database) as records:
            verification = records.verify_audit()
            pending = records.count_pending_sync()
            last = records.last_successful_sync()
    except RecordsError as exc:
        explained = explain(exc)
        return [Check("audit log", FAIL, f"not checked: {explained.line()}", explained.hint)]
    if verification.damaged:
        return [Check("audit log", FAIL, f"cannot be read: {verification.problem}",
                      "The database file is damaged (not a sign of tampering): restore it from a backup.")]
    checks = [Check("audit log", OK if verification.ok else FAIL,
                    f"{verification.entries} entries, chain " + ("intact" if verification.ok else f"BROKEN: {verification.problem}"),
                    "" if verification.ok else "The database was edited outside the station. Keep a copy and tell QA.")]
    last_at = (last or {}).get("finished_at") or "never"
    checks.append(Check("sync backlog", OK if pending == 0 else WARN, f"{pending} unit(s) waiting to sync; last success {last_at}",
                        "" if pending == 0 else "Run station sync (or check the scheduled sync)."))
    return checks


def _logs(config: StationConfig) -> list[Check]:
    log = config.log_dir / "station.log"
    where = f"{log}" + (f" ({log.stat().st_size / 1e6:.1f} MB)" if log.exists() else " (not written yet)")
    return [Check("log", OK, where + "; holds fingerprints only, never key material")]


def _cloud(config: StationConfig) -> list[Check]:
    cloud = config.cloud
    if not cloud.configured:
        return [Check("cloud", WARN, "no [cloud] table: the allow-list is not synced", "Set [cloud] table and region.")]
    from station.sync.dynamo import describe_endpoint, make_session

    session = make_session(cloud)
    credentials = session.get_credentials()
    source = getattr(credentials, "method", None) if credentials else None
    finding = f"table {cloud.table} at {describe_endpoint(cloud)}; credentials: " + (
        f"{source}" + (f" (profile {cloud.profile})" if cloud.profile else "") if source else "none found")
    return [Check("cloud", OK if source else WARN, finding,
                  "" if source else "Give the station AWS credentials (profile, environment or instance role).")]
