"""The conformance checker against the Python simulator: good boards pass every rule, and each
fault the simulator can show is named by the rule it breaks."""

from __future__ import annotations

import io
import json

import pytest

from flashing.conformance import (
    EXIT_FAIL,
    EXIT_PASS,
    EXIT_PORT,
    RULES,
    conformance_command,
    run_conformance,
)
from flashing.errors import PortUnavailable
from flashing.sim import SimulatedBoard
from flashing.sim.faults import PLAIN_KINDS, STEP_KINDS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim():
    started: list[SimulatedBoard] = []

    def start(*faults: str, **kwargs) -> SimulatedBoard:
        board = SimulatedBoard("SN0000001", faults=list(faults), **kwargs).start()
        started.append(board)
        return board

    yield start
    for board in started:
        board.stop()


# -- good boards ------------------------------------------------------------------------------


def test_a_good_1_1_board_passes_every_rule(sim):
    report = run_conformance(sim().port)
    assert report.passed, "\n".join(report.lines())
    assert report.exit_code == EXIT_PASS
    assert report.protocol == "1.1"
    assert [r.name for r in report.rules] == [spec.name for spec in RULES]


def test_a_1_0_board_passes_every_rule_it_can_be_checked_on(sim):
    report = run_conformance(sim(versions=(1,)).port)
    assert report.passed, "\n".join(report.lines())
    assert report.protocol == "1.0"


def test_a_write_protected_board_passes_and_is_reported_as_write_protected(sim):
    board = sim(write_protect=True)
    report = run_conformance(board.port)
    assert report.passed, "\n".join(report.lines())
    assert report.rule("commit.later-writes").detail.startswith("write-protected")
    assert board.model.state.committed


def test_a_board_that_logs_between_answers_with_delimiters_passes(sim):
    report = run_conformance(sim(logs=True).port)
    assert report.passed, "\n".join(report.lines())
    assert not report.rule("framing.board-frames-valid").detail.startswith("0 text")


def test_commit_false_leaves_the_board_uncommitted_and_skips_the_commit_rules(sim):
    board = sim()
    report = run_conformance(board.port, commit=False)
    assert report.passed
    assert report.rule("commit.accepted").passed is None
    assert not board.model.state.committed


# -- each fault is named by its rule ------------------------------------------------------------

FAULT_RULE = {
    "bad-digest": "read_digest.stored",
    "bad-serial": "read_serial.format",
    "bad-signature": "get_csr.signature",
    "chatter": "link.text-ends-with-delimiter",
    "keygen-fail": "keygen.public-key",
    "replay-broken": "duplicate.not-reexecuted",
    "reuse-key": "keygen.fresh-key",
    "storage-full": "storage.max-objects",
    "version-outside": "hello.version-in-range",
    "wrong-cn": "get_csr.subject",
    "drop@hello": "hello.answer",
    "drop@keygen": "keygen.public-key",
    "refuse@write_end": "duplicate.not-reexecuted",
    "refuse@commit": "commit.incomplete",
    "corrupt-once@get_csr": "framing.board-frames-valid",
    "corrupt@keygen": "keygen.public-key",
    "slow@commit": "timing.answer-within-500ms",
    "stall@read_serial": "framing.resync",
    "garbage@read_serial": "framing.resync",
}
"""Every fault kind of the simulator, with the first rule it makes fail."""


RECOVERED = ("deaf-once@hello", "deaf-once@keygen", "deaf-once@commit")
"""Faults of the link, not of the board: a request lost once is recovered by retransmission."""


def test_every_fault_kind_of_the_simulator_is_checked_here():
    assert {fault.split("@")[0] for fault in (*FAULT_RULE, *RECOVERED)} == STEP_KINDS | PLAIN_KINDS


@pytest.mark.parametrize("fault", RECOVERED)
def test_a_board_that_missed_one_request_passes_every_rule(sim, fault):
    report = run_conformance(sim(fault).port)
    assert report.passed, "\n".join(report.lines())


@pytest.mark.parametrize("fault", sorted(FAULT_RULE))
def test_a_faulty_board_fails_the_rule_its_fault_breaks(sim, fault):
    report = run_conformance(sim(fault).port)
    assert not report.passed
    assert report.exit_code == EXIT_FAIL
    assert report.failed[0].name == FAULT_RULE[fault], "\n".join(report.lines())
    assert report.failed[0].line().startswith("FAIL  §")


@pytest.mark.slow
@pytest.mark.parametrize("step", ["hello", "read_serial", "write_end", "keygen", "get_csr", "commit"])
@pytest.mark.parametrize("kind", sorted(STEP_KINDS - {"corrupt-once", "slow", "deaf-once"}))
def test_every_step_fault_fails_some_rule(sim, kind, step):
    report = run_conformance(sim(f"{kind}@{step}").port)
    assert not report.passed


def test_a_silent_board_stops_the_run_early_instead_of_timing_out_every_rule(sim):
    report = run_conformance(sim("stall@hello").port)
    not_run = [r for r in report.rules if r.detail.startswith("not run")]
    assert len(not_run) > 30
    assert report.seconds < 10


# -- output -------------------------------------------------------------------------------------


def test_lines_are_one_per_rule_with_status_and_section_then_a_summary(sim):
    report = run_conformance(sim("wrong-cn").port)
    lines = report.lines()
    assert len(lines) == len(report.rules) + 1
    assert all(line[:4] in ("PASS", "FAIL", "SKIP") and "  §" in line for line in lines[:-1])
    assert lines[-1].startswith("DOES NOT CONFORM: ")
    failing = next(line for line in lines if "get_csr.subject" in line)
    assert failing.startswith("FAIL  §4.1") and "asked CN=" in failing


def test_to_dict_is_json_with_every_rule(sim):
    document = json.loads(json.dumps(run_conformance(sim().port).to_dict()))
    assert document["passed"] is True and document["exit_code"] == EXIT_PASS
    assert len(document["rules"]) == len(RULES)
    assert set(document["rules"][0]) == {"name", "section", "title", "status", "passed", "detail", "seconds"}


def test_a_port_that_cannot_be_opened_raises_port_unavailable_and_the_command_exits_3():
    with pytest.raises(PortUnavailable):
        run_conformance("/dev/does-not-exist-0")
    out = io.StringIO()
    assert conformance_command("/dev/does-not-exist-0", out=out) == EXIT_PORT
    assert out.getvalue().startswith("PORT_UNAVAILABLE: ")


def test_the_command_exits_1_and_names_the_rule_when_a_board_breaks_one(sim):
    out = io.StringIO()
    assert conformance_command(sim("reuse-key").port, as_json=True, out=out) == EXIT_FAIL
    document = json.loads(out.getvalue())
    assert [r["name"] for r in document["rules"] if r["status"] == "FAIL"] == ["keygen.fresh-key"]


def test_python_m_flashing_conformance_runs_the_checker_without_the_station(sim, capsys):
    from flashing.conformance import main

    assert main(["--port", sim().port, "--no-commit"]) == EXIT_PASS
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("CONFORMS: ")
    assert main(["--port", "/dev/does-not-exist-0", "--json"]) == EXIT_PORT
    assert json.loads(capsys.readouterr().out)["error"] == "PORT_UNAVAILABLE"
