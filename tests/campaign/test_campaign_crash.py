"""Issue 9, part 2: the crash-kill campaign.

A batch of 50 simulated boards (``station sim`` processes) is provisioned by real
``station run --ports ... --once`` processes, which are SIGKILLed at random moments and
restarted with the boards not yet passed. After every kill: integrity_check ok, no attempt
left open once the line is taken (aborted instead), the audit chain verifies, every PASS
attempt has its unit allowed. At the end a sync through the station's sync API to the
loopback DynamoDB leaves exactly the PASS set in the table. See campaign_crash_engine.py.

Short (default suite): 50 boards, 3 kills. Long (``-m slow``): 50 boards, 20 kills.
"""

from __future__ import annotations

import os
import uuid

import pytest
from campaign_crash_engine import LOOPBACK_AWS_ENV, run_crash_campaign
from campaign_fault_engine import SEED_ENV, campaign_seed

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL, flock and ptys are POSIX-only")


@pytest.fixture
def loopback_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region for the loopback server; nothing from the shell."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in LOOPBACK_AWS_ENV.items():
        monkeypatch.setenv(name, value)


def run_campaign(tmp_path, endpoint_url: str, kills: int, boards: int = 50) -> None:
    seed = campaign_seed()
    print(f"\ncrash-kill campaign: {boards} boards, {kills} kills, seed {seed} (replay with {SEED_ENV}={seed})")
    report = run_crash_campaign(
        tmp_path / "station", boards=boards, kills=kills, seed=seed, endpoint_url=endpoint_url,
        table=f"crash-{uuid.uuid4().hex[:12]}", echo=print,
    )
    text = "\n".join(report.lines())
    print(text)
    assert len(report.kills) == kills, text
    assert not report.all_problems, text
    assert report.units == boards and report.synced_items == boards, text
    assert report.attempts.get("pass") == boards, text
    assert "running" not in report.attempts and "fail" not in report.attempts, text
    assert report.attempts.get("aborted", 0) == sum(k.open_attempts for k in report.kills), text


def test_campaign_crash_short(tmp_path, dynamodb_endpoint, loopback_aws):
    run_campaign(tmp_path, dynamodb_endpoint, kills=2, boards=30)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_campaign_crash_long(tmp_path, dynamodb_endpoint, loopback_aws):
    run_campaign(tmp_path, dynamodb_endpoint, kills=20)
