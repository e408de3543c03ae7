"""Cold start of ``station-gui``: from launching the process to the first shown window.

Each run is a new process (``python -m gui.app ... --startup-stamp --quit-after``)
that prints the wall-clock time when its window was shown; the figure is that
time minus the moment the process was launched (interpreter start included).
Runs: a station folder (its own config, database and claim files) and the demo
(``--demo``: demo material, simulated boards, the local cloud started after the
window shows). Prints the first run, the median and the spread (target: <= 2 s).
Uses the offscreen platform unless DISPLAY is set.

    python bench/gui_startup.py [--runs 5]
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

from station.demo.line import prepare_folder

ROOT = Path(__file__).resolve().parents[1]


def one_start(args: list[str]) -> tuple[float, float]:
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    launched = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "gui.app", *args, "--startup-stamp", "--quit-after", "0.3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    for line in result.stdout.splitlines():
        if line.startswith("STARTUP "):
            _, entered, _, shown = line.split()
            return float(shown) - launched, float(shown) - float(entered)
    raise RuntimeError(f"no startup stamp (exit {result.returncode}): {result.stderr[-1500:]}")


def report(name: str, runs: list[tuple[float, float]]) -> None:
    total = [r[0] for r in runs]
    in_app = [r[1] for r in runs]
    median = statistics.median(total)
    print(f"  {name:22s} first {total[0]:5.2f} s   median {median:5.2f} s   min {min(total):5.2f} s   "
          f"max {max(total):5.2f} s   (median from main() to shown: {statistics.median(in_app):5.2f} s)   "
          f"target <= 2 s: {'met' if median <= 2 else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    platform = "xcb (DISPLAY set)" if os.environ.get("DISPLAY") else "offscreen"
    print(f"station-gui cold start to first shown window, {args.runs} runs each, platform {platform}")
    with tempfile.TemporaryDirectory() as tmp:
        ini = prepare_folder(Path(tmp) / "station")
        report("station folder", [one_start(["--config", str(ini)]) for _ in range(args.runs)])
        demo_dir = Path(tmp) / "demo"
        report("demo (first: setup)", [one_start(["--demo", "--dir", str(demo_dir), "--boards", "0"])
                                       for _ in range(args.runs)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
