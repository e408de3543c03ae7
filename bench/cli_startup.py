"""Start-up cost of ``station`` commands against a bare ``python -c pass``, measured in the
same run: ``station --help``, ``station sync status`` and ``station units`` on a small
demo station. Prints the median wall time of each and its ratio to the bare start, twice:
with bytecode (as an installed station runs; cached under a folder of the run's own) and with
the station's modules compiled at every start (``PYTHONDONTWRITEBYTECODE=1``, no cache).
Goals (issue 19): ``station --help`` at most 3x a bare Python start; ``--help``, ``sync
status`` and ``units`` in a third of their time when the issue was filed (10.3x a bare start
with bytecode, 13x without: so 3.4x and 4.3x). Never asserts on time.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENTRY = "import sys; from station.cli import main; sys.argv[0] = 'station'; main()"


def timed(argv: list[str], cwd: Path, runs: int, env: dict[str, str]) -> float:
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
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
        base = {k: v for k, v in os.environ.items() if k not in ("STATION_CONFIG", "PYTHONDONTWRITEBYTECODE")}
        modes = {
            "with bytecode": {**base, "PYTHONPYCACHEPREFIX": str(folder / "pycache")},
            "compiled each run": {**base, "PYTHONDONTWRITEBYTECODE": "1",
                                  "PYTHONPYCACHEPREFIX": str(folder / "no-pycache")},
        }
        table: dict[str, list[float]] = {}
        for mode, env in modes.items():
            if mode == "compiled each run":  # the standard library keeps its bytecode: copy it over
                shutil.copytree(folder / "pycache", folder / "no-pycache")
                _drop_station_bytecode(folder / "no-pycache")
            table.setdefault("python -c pass", []).append(timed([*python, "-c", "pass"], folder, args.runs, env))
            for label, cli in (("station --help", ["--help"]), ("station sync status", ["sync", "status"]),
                               ("station units", ["units"]), ("station batch list", ["batch", "list"])):
                table.setdefault(label, []).append(timed([*python, "-c", ENTRY, *cli], folder, args.runs, env))
    print(f"median of {args.runs} runs each, same machine, same run")
    print(f"{'command':<22} {'with bytecode':>22} {'compiled each run':>22}")
    bare = table["python -c pass"]
    for label, seconds in table.items():
        cells = [f"{s:6.3f} s {s / b:5.1f}x bare" for s, b in zip(seconds, bare, strict=True)]
        print(f"{label:<22} {cells[0]:>22} {cells[1]:>22}")
    print("goals: --help <= 3x bare; --help, sync status, units <= 3.4x (with bytecode), 4.3x (compiled)")


def _drop_station_bytecode(cache: Path) -> None:
    """Delete the cached bytecode of this project's packages, keeping the rest."""
    root = Path(__file__).resolve().parent.parent
    mirrored = cache / root.relative_to(root.anchor)
    shutil.rmtree(mirrored, ignore_errors=True)


if __name__ == "__main__":
    main()
