"""A full disk, a read-only database, a damaged database: each has its own code and hint,
nobody sees a traceback, and nothing recorded is lost.

The full disk is a real tmpfs and the read-only database a real read-only bind mount
(both need root and mount rights; elsewhere these tests are skipped). The damaged
database is a real file with one page overwritten; the failing log is /dev/full.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cli_helpers import station

from records import Records


def _can_mount() -> bool:
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path("/tmp") / f"station-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True, check=False).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=False)
        return ok
    finally:
        probe.rmdir()


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root with mount rights (tmpfs, bind mounts)")


@contextlib.contextmanager
def mounted(*args: str, target: Path):
    subprocess.run(["mount", *args, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def _fill(folder: Path, leave_kib: int) -> None:
    free_kib = shutil.disk_usage(folder).free // 1024
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free_kib - leave_kib) * 1024)


@needs_mount
def test_a_full_disk_is_db_full_with_a_hint_and_exit_3(station_folder, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", target=disk):
        shutil.copytree(station_folder, disk / "line")
        folder = disk / "line"
        assert station("batch", "open", "B1", "--product", "GW", "--quantity", "5", cwd=folder).code == 0
        _fill(disk, leave_kib=0)

        done = station("batch", "open", "B2", "--product", "GW", "--quantity", "5", cwd=folder)

        assert done.code == 3, done
        assert "error: DB_FULL" in done.err
        assert "Free space" in done.err
        (disk / "filler").unlink()
        with Records(folder / "station.sqlite") as records:
            assert records.get_batch("B1") is not None


@needs_mount
def test_a_board_that_committed_but_could_not_be_recorded_is_told_not_recorded(station_folder, tmp_path, boards):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", target=disk):
        shutil.copytree(station_folder, disk / "line")
        folder = disk / "line"
        assert station("batch", "open", "B1", "--product", "GW", "--quantity", "5", cwd=folder).code == 0
        [board] = boards(1)
        _fill(disk, leave_kib=100)

        done = station("run", "--once", "--ports", board.port, cwd=folder)

        assert done.code == 3, done
        assert "DB_FULL" in done.out + done.err
        (disk / "filler").unlink()


@needs_mount
def test_a_read_only_database_can_be_looked_at_and_says_so_when_written(station_folder, tmp_path):
    with Records(station_folder / "station.sqlite") as records:
        records.open_batch("B1", "GW", 5, "tester")
    with mounted("--bind", "-o", "ro", str(station_folder), target=station_folder):
        listed = station("batch", "list", cwd=station_folder)
        opened = station("batch", "open", "B2", "--product", "GW", "--quantity", "5", cwd=station_folder)
        doctor = station("doctor", cwd=station_folder)
        verified = station("audit", "verify", cwd=station_folder)

    assert listed.code == 0 and "B1" in listed.out
    assert opened.code == 3 and "error: DB_READ_ONLY" in opened.err
    assert "read-only file system" in doctor.out
    assert verified.code == 0, verified


def _damage_the_audit_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit'").fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_audit_verify_tells_a_damaged_database_from_tampering(station_folder):
    with Records(station_folder / "station.sqlite") as records:
        records.open_batch("B1", "GW", 5, "tester")
    _damage_the_audit_table(station_folder / "station.sqlite")

    done = station("audit", "verify", cwd=station_folder)

    assert done.code == 3, done
    assert "DB_CORRUPT" in done.err
    assert "TAMPERED" not in done.err
    assert "not a sign of tampering" in done.err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_that_cannot_be_written_is_one_warning_not_a_traceback(line, boards):
    logs = line / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "station.log").symlink_to("/dev/full")
    [board] = boards(1)

    done = station("run", "--once", "--ports", board.port, cwd=line)

    assert done.code == 0, done
    assert done.err.count("LOG_UNWRITABLE") == 1
