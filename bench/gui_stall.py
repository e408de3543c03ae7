"""How long does the operator window's event loop stall while 8 boards run?

A 5 ms QTimer runs on the UI thread; every gap between its ticks beyond 5 ms is
time the UI could not react. The real window (main_window.MainWindow, offscreen)
watches 8 slots that are kept busy: the simulated boards run in a separate
process (``station sim``, as real boards are separate hardware) at 115200 baud;
each board that finishes is unplugged and the next one plugged in. Prints p50,
p99 and max of the gaps (target: p99 <= 50 ms), and the same figures for the
idle window measured in the same run as the baseline.

    python bench/gui_stall.py [--slots 8] [--boards 48] [--keygen-ms 1000] [--idle-seconds 2]
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from gui.line import LineSession
from gui.main_window import MainWindow
from gui.theme import apply_theme
from station.context import open_station
from station.demo.line import prepare_folder
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import SlotState

TICK_MS = 5


def start_sim(count: int, baud: int, keygen_ms: float) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "sim", "--boards", str(count), "--baud", str(baud),
         "--keygen-ms", str(keygen_ms)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ports: "):
            return proc, line.removeprefix("ports: ").strip().split(",")
    raise RuntimeError("station sim did not print its ports")


class GapMeter:
    def __init__(self, app: QApplication) -> None:
        self.app = app
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._last = 0

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self._last) / 1e6)
        self._last = now

    def run(self, until, limit_s: float) -> list[float]:
        self.gaps = []
        self.clock.start()
        self._last = 0
        self.timer.start()
        deadline = time.monotonic() + limit_s
        while not until() and time.monotonic() < deadline:
            self.app.processEvents()
            time.sleep(0.0005)  # the event loop's own wait, kept short so ticks are not delayed by us
        self.timer.stop()
        return self.gaps[1:]


def figures(gaps: list[float]) -> str:
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):6.1f} ms   p99 {p99:6.1f} ms   max {ordered[-1]:6.1f} ms   ({len(ordered)} ticks)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--boards", type=int, default=48, help="boards provisioned in total (waves of --slots)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--keygen-ms", type=float, default=1000.0)
    parser.add_argument("--idle-seconds", type=float, default=2.0)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as tmp:
        ini = prepare_folder(Path(tmp) / "station")
        station = open_station(ini)
        station.take_line()
        station.records.open_batch("BENCH", "GW", args.boards, "bench")
        ports = ManualPorts()
        line = LineSession(station, station.claim(), ports, poll_interval=0.1)
        window = MainWindow(station, line)
        window.show()
        line.start()
        window.signed_in("BENCH", "operator")
        meter = GapMeter(app)

        idle = meter.run(lambda: False, args.idle_seconds)

        sim, sim_ports = start_sim(args.boards, args.baud, args.keygen_ms)
        waiting = list(sim_ports)
        done: set[str] = set()

        def keep_busy() -> None:
            for port, tile in list(window.tiles.items()):
                if tile.slot.present and tile.slot.state in (SlotState.PASS, SlotState.FAIL) and port not in done:
                    done.add(port)
                    ports.unplug(port)
            plugged = sum(1 for p in window.tiles.values() if p.slot.present) + len(pending)
            while waiting and plugged < args.slots:
                port = waiting.pop(0)
                pending.add(port)
                ports.plug(port)
                plugged += 1
            pending.difference_update(p for p in list(pending) if p in window.tiles and window.tiles[p].slot.present)

        pending: set[str] = set()
        feeder = QTimer()
        feeder.setInterval(50)
        feeder.timeout.connect(keep_busy)
        feeder.start()
        started = time.monotonic()
        try:
            busy = meter.run(lambda: len(done) >= args.boards, limit_s=600)
        finally:
            feeder.stop()
            elapsed = time.monotonic() - started
            window.shutdown(timeout=10)
            sim.terminate()
            sim.wait(10)
            station.close()
        results = line.runner.results
        passed = sum(r.passed for r in results)
    print(f"UI event-loop stalls (gaps of a {TICK_MS} ms QTimer on the UI thread, offscreen window)")
    print(f"  idle window            {figures(idle)}")
    print(f"  {args.slots} slots busy          {figures(busy)}")
    print(f"  boards: {len(results)} provisioned ({passed} PASS) in {elapsed:.1f} s, {args.slots} at a time, "
          f"{args.baud} baud, keygen {args.keygen_ms:.0f} ms")
    ordered = sorted(busy)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    idle_p99 = sorted(idle)[min(len(idle) - 1, int(0.99 * len(idle)))]
    print(f"  p99 busy / p99 idle: {p99 / idle_p99:.2f}   (target: p99 <= 50 ms: {'met' if p99 <= 50 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
