"""``station conformance`` as a firmware engineer runs it: no station folder needed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flashing.sim import SimulatedBoard
from station.cli import main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def board():
    started = []

    def start(*faults: str) -> SimulatedBoard:
        sim = SimulatedBoard("SN0000001", faults=list(faults)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def test_a_good_board_conforms_and_exits_0_without_a_station(board, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no station.ini here
    result = CliRunner().invoke(main, ["conformance", "--port", board().port])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert all(line.startswith(("PASS", "SKIP")) for line in lines[:-1])
    assert lines[-1].startswith("CONFORMS")
    assert list(tmp_path.iterdir()) == []


def test_a_board_that_repeats_its_key_fails_the_named_rule_and_exits_1(board):
    result = CliRunner().invoke(main, ["conformance", "--port", board("reuse-key").port, "--json"])
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert [r["name"] for r in document["rules"] if r["status"] == "FAIL"] == ["keygen.fresh-key"]


def test_a_port_that_cannot_be_opened_exits_3_with_a_hint():
    result = CliRunner().invoke(main, ["conformance", "--port", "/dev/does-not-exist-0"])
    assert result.exit_code == 3
    assert "PORT_UNAVAILABLE" in result.output and "what to do" in result.output
