"""Throughput of the line runner: 1 board, then 8 boards in parallel.

Prints throughput(8) / throughput(1) (target: at least 7.2). The simulated
boards run in a separate process (``station sim``), as real boards are separate
hardware, at 115200 baud emulated with a realistic key generation time.

    python bench/line_throughput.py [--boards 8] [--baud 115200] [--keygen-ms 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station.context import open_station
from station.demo.line import prepare_folder
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner


def start_sim(count: int, baud: int, keygen_ms: float, first: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "sim", "--boards", str(count), "--baud", str(baud),
         "--keygen-ms", str(keygen_ms), "--first", str(first)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ports: "):
            return proc, line.removeprefix("ports: ").strip().split(",")
    raise RuntimeError("station sim did not print its ports")


def timed_round(runner: LineRunner, ports: list[str]) -> float:
    started = time.perf_counter()
    results = runner.run_once(ports)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.passed]
    if failed:
        raise RuntimeError(f"unexpected FAIL: {failed[0].code} {failed[0].detail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=8)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--keygen-ms", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ini = prepare_folder(Path(tmp))
        with open_station(ini) as station:
            station.take_line()
            station.records.open_batch("BENCH", "GW", 1_000_000, "bench")
            provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
            serial = 1
            timings: dict[int, list[float]] = {1: [], args.boards: []}
            for _ in range(args.rounds):
                for count in (1, args.boards):
                    proc, ports = start_sim(count, args.baud, args.keygen_ms, serial)
                    serial += count
                    try:
                        runner = LineRunner(provisioner, ManualPorts(), batch="BENCH", operator="bench")
                        timings[count].append(timed_round(runner, ports))
                    finally:
                        proc.terminate()
                        proc.wait()

    one = statistics.median(timings[1])
    many = statistics.median(timings[args.boards])
    throughput_one = 1 / one
    throughput_many = args.boards / many
    print(f"baud {args.baud}, keygen {args.keygen_ms:.0f} ms, {args.rounds} rounds (median)")
    print(f"1 board:  {one:.3f} s per round -> {throughput_one * 3600:8.0f} boards/hour")
    print(f"{args.boards} boards: {many:.3f} s per round -> {throughput_many * 3600:8.0f} boards/hour")
    print(f"throughput({args.boards}) / throughput(1) = {throughput_many / throughput_one:.2f} (target >= {0.9 * args.boards:.1f})")


if __name__ == "__main__":
    main()
