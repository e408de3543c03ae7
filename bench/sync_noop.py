"""Cost of a no-op sync on a station database of 1,000,000 units, all synced.

The sync must answer "nothing to send" from the partial index of pending rows and make no
cloud call at all: the client factory given here raises if it is ever called. The run is
timed whole (count query + recording the run in sync_runs), repeated, and compared with
the bare ``count_pending_sync()`` query. Target: at most 0.1 s. Never asserts on time.

    python bench/sync_noop.py [--units 1000000] [--runs 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from records import Records
from station.sync.engine import AllowlistSync


def build_database(path: Path, units: int) -> None:
    """Bulk SQL (bench only): ``units`` units at rev 1, all confirmed (synced_rev 1)."""
    Records(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO batches VALUES ('B1', 'sensor-v2', ?, '2026-01-01T00:00:00.000Z', "
            "'bench', NULL, NULL)",
            [units],
        )
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO units
            SELECT printf('SN%08d', i), 'B1', 'sensor-v2', 'allowed', printf('%064x', i),
                   'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1',
                   'BENCH-ST01', 'bench', '2026-01-01T00:00:00.000Z',
                   '2026-01-01T00:00:00.000Z', 1, 1, NULL, '2026-01-01T00:00:00.000Z'
            FROM n
            """,
            [units],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def no_client() -> None:
    raise AssertionError("a no-op sync must not create a DynamoDB client")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "station.sqlite"
        started = time.perf_counter()
        build_database(path, args.units)
        print(f"built {args.units:,} synced units in {time.perf_counter() - started:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
        with Records(path) as records:
            assert records.count_units() == args.units
            sync = AllowlistSync(records, no_client, station_id="BENCH-ST01",
                                 table_name="unused")
            runs, counts = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                report = sync.run()
                runs.append(time.perf_counter() - started)
                assert report.ok and report.sent == 0 and report.pending_left == 0
                started = time.perf_counter()
                records.count_pending_sync()
                counts.append(time.perf_counter() - started)
            print(f"count_pending_sync() alone: median {statistics.median(counts) * 1e3:.3f} ms")
            print(f"no-op sync run ({args.runs} runs, incl. recording the run): "
                  f"median {statistics.median(runs) * 1e3:.2f} ms, "
                  f"max {max(runs) * 1e3:.2f} ms, first {runs[0] * 1e3:.2f} ms")
            print(f"cloud calls: 0 (the client factory was never called); "
                  f"runs recorded: {records.last_sync()['id']}")
            print(f"\nno-op sync on {args.units:,} units: {statistics.median(runs):.4f} s "
                  f"(target <= 0.1 s)")


if __name__ == "__main__":
    main()
