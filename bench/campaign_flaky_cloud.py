"""The flaky-cloud campaign (issue 9, part 3) with its figures printed.

The station's sync (``run_station_sync``, client made by ``station.sync.dynamo``) runs through
a fault-injecting loopback proxy (``tests/campaign_cloud/flaky_proxy.py``) in front of the
DynamoDB-compatible server: throttling (ThrottlingException,
ProvisionedThroughputExceededException), 500 InternalServerError, slow answers, answers
later than the client's read timeout, connections dropped before and after forwarding.
Rounds of changes (revoke, unrevoke, re-provision, new units; half of them while the sync
runs) and hook claims, each round synced until nothing is pending, then judged
(tests/campaign_cloud/cloudcampaign_sync.py says how). Prints the seed, requests, faults by
kind, sync runs to converge, items sent, writes applied and refused, replays and time;
then the same plan without faults (the baseline, same seed) and the ratio. A violated
promise ends the script with exit code 1.

    python bench/campaign_flaky_cloud.py [--units 5000] [--rounds 4] [--fault-rate 0.2]
        [--seed N] [--retry-mode adaptive|standard] [--no-baseline] [--in-process]

The server runs in a child process (no GIL shared with the sync) unless --in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--change-fraction", type=float, default=0.2)
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--retry-mode", choices=("adaptive", "standard"), default="adaptive")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args(argv)

    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "campaign_cloud")]
    from station.sync.local_server import local_dynamo_in_child_process
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    import boto3
    from cloudcampaign_sync import CampaignViolation, FlakyCloudCampaign, FlakyPlan, campaign_seed

    from station.sync.local_server import LocalDynamo

    region = os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    if boto3.session.Session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "bench"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"

    seed = campaign_seed(args.seed)
    plan = FlakyPlan(
        units=args.units, rounds=args.rounds, fault_rate=args.fault_rate,
        change_fraction=args.change_fraction, new_fraction=0.02,
        hook_fraction=max(0.04, min(0.1, 200 / max(1, args.units))),
        read_timeout=args.read_timeout, retry_mode=args.retry_mode,
        replays=min(200, max(20, args.units // 25)), max_runs_per_round=200, seed=seed,
    )
    with contextlib.ExitStack() as stack:
        endpoint = (stack.enter_context(LocalDynamo()).endpoint_url if args.in_process
                    else stack.enter_context(local_dynamo_in_child_process()))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print(f"server {endpoint} ({'in this process' if args.in_process else 'child process'})")
        try:
            flaky = FlakyCloudCampaign(endpoint, region, folder / "flaky", plan).run()
        except CampaignViolation as exc:
            print(f"VIOLATION: {exc}")
            return 1
        print("\n".join(flaky.lines()))
        if args.no_baseline:
            return 0
        print("\nbaseline: the same plan (same seed) without faults")
        from dataclasses import replace

        try:
            clean = FlakyCloudCampaign(endpoint, region, folder / "clean",
                                       replace(plan, fault_rate=0.0)).run()
        except CampaignViolation as exc:
            print(f"VIOLATION: {exc}")
            return 1
        print("\n".join(clean.lines()))
        print(f"\nratio flaky/clean: sync time {flaky.sync_seconds / clean.sync_seconds:.2f}, "
              f"requests {flaky.requests / max(1, clean.requests):.2f}, "
              f"sync runs {flaky.sync_runs / max(1, clean.sync_runs):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
