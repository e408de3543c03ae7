"""The crash-kill campaign (issue 9, part 2) at full size; prints its figures.

A batch of simulated boards (``station sim`` processes) is provisioned by real
``station run --ports ... --once`` processes that are SIGKILLed at random moments and
restarted with the boards not yet passed; after every kill the database is checked
(integrity, open attempts aborted by take_line, audit chain, PASS attempts in the
allow-list), and at the end the allow-list is synced to a loopback DynamoDB-compatible
server and the table compared with the PASS set. The engine is
tests/campaign/campaign_crash_engine.py, the same the tests run.

    python bench/campaign_crash.py --boards 50 --kills 20 --seed 1

Exit code 0 when the campaign found no problem, 1 otherwise. POSIX only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "campaign")]  # this checkout, and the engine

from campaign_crash_engine import LOOPBACK_AWS_ENV, run_crash_campaign  # noqa: E402
from campaign_fault_engine import campaign_seed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="default: $CAMPAIGN_SEED or random")
    parser.add_argument("--parallel", type=int, default=10, help="boards per station run")
    parser.add_argument("--no-sync", action="store_true", help="skip the final sync to a loopback DynamoDB")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else campaign_seed()
    print(f"crash-kill campaign: {args.boards} boards, {args.kills} kills, seed {seed}", flush=True)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(LOOPBACK_AWS_ENV)  # dummy credentials: the server is on loopback
    with tempfile.TemporaryDirectory(prefix="campaign-crash-") as tmp:
        if args.no_sync:
            report = run_crash_campaign(Path(tmp) / "station", boards=args.boards, kills=args.kills, seed=seed,
                                        parallel=args.parallel, echo=lambda t: print(t, flush=True))
        else:
            from station.sync.local_server import LocalDynamo

            with LocalDynamo() as dynamo:
                report = run_crash_campaign(Path(tmp) / "station", boards=args.boards, kills=args.kills,
                                            seed=seed, parallel=args.parallel, endpoint_url=dynamo.endpoint_url,
                                            echo=lambda t: print(t, flush=True))
    print("\n".join(report.lines()))
    return 1 if report.all_problems else 0


if __name__ == "__main__":
    sys.exit(main())
