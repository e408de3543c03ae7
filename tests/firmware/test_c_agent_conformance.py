"""The conformance checker against the C reference agent on a pty: its first customer in C."""

from __future__ import annotations

import json

import pytest

from flashing.conformance import EXIT_PASS, conformance_command, run_conformance

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("sanitized", [False, True], ids=["c99-werror", "asan-ubsan"])
def test_the_c_agent_passes_every_rule(c_agent, sanitized):
    agent = c_agent("SN0000777", sanitized=sanitized)
    report = run_conformance(agent.port)
    assert report.passed, "\n".join(report.lines())
    assert report.protocol == "1.1" and report.model == "AGENT-C-POSIX"
    assert [r.name for r in report.rules if r.passed is None] == ["framing.above-max-payload"]


def test_the_c_agent_with_a_small_max_payload_write_protection_and_logs_passes_every_rule(c_agent):
    agent = c_agent("SN0000777", "--max-payload", "128", "--write-protect", "--logs")
    report = run_conformance(agent.port)
    assert report.passed, "\n".join(report.lines())
    assert report.rule("framing.above-max-payload").passed is True
    assert report.rule("commit.later-writes").detail.startswith("write-protected")
    assert "text chunk" in report.rule("framing.board-frames-valid").detail


def test_conformance_command_prints_json_for_ci_and_exits_0(c_agent, capsys):
    agent = c_agent()
    code = conformance_command(agent.port, as_json=True)
    document = json.loads(capsys.readouterr().out)
    assert code == EXIT_PASS == document["exit_code"]
    assert document["passed"] is True
    assert {rule["status"] for rule in document["rules"]} <= {"PASS", "SKIP"}
