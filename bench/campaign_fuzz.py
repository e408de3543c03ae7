"""The fuzzing campaign (issue 9, part 5) at full size; prints inputs per second and totals.

Runs every property of tests/campaign/campaign_fuzz_props.py (agent frames and payloads,
the AgentBoard driver over a fuzzing link, AT lines and final results, the Nrf91Board
driver over a fuzzing AT port, check_csr) with the long profile: hypothesis-guided examples
plus seeded inputs in batches, over a million in all. Only the typed protocol errors may
come out; a failure prints how to replay it.

    python bench/campaign_fuzz.py                       # long profile, random seed
    python bench/campaign_fuzz.py --seed 1 --profile short
    python bench/campaign_fuzz.py --only check_csr --scale 4

Exit code 0 when no property failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "campaign")]  # this checkout, and the properties

from campaign_fault_engine import campaign_seed  # noqa: E402
from campaign_fuzz_props import LONG, PROPERTIES, SHORT, run_profile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["long", "short"], default="long")
    parser.add_argument("--seed", type=int, default=None, help="default: $CAMPAIGN_SEED or random")
    parser.add_argument("--only", nargs="*", default=None, metavar="PROPERTY",
                        help=f"some of: {', '.join(p.name for p in PROPERTIES)}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the profile's seeded volume")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else campaign_seed()
    profile = LONG if args.profile == "long" else SHORT
    profile = replace(profile, volume_unit=int(profile.volume_unit * args.scale))
    chosen = [p for p in PROPERTIES if args.only is None or p.name in args.only]
    print(f"fuzz campaign: profile {args.profile} (x{args.scale:g}), seed {seed} (replay: CAMPAIGN_SEED={seed})")
    print(f"  {'property':<16}{'guided':>9}{'seeded':>11}{'seconds':>10}{'inputs/s':>11}")
    total_inputs = 0
    failed = []
    started = time.perf_counter()
    for prop in chosen:
        try:
            figures = run_profile(prop, profile, seed, f"campaign-{args.profile}")
        except Exception as exc:  # noqa: BLE001 - a property failed: say which and how to replay, go on
            failed.append(prop.name)
            print(f"  {prop.name:<16}FAILED: {type(exc).__name__}: {str(exc)[:2000]}", flush=True)
            continue
        total_inputs += figures.guided + figures.seeded
        print(f"  {prop.name:<16}{figures.guided:>9,}{figures.seeded:>11,}{figures.seconds:>10.1f}"
              f"{figures.per_second:>11,.0f}", flush=True)
    seconds = time.perf_counter() - started
    print(f"  {'total':<16}{total_inputs:>20,}{seconds:>10.1f}{total_inputs / seconds:>11,.0f}")
    print(f"  failed properties: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
