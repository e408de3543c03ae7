"""Issue 9, part 1: the fault campaign.

Simulated board sessions (agent boards and nRF91 modems) with faults drawn at random
from one seed, run many at a time through the LineRunner; afterwards no false PASS, every
allow-list row matches what its board really holds, one attempt per session, no orphan
rows, the audit chain intact. See campaign_fault_engine.py and docs/reliability.md.

Short (default suite): about 150 sessions, every fault kind at every step once per driver.
Long (``-m slow``): 5,000 sessions. Replay a run: ``CAMPAIGN_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import os

import pytest
from campaign_fault_engine import (
    AGENT_STEP_KINDS,
    AGENT_STEPS,
    NRF91_STEP_KINDS,
    NRF91_STEPS,
    SEED_ENV,
    Campaign,
    campaign_seed,
    every_fault,
    make_plan,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="simulated boards on pseudo-terminals")

SHORT_SESSIONS = 150
LONG_SESSIONS = 5000


def run_campaign(station, sessions: int) -> None:
    seed = campaign_seed()
    print(f"\nfault campaign: {sessions} sessions, seed {seed} (replay with {SEED_ENV}={seed})")
    plan = make_plan(seed, sessions)
    report = Campaign(station, plan, echo=print).run()
    text = "\n".join(report.lines())
    print(text)
    assert report.sessions == sessions, text
    assert not report.false_pass, text
    assert not report.problems, text
    assert report.passed and report.failed, text
    assert report.attempts_in_db == sessions and report.units_in_db == report.passed, text


def test_campaign_faults_short(station):
    run_campaign(station, SHORT_SESSIONS)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_campaign_faults_long(station):
    run_campaign(station, LONG_SESSIONS)


def test_campaign_plan_is_replayable_from_its_seed():
    assert make_plan(1234, 400) == make_plan(1234, 400)
    assert make_plan(1234, 400) != make_plan(1235, 400)


def test_campaign_short_plan_covers_every_fault_at_every_step():
    plan = make_plan(99, SHORT_SESSIONS)
    faults = {(p.driver, f) for p in plan.sessions for f in p.faults}
    for driver in ("agent", "nrf91"):
        assert {(driver, f) for case in every_fault(driver) for f in case} <= faults
    assert {f"{k}@{s}" for k in AGENT_STEP_KINDS for s in AGENT_STEPS} <= {f for d, f in faults if d == "agent"}
    assert {f"{k}@{s}" for k in NRF91_STEP_KINDS if k != "cme" for s in NRF91_STEPS} <= {
        f for d, f in faults if d == "nrf91"
    }
    assert any(not p.faults for p in plan.sessions if p.driver == "agent")
    assert any(not p.faults for p in plan.sessions if p.driver == "nrf91")
    # exactly one session is the repeated key's first board, and it is expected to PASS
    seeds = [p for p in plan.sessions if p.faults == ("reuse-key",) and p.expect_pass]
    assert len(seeds) == 1 and seeds[0] in plan.rounds[0]
    assert all("reuse-key" not in p.faults for p in plan.rounds[0] if p is not seeds[0])
    assert all(1 <= len(r) <= plan.ports_per_round for r in plan.rounds)
    assert sum(len(r) for r in plan.rounds) == len(plan.sessions) == SHORT_SESSIONS
    assert len({p.index for p in plan.sessions}) == SHORT_SESSIONS


def test_campaign_expectations_follow_the_faults():
    plan = make_plan(7, 600)
    for session in plan.sessions:
        if session.faults == ("reuse-key",) and session.expect_pass:
            continue
        recoverable = {"corrupt-once"} if session.driver == "agent" else {
            "echo", "urc", "lf-only", "explicit-null", "key-present", "no-deviceuuid"}
        kinds = {f.partition("@")[0] for f in session.faults}
        assert session.expect_pass == (kinds <= recoverable), session
