"""Regression tests for product bugs found while building the reliability campaigns
(docs/reliability.md, "Board side"). The AT parser fixes found by fuzzing are tested in
test_campaign_fuzz.py next to the fuzzing."""

from __future__ import annotations

import os

import pytest

from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner

pytestmark = pytest.mark.skipif(os.name != "posix", reason="simulated boards on pseudo-terminals")


def test_run_once_never_answers_with_an_earlier_calls_result(station, boards):
    """A runner used for several rounds (the campaign's pattern, a GUI, a bench): when a
    board's run ends without a result, run_once used to return the earlier round's result
    for the same port, i.e. report the old PASS for a board that was just refused."""
    (sim,) = boards(1)
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    runner = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester")
    (first,) = runner.run_once([sim.port])
    assert first.passed

    station.records.close_batch("B1", "tester")  # the next run is refused before it starts
    again = runner.run_once([sim.port])

    assert again == []  # was: [first], a stale PASS
    assert len(station.records.attempts()) == 1
