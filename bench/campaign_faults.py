"""The fault campaign (issue 9, part 1) at full size; prints its figures.

Thousands of simulated board sessions (agent boards and nRF91 modems on pseudo-terminals)
with faults drawn at random from one seed, run 8-16 at a time through the LineRunner; then
the database is judged: false PASS, lost and duplicated records, orphans, the audit chain.
The engine is tests/campaign/campaign_fault_engine.py, the same the tests run.

    python bench/campaign_faults.py --sessions 5000 --seed 1
    python bench/campaign_faults.py --sessions 5000            # a random seed, printed

Exit code 0 when the campaign found no problem, 1 otherwise. POSIX only (ptys).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "campaign")]  # this checkout, and the engine

from campaign_fault_engine import Campaign, campaign_seed, make_plan  # noqa: E402

from station.context import open_station  # noqa: E402
from station.demo.line import prepare_folder  # noqa: E402

FAST_TIMEOUTS = "\n[timeouts]\nanswer_seconds = 0.3\nretries = 2\nstep_retries = 1\nstep_seconds = 20\n"
"""The test suite's station_folder timeouts."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=None, help="default: $CAMPAIGN_SEED or random")
    parser.add_argument("--ports", type=int, default=16, help="most sessions per round (8 at least)")
    parser.add_argument("--nrf91-share", type=float, default=0.35, help="share of random sessions on nRF91 modems")
    parser.add_argument("--no-coverage", action="store_true", help="skip the every-fault-at-every-step sessions")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else campaign_seed()
    print(f"fault campaign: {args.sessions} sessions, seed {seed}", flush=True)
    plan = make_plan(seed, args.sessions, nrf91_share=args.nrf91_share, ports_per_round=args.ports,
                     coverage=not args.no_coverage)
    with tempfile.TemporaryDirectory(prefix="campaign-faults-") as tmp:
        ini = prepare_folder(Path(tmp) / "station")
        ini.write_text(ini.read_text().split("[timeouts]")[0] + FAST_TIMEOUTS)
        with open_station(ini) as station:
            station.take_line()
            station.records.open_batch("B1", "GW", args.sessions, "campaign")
            report = Campaign(station, plan, echo=lambda text: print(text, flush=True)).run()
    print("\n".join(report.lines()))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
