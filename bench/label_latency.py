"""Label printing: PASS-to-label-sent latency, and what a slow printer does to the line.

1. Latency. ``--labels`` labels (the sample template, ZPL) go through the real print queue
   (durable JSON store, raw TCP with ~HS host status before and after each job) to the
   loopback printer emulator. Printed: the time ``submit()`` takes (what the line pays) and
   submit-to-sent latency (the printer took the job). Baseline, same run: the same bytes
   sent bare (connect, sendall, close; no queue, no status), so the ratio shows what the
   queue and the status checks add.
2. Throughput. A line of ``--slots`` slots provisions ``--boards`` boards (each board is
   ``--board-seconds`` of work, a stand-in for the real pipeline) and submits a label at
   each PASS; once with a printer that answers at once and once with one that takes
   ``--slow`` seconds per job. Printed: line time for both (the ratio should be ~1.00) and
   when the last label came out. For contrast, the same line printing synchronously in the
   slot (what the queue avoids).

Figures only; nothing is asserted.

    python bench/label_latency.py [--labels 200] [--boards 8] [--slots 4] [--slow 2]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _row(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (f"{label:<34} n={len(ms):>4}  p50={_pct(ms, 50):8.3f} ms  p99={_pct(ms, 99):8.3f} ms  "
            f"mean={statistics.fmean(ms):8.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--boards", type=int, default=8)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--board-seconds", type=float, default=0.5)
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
        done = threading.Event()

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
        done.set()
        print(_row("baseline: bare TCP send", bare))
        print(_row("submit() (what the line pays)", submits))
        print(_row("submit-to-sent (queue, ~HS x2)", latencies))
        print(f"ratio submit-to-sent / bare send (p50): {_pct(latencies, 50) / _pct(bare, 50):.2f}")
        printed = printer.printed_ids()
        print(f"printed {len(printed)} jobs, {len(set(printed))} distinct ids")

    print(f"\nline of {args.slots} slots, {args.boards} boards x {args.board_seconds:g} s; printer fast vs {args.slow:g} s/job")

    def line(slow: float, synchronous: bool) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as folder, PrinterEmulator() as printer:
            printer.set_slow(slow)
            transport = TcpPrinter("127.0.0.1", printer.port, io_seconds=slow + 5)
            queue = PrintQueue(transport, store=JsonFileStore(Path(folder) / "q.json")).start()
            boards = jobs(args.boards, "LINE")
            lock = threading.Lock()
            started = time.perf_counter()

            def slot() -> None:
                while True:
                    with lock:
                        if not boards:
                            return
                        job = boards.pop(0)
                    time.sleep(args.board_seconds)  # provisioning one board
                    if synchronous:
                        transport.send(job.data)
                    else:
                        queue.submit(job)

            threads = [threading.Thread(target=slot) for _ in range(args.slots)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            line_time = time.perf_counter() - started
            queue.wait_idle(args.boards * (slow + 5))
            printer.wait_for_printed(args.boards, timeout=args.boards * (slow + 5))
            last_label = time.perf_counter() - started
            queue.stop()
            assert len(printer.printed_ids()) == args.boards
            return line_time, last_label

    fast, fast_last = line(0.0, False)
    slow, slow_last = line(args.slow, False)
    print(f"  fast printer, queued:       line {fast:6.2f} s, last label out at {fast_last:6.2f} s")
    print(f"  {args.slow:g} s printer, queued:       line {slow:6.2f} s, last label out at {slow_last:6.2f} s")
    print(f"  ratio line time slow/fast:  {slow / fast:.2f}")
    blocking, _ = line(args.slow, True)
    print(f"  {args.slow:g} s printer, synchronous:  line {blocking:6.2f} s (ratio {blocking / fast:.2f}; what the queue avoids)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
