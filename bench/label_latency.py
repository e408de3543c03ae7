"""Label printing: PASS-to-label-sent latency, and what a slow printer does to the line.

1. Latency. ``--labels`` labels (the sample template, ZPL) go through the real print queue
   (durable JSON store, raw TCP with ~HS host status before and after each job) to the
   loopback printer emulator. Printed: the time ``submit()`` takes (what the line pays) and
   submit-to-sent latency (the printer took the job). Baseline, same run: the same bytes
   sent bare (connect, sendall, close; no queue, no status), so the ratio shows what the
   queue and the status checks add.
2. Throughput. The real line runner provisions ``--boards`` simulated boards (``station
   sim`` in a child process) in parallel, three times: without a printer, with a printer
   that answers at once, and with one that takes ``--slow`` seconds per job. Printed: line
   time of each (the ratios should be ~1.00), PASS-to-label-sent latency (the unit recorded
   to the printer taking the label) and when the last label came out.

Figures only; nothing is asserted.

    python bench/label_latency.py [--labels 200] [--boards 8] [--keygen-ms 1000] [--slow 2]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _row(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (f"{label:<34} n={len(ms):>4}  p50={_pct(ms, 50):8.3f} ms  p99={_pct(ms, 99):8.3f} ms  "
            f"mean={statistics.fmean(ms):8.3f} ms")


def _real_line(args: argparse.Namespace, slow: float | None) -> tuple[float, list[float], float]:
    """One round of ``args.boards`` boards on the real runner; ``slow`` None means no printer.
    Returns the line time, PASS-to-label-sent latencies and when the last label was out."""
    import subprocess

    from station.context import open_station
    from station.demo.line import prepare_folder
    from station.labels.emulator import PrinterEmulator
    from station.labels.queue import MemoryStore
    from station.labels.service import LabelService, RecordsHistory
    from station.labels.settings import load_label_settings
    from station.provisioning.events import AttemptFinished, EventBus
    from station.provisioning.pipeline import Provisioner
    from station.provisioning.ports import ManualPorts
    from station.provisioning.runner import LineRunner

    sample = Path(__file__).resolve().parents[1] / "station" / "labels" / "sample-label.ini"
    proc = subprocess.Popen([sys.executable, "-m", "station", "sim", "--boards", str(args.boards),
                             "--keygen-ms", str(args.keygen_ms)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ports = next(line for line in proc.stdout if line.startswith("ports: ")).removeprefix("ports: ").strip().split(",")
    printer = PrinterEmulator().start() if slow is not None else None
    try:
        with tempfile.TemporaryDirectory() as tmp, open_station(prepare_folder(Path(tmp))) as station:
            station.take_line()
            station.records.open_batch("BENCH", "GW", 1000, "bench")
            labels = None
            if printer is not None:
                printer.set_slow(slow or 0.0)
                settings = load_label_settings({"printer": printer.uri, "template": str(sample),
                                                "io_seconds": str((slow or 0) + 5)}, Path(tmp))
                labels = LabelService(settings, station.config.station_id,
                                      history=RecordsHistory(station.records), store=MemoryStore())
            passed_at: dict[str, float] = {}
            sent_at: dict[str, float] = {}
            bus = EventBus()
            bus.subscribe(lambda e: passed_at.setdefault(e.serial, time.perf_counter())
                          if isinstance(e, AttemptFinished) and e.passed and e.serial else None)
            if labels is not None:
                labels.add_listener(lambda o: sent_at.setdefault(o.serial, time.perf_counter())
                                    if o.state == "printed" else None)
            runner = LineRunner(Provisioner(station.config, station.records, station.claim(), bus=bus), ManualPorts(),
                                batch="BENCH", operator="bench", labels=labels)
            started = time.perf_counter()
            results = runner.run_once(ports)
            line_time = time.perf_counter() - started
            if not all(r.passed for r in results):
                raise RuntimeError("a board FAILed in the benchmark")
            drained = 0.0
            if labels is not None:
                labels.flush(args.boards * ((slow or 0) + 5))
                drained = time.perf_counter() - started - line_time
            runner.stop()
            latencies = [sent_at[s] - passed_at[s] for s in sent_at if s in passed_at]
            if printer is not None and len(set(printer.printed_ids())) != args.boards:
                raise RuntimeError(f"{len(printer.printed_ids())} labels for {args.boards} boards")
            return line_time, latencies, drained
    finally:
        proc.terminate()
        proc.wait()
        if printer is not None:
            printer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--boards", type=int, default=8)
    parser.add_argument("--keygen-ms", type=float, default=1000.0)
    parser.add_argument("--slow", type=float, default=2.0, help="seconds per job of the slow printer")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from station.labels.emulator import PrinterEmulator
    from station.labels.printers import TcpPrinter
    from station.labels.queue import JobOutcome, JsonFileStore, PrintQueue, label_job
    from station.labels.template import LabelData, load_template

    template = load_template(Path(__file__).resolve().parents[1] / "station" / "labels" / "sample-label.ini")

    def jobs(count: int, prefix: str):
        return [label_job(template, LabelData(serial=f"{prefix}{n:06d}", product="ACME-GW-2", batch="B1",
                                              station="LINE1", fingerprint="3F9A01C2B7DE")) for n in range(count)]

    print(f"label printing, {args.labels} labels, {len(jobs(1, 'X')[0].data)} bytes of ZPL each")
    with tempfile.TemporaryDirectory() as folder, PrinterEmulator() as printer:
        bare = []
        for job in jobs(args.labels, "BARE"):
            started = time.perf_counter()
            with socket.create_connection(("127.0.0.1", printer.port), timeout=5) as sock:
                sock.sendall(job.data)
            bare.append(time.perf_counter() - started)
        printer.wait_for_printed(args.labels, timeout=30)

        latencies: list[float] = []

        def listen(outcome: JobOutcome) -> None:
            if outcome.state == "printed" and outcome.latency_seconds is not None:
                latencies.append(outcome.latency_seconds)

        queue = PrintQueue(TcpPrinter("127.0.0.1", printer.port), store=JsonFileStore(Path(folder) / "q.json"),
                           listener=listen).start()
        submits = []
        for job in jobs(args.labels, "SIM"):
            started = time.perf_counter()
            queue.submit(job)
            submits.append(time.perf_counter() - started)
            queue.wait_idle(10)  # one label per PASS: measure each on an idle queue
        queue.stop()
        print(_row("baseline: bare TCP send", bare))
        print(_row("submit() (what the line pays)", submits))
        print(_row("submit-to-sent (queue, ~HS x2)", latencies))
        print(f"ratio submit-to-sent / bare send (p50): {_pct(latencies, 50) / _pct(bare, 50):.2f}")
        printed = printer.printed_ids()
        print(f"printed {len(printed)} jobs, {len(set(printed))} distinct ids")

    print(f"\nthe real line: {args.boards} simulated boards (station sim, {args.keygen_ms:g} ms keygen), "
          f"LineRunner with labels; printer none / fast / {args.slow:g} s per job")
    fast_line = _real_line(args, slow=None)
    with_fast = _real_line(args, slow=0.0)
    with_slow = _real_line(args, slow=args.slow)
    for name, (line_time, latencies, drained) in (("no printer", fast_line), ("fast printer", with_fast),
                                                 (f"{args.slow:g} s printer", with_slow)):
        extra = ""
        if latencies:
            extra = (f", PASS-to-label-sent p50 {_pct(latencies, 50) * 1000:7.1f} ms max {max(latencies) * 1000:7.1f} ms, "
                     f"last label out {drained:5.2f} s after the line")
        print(f"  {name:<14} line {line_time:6.2f} s{extra}")
    print(f"  ratio line time: fast printer / no printer {with_fast[0] / fast_line[0]:.2f}, "
          f"{args.slow:g} s printer / no printer {with_slow[0] / fast_line[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
