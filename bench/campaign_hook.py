"""The adversarial-input campaign of the pre-provisioning hook (issue 9, part 4), figures.

Calls the real ``cloud.hook.handler`` with generated events (hand-written generators and
Hypothesis strategies: missing fields, wrong types, huge strings, unicode and control
characters, bad PEM, other keys, revoked and unknown serials, both event shapes and mixed
ones, warm-container sequences, the device's proof of possession), under changing hook
configurations, against real tables (signed rows, a station registry) on the loopback
DynamoDB-compatible server; an independent oracle
(tests/campaign_cloud/cloudcampaign_hook.py) decides every event. Prints the events,
allows, denies by reason code (read from the hook's one JSON log line per call), wrong
decisions and exceptions (both must be 0), answers or log lines that break the hook's
promises, p50/p99 latency of the handler (all events, and those that read the table).
Exit code 1 if anything was wrong.

    python bench/campaign_hook.py [--events 20000] [--hypothesis-share 0.3] [--seed N]
        [--in-process]

The server runs in a child process (no GIL shared with the hook, as real DynamoDB would
not) unless --in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--hypothesis-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args(argv)

    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "campaign_cloud")]
    from station.sync.local_server import local_dynamo_in_child_process
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    import boto3
    from cloudcampaign_hook import run_campaign

    from station.sync.local_server import LocalDynamo

    region = os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", region)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    if boto3.session.Session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "bench"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"

    hypothesis = int(args.events * args.hypothesis_share)
    with contextlib.ExitStack() as stack:
        endpoint = (stack.enter_context(LocalDynamo()).endpoint_url if args.in_process
                    else stack.enter_context(local_dynamo_in_child_process()))
        print(f"server {endpoint} ({'in this process' if args.in_process else 'child process'})")
        figures = run_campaign(endpoint, region, hand=args.events - hypothesis,
                               hypothesis=hypothesis, seed=args.seed, fail_fast=False)
    print("\n".join(figures.lines()))
    tally = figures.tally
    for problem in tally.problems[:20]:
        print("PROBLEM", problem)
    for problem in figures.table_problems[:20]:
        print("TABLE", problem)
    bad = tally.wrong or tally.exceptions or tally.broken or tally.reason_mismatch
    return 1 if bad or figures.table_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
