"""Start-up cost of ``station`` commands against a bare ``python -c pass``, measured in the
same run: ``station --help``, ``station sync status`` and ``station units`` on a small
demo station. Prints the median wall time of each and its ratio to the bare start.
Goal (issue 19): ``station --help`` at most 3x a bare Python start. Never asserts on time.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENTRY = "import sys; from station.cli import main; sys.argv[0] = 'station'; main()"


def timed(argv: list[str], cwd: Path, runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "STATION_CONFIG"}
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from records import Records
    from station.demo.line import prepare_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare_folder(folder)
        with Records(folder / "station.sqlite") as records:
            records.open_batch("B1", "GW", 10, "bench")
        python = [sys.executable]
        bare = timed([*python, "-c", "pass"], folder, args.runs)
        rows = [("python -c pass", bare)]
        for label, cli in (("station --help", ["--help"]), ("station sync status", ["sync", "status"]),
                           ("station units", ["units"]), ("station batch list", ["batch", "list"])):
            rows.append((label, timed([*python, "-c", ENTRY, *cli], folder, args.runs)))
    print(f"median of {args.runs} runs each, same machine, same run")
    print(f"{'command':<22} {'seconds':>8} {'x bare python':>14}")
    for label, seconds in rows:
        print(f"{label:<22} {seconds:8.3f} {seconds / bare:14.1f}")


if __name__ == "__main__":
    main()
