"""How long a conformance run takes on a good board, against the wire time of its bytes.

    python bench/conformance_time.py [--baud 115200] [--runs 3] [--board sim|c-agent|both]

Starts a good board (the Python simulator and/or the C reference agent, both emulating a UART
at ``--baud``), runs ``flashing.conformance.run_conformance`` on it ``--runs`` times and prints,
per run and as a median, the measured seconds, the wire seconds of the bytes the run moved
((sent + received) * 10 / baud, 8N1) and their ratio: the baseline is measured in the same
run. Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from board_exchange import CAgentProcess

from flashing.conformance import ConformanceReport, run_conformance
from flashing.sim import SimulatedBoard


def start(kind: str, baud: int):  # type: ignore[no-untyped-def]
    if kind == "c-agent":
        return CAgentProcess("SN0000001", baud)
    return SimulatedBoard("SN0000001", baud=baud).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=115200, help="emulated UART speed (default 115200)")
    parser.add_argument("--runs", type=int, default=3, help="conformance runs per board (default 3)")
    parser.add_argument("--board", choices=("sim", "c-agent", "both"), default="both")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.baud < 1:
        parser.error("--runs and --baud must be positive")
    kinds = ["sim", "c-agent"] if args.board == "both" else [args.board]
    print(f"baud={args.baud} runs={args.runs}")
    print(f"{'board':>8}  {'run':>6}  {'rules':>5}  {'measured_s':>10}  {'wire_s':>7}  {'ratio':>6}  verdict")
    for kind in kinds:
        board = start(kind, args.baud)
        reports: list[ConformanceReport] = []
        try:
            for index in range(args.runs):
                report = run_conformance(board.port, baudrate=args.baud)
                reports.append(report)
                print(
                    f"{kind:>8}  {index + 1:>6}  {len(report.rules):>5}  {report.seconds:>10.2f}  "
                    f"{report.wire_seconds:>7.2f}  {report.seconds / report.wire_seconds:>6.2f}  "
                    f"{'PASS' if report.passed else 'FAIL'}"
                )
        finally:
            board.stop()
        measured = statistics.median(r.seconds for r in reports)
        wire = statistics.median(r.wire_seconds for r in reports)
        print(f"{kind:>8}  {'median':>6}  {len(reports[0].rules):>5}  {measured:>10.2f}  {wire:>7.2f}  {measured / wire:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
