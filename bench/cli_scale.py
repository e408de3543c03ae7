"""How ``station`` commands grow with the database: ``units``, each report format and a
no-op ``sync``, on 10k / 100k / 1M-unit stations, as real processes. Prints wall time and
peak memory (the child's max RSS) of each, and the growth factor per 10x units, so the
curve is read against itself in one run. Goals (issue 19): 1M-unit ``units`` and HTML
report each <= 10 s and <= 150 MB; 100k-unit HTML+CSV+PDF <= 1 s. Never asserts on time.
POSIX (peak memory comes from wait4).

    python bench/cli_scale.py [--sizes 10000,100000,1000000] [--skip pdf]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENTRY = "import sys; from station.cli import main; sys.argv[0] = 'station'; main()"
DAY = "2026-01-01T00:00:00.000Z"
LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def build(folder: Path, units: int, endpoint: str) -> Path:
    """A demo station folder whose database holds ``units`` units in batch B1, each with
    one passing attempt, all synced (bulk SQL: a scratch database for the bench)."""
    from records import Records
    from station.demo.line import prepare_folder

    ini = prepare_folder(folder, endpoint_url=endpoint)
    Records(folder / "station.sqlite").close()
    conn = sqlite3.connect(folder / "station.sqlite", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO batches VALUES ('B1', 'GW', ?, ?, 'bench', NULL, NULL)", [units, DAY])
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO units SELECT printf('SN%08d', i), 'B1', 'GW', 'allowed', printf('%064x', i),
                   'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1', 'DEMO-STATION-1',
                   'bench', strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i * 2) || ' seconds'),
                   strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i * 2) || ' seconds'), 1, 1, NULL, ?
            FROM n
            """,
            [units, DAY],
        )
        conn.execute(
            """
            INSERT INTO attempts (serial, batch, port, station_id, operator, driver, result, device_key_sha256,
                                  steps, started_at, finished_at)
            SELECT serial, 'B1', '/dev/ttyACM0', 'DEMO-STATION-1', 'bench', 'agent', 'pass', device_key_sha256,
                   '[]', first_pass_at, last_pass_at FROM units
            """
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ini


def run(ini: Path, *args: str) -> tuple[float, float, int]:
    """Wall seconds, peak MB and exit code of ``station ARGS``."""
    env = {k: v for k, v in os.environ.items() if k != "STATION_CONFIG"}
    env.setdefault("AWS_ACCESS_KEY_ID", "bench")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    # A small launcher starts the command and reads its peak memory with wait4: a child of
    # this (large) bench process would count the bench's own memory from before its exec.
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, sys.executable, "-c", ENTRY, "--config", str(ini),
                           *args], env=env, capture_output=True, text=True, cwd=ini.parent, check=True)
    seconds, peak_kib, code = done.stdout.split()
    return float(seconds), int(peak_kib) / 1024, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skip", default="", help="comma-separated commands to leave out (e.g. pdf)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    from station.sync.local_server import LocalDynamo

    commands = {
        "units": ("units",),
        "units --json": ("units", "--json"),
        "report html": ("report", "--batch", "B1", "--format", "html", "-o", "r.html"),
        "report csv": ("report", "--batch", "B1", "--format", "csv", "-o", "r.csv"),
        "report json": ("report", "--batch", "B1", "--format", "json", "-o", "r.json"),
        "report pdf": ("report", "--batch", "B1", "--format", "pdf", "-o", "r.pdf"),
        "sync (no-op)": ("sync",),
    }
    commands = {k: v for k, v in commands.items() if k.split()[-1] not in skip and k not in skip}
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    baseline = []
    with LocalDynamo() as server, tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            folder = Path(tmp) / f"s{size}"
            started = time.perf_counter()
            ini = build(folder, size, server.endpoint_url)
            run(ini, "table", "create")
            _remember_table(ini)
            print(f"built {size:,} units in {time.perf_counter() - started:.1f} s "
                  f"({(folder / 'station.sqlite').stat().st_size / 1e6:.0f} MB)", flush=True)
            baseline.append(run(ini, "--help"))
            for name, argv in commands.items():
                results[name].append(run(ini, *argv))
    header = "".join(f"{size:>22,}" for size in sizes)
    print(f"\n{'command':<16}{header}   growth per 10x (time, memory)")
    rows = [("station --help", baseline), *results.items()]
    for name, cells in rows:
        line = "".join(f"{s:9.2f} s {m:6.0f} MB{'' if c == 0 else ' !' + str(c):>3}" for s, m, c in cells)
        growth = "  ".join(f"{b[0] / a[0]:.1f}x, {b[1] / a[1]:.1f}x" for a, b in zip(cells, cells[1:], strict=False))
        print(f"{name:<16}{line}   {growth}")
    print("\n(! N: the command exited N; a PDF needs Qt's libraries)")


def _remember_table(ini: Path) -> None:
    """Mark the table as the one the units were synced to, so the sync is a real no-op."""
    from records import Records
    from station.config import load_config
    from station.sync.dynamo import make_client
    from station.sync.engine import table_identity

    config = load_config(ini)
    identity = table_identity(make_client(config.cloud), config.cloud.table)
    with Records(config.database) as records:
        records.set_sync_target(identity or "")


if __name__ == "__main__":
    main()
