"""How long does the operator window's event loop stall while 16 boards run, the cloud
sync runs and QA exports a report?

A 5 ms QTimer runs on the UI thread; every gap between its ticks beyond 5 ms is
time the UI could not react. The real window (main_window.MainWindow, offscreen, at
1366x768) watches 16 slots that are kept busy: the simulated boards run in a separate
process (``station sim``, as real boards are separate hardware) at 115200 baud;
each board that finishes is unplugged and the next one plugged in. Meanwhile "Sync now"
is pressed every ``--sync-every`` s (against the loopback DynamoDB-compatible server, in
its own process as the cloud is elsewhere; ``--demo-cloud`` starts it as ``station-gui
--demo`` does, through the app's DemoCloud)
and a report of the batch is exported every ``--export-every`` s (``--format``, on the
worker thread as the QA tab does). Prints p50, p99 and the worst gap against the goals
(worst <= 50 ms, p99 <= 16 ms), and the same figures for the idle window measured in the
same run as the baseline.

    python bench/gui_stall.py [--slots 16] [--boards 96] [--keygen-ms 1000] [--idle-seconds 2]
                              [--sync-every 2] [--export-every 3] [--format pdf] [--no-cloud]
                              [--demo-cloud] [--existing-units 100000]

``--existing-units N`` runs the line into a batch that already holds N units (the report
benchmark's database): the station a line has after days of work, where the batch bar,
the units table and the exports read a big batch.
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

from gui import worker
from gui.demo import DemoSlots, demo_slot_names
from gui.line import LineSession
from gui.main_window import MainWindow
from gui.report_export import export_in_background
from gui.theme import apply_theme
from station.context import open_station
from station.demo.line import prepare_folder
from station.provisioning.runner import SlotState

TICK_MS = 5


def stand_in(niceness: int):
    """How a stand-in for another machine (the boards, the cloud) is started: at ``niceness``,
    so that on this one PC it takes only the CPU the station leaves, as the real ones take none."""
    return (lambda: os.nice(niceness)) if niceness else None


def start_sim(count: int, baud: int, keygen_ms: float, niceness: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "sim", "--boards", str(count), "--baud", str(baud),
         "--keygen-ms", str(keygen_ms)],
        stdout=subprocess.PIPE, text=True, preexec_fn=stand_in(niceness),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ports: "):
            return proc, line.removeprefix("ports: ").strip().split(",")
    raise RuntimeError("station sim did not print its ports")


def start_cloud(ini: Path, niceness: int) -> tuple[subprocess.Popen[str], str]:
    """``station cloud local`` in a child process, with the station's table made; its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "station", "--config", str(ini), "cloud", "local", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, preexec_fn=stand_in(niceness))
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        if line.startswith("DynamoDB-compatible server at "):
            url = line.split()[3]
        if line.startswith("Press Ctrl-C"):
            return proc, url
    raise RuntimeError("station cloud local did not start")


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
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--boards", type=int, default=96, help="boards provisioned in total (waves of --slots)")
    parser.add_argument("--sync-every", type=float, default=2.0, help="press Sync now every N s (0: never)")
    parser.add_argument("--export-every", type=float, default=3.0, help="export a report every N s (0: never)")
    parser.add_argument("--format", default="pdf", choices=("html", "csv", "json", "pdf"))
    parser.add_argument("--no-cloud", action="store_true", help="no local DynamoDB server (no sync)")
    parser.add_argument("--demo-cloud", action="store_true",
                        help="start the DynamoDB-compatible server as the demo app does (gui.demo.DemoCloud)")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--keygen-ms", type=float, default=1000.0)
    parser.add_argument("--idle-seconds", type=float, default=2.0)
    parser.add_argument("--existing-units", type=int, default=0,
                        help="the batch already holds this many units (built by bulk SQL before the window opens)")
    parser.add_argument("--stand-in-niceness", type=int, default=10,
                        help="nice value of the simulated boards and cloud, which are other machines on a real "
                             "line (0: compete with the app as equals)")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as tmp:
        ini = prepare_folder(Path(tmp) / "station")
        batch = "BENCH"
        if args.existing_units:
            import report_speed

            database = Path(tmp) / "station" / "station.sqlite"
            built = report_speed.build_database(database, args.existing_units)
            with open(database, "rb") as written:  # built without syncs: not the disk's writeback on the clock
                os.fsync(written.fileno())
            batch = report_speed.BATCH
            print(f"station holds {built['units']:,} units, {built['attempts']:,} attempts in batch {batch}")
        station = open_station(ini)
        station.take_line()
        if not args.existing_units:
            station.records.open_batch(batch, "GW", args.boards, "bench")
        cloud = cloud_proc = None
        if not args.no_cloud and args.sync_every > 0 and args.demo_cloud:
            from gui.demo import DemoCloud

            cloud = DemoCloud()
            cloud.start(station)  # points station.config.cloud at a loopback server
        elif not args.no_cloud and args.sync_every > 0:
            from dataclasses import replace

            cloud_proc, url = start_cloud(ini, args.stand_in_niceness)
            station.config = replace(station.config, cloud=replace(station.config.cloud, endpoint_url=url))
        ports = DemoSlots(demo_slot_names(args.slots))  # a fixture: the next board goes into a freed slot
        line = LineSession(station, station.claim(), ports, poll_interval=0.1)
        window = MainWindow(station, line, fixed_ports=ports.names)
        window.resize(1366, 768)
        window.show()
        line.start()
        window.signed_in(batch, "operator")
        window.use_batch(batch)
        meter = GapMeter(app)
        exports: list[Path] = []

        idle = meter.run(lambda: False, args.idle_seconds)

        sim, sim_ports = start_sim(args.boards, args.baud, args.keygen_ms, args.stand_in_niceness)
        waiting = list(sim_ports)
        done: set[int] = set()

        def keep_busy() -> None:
            """A finished board is taken out of its slot; a free slot gets the next board."""
            for name, tile in window.tiles.items():
                slot = tile.slot
                if slot.present and slot.state in (SlotState.PASS, SlotState.FAIL) and slot.attempt_id not in done:
                    done.add(slot.attempt_id or -len(done) - 1)
                    ports.unplug(name)
            taken = ports.scan()
            for name, tile in window.tiles.items():
                if waiting and name not in taken and not tile.slot.present and tile.slot.state != SlotState.RUNNING:
                    ports.plug(waiting.pop(0), name)

        feeder = QTimer()
        feeder.setInterval(50)
        feeder.timeout.connect(keep_busy)
        feeder.start()
        syncer = QTimer()
        if cloud is not None or cloud_proc is not None:
            syncer.setInterval(int(args.sync_every * 1000))
            syncer.timeout.connect(window.sync.sync_now)
            syncer.start()
        exporter = QTimer()
        out = Path(tmp) / "reports"
        out.mkdir()

        def export() -> None:
            if worker.busy() < 2:  # one export at a time, as a person clicking would
                target = out / f"report-{len(exports)}.{args.format}"
                exports.append(target)
                export_in_background(window.qa_tab, station, batch, args.format, target)

        if args.export_every > 0:
            exporter.setInterval(int(args.export_every * 1000))
            exporter.timeout.connect(export)
            exporter.start()
        started = time.monotonic()
        try:
            busy = meter.run(lambda: len(done) >= args.boards, limit_s=600)
        finally:
            for timer in (feeder, syncer, exporter):
                timer.stop()
            elapsed = time.monotonic() - started
            deadline = time.monotonic() + 30
            while worker.busy() and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            window.shutdown(timeout=10)
            sim.terminate()
            sim.wait(10)
            if cloud is not None:
                cloud.stop()
            if cloud_proc is not None:
                cloud_proc.terminate()
                cloud_proc.wait(10)
        results = line.runner.results
        passed = sum(r.passed for r in results)
        saved = sum(1 for path in exports if path.exists())
        syncs = window.sync.runs
        last_sync = window.sync.last_outcome
        left = station.records.count_pending_sync() if syncs else 0
        station.close()
    print(f"UI event-loop stalls (gaps of a {TICK_MS} ms QTimer on the UI thread, offscreen window)")
    print(f"  idle window            {figures(idle)}")
    print(f"  {args.slots} slots busy         {figures(busy)}")
    print(f"  boards: {len(results)} provisioned ({passed} PASS) in {elapsed:.1f} s, {args.slots} at a time, "
          f"{args.baud} baud, keygen {args.keygen_ms:.0f} ms, boards and cloud at nice {args.stand_in_niceness}; "
          f"{syncs} sync run(s); "
          f"{saved} {args.format.upper()} report(s) exported")
    if last_sync is not None:
        print(f"  last sync: sent {last_sync.sent}, {last_sync.error or 'no error'}; {left} unit(s) still pending "
              "(boards that passed after it)")
    ordered = sorted(busy)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    worst = ordered[-1]
    idle_p99 = sorted(idle)[min(len(idle) - 1, int(0.99 * len(idle)))]
    print(f"  p99 busy / p99 idle: {p99 / idle_p99:.2f}")
    print(f"  worst stall {worst:.1f} ms (goal <= 50 ms: {'met' if worst <= 50 else 'NOT met'});  "
          f"p99 {p99:.1f} ms (goal <= 16 ms: {'met' if p99 <= 16 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
