"""A supervisor's override on the command line is checked as in the app: their name and PIN."""

from __future__ import annotations

from cli_helpers import station

from records import Records

PIN = "7391-pin"


def _with_unit_and_users(line):
    with Records(line / "station.sqlite") as records:
        records.add_user("sam", "supervisor", PIN, actor="tester")
        records.add_user("olga", "operator", PIN, actor="tester")
        attempt = records.start_attempt(port="p", station_id="S", operator="tester", driver="agent", batch="B1")
        records.finish_attempt_pass(attempt, serial="SIM000001", batch="B1", product="GW", device_key_sha256="a" * 64,
                                    claim_cert_sha256="b" * 64, station_id="S", operator="tester", steps=[])


def _status(line) -> str:
    with Records(line / "station.sqlite") as records:
        return records.get_unit("SIM000001").status


def test_revoke_with_the_supervisors_pin_is_done_in_their_name(line):
    _with_unit_and_users(line)

    done = station("revoke", "SIM000001", "--reason", "RMA", "--by", "sam", "--pin-stdin", cwd=line, stdin=PIN + "\n")

    assert done.code == 0, done
    assert _status(line) == "revoked"
    with Records(line / "station.sqlite") as records:
        assert records.audit_entries(subject="SIM000001")[-1].actor == "sam"


def test_revoke_with_a_wrong_pin_changes_nothing(line):
    _with_unit_and_users(line)

    done = station("revoke", "SIM000001", "--reason", "RMA", "--by", "sam", "--pin-stdin", cwd=line, stdin="0000-x\n")

    assert done.code == 3
    assert "SUPERVISOR_PIN_WRONG" in done.err
    assert _status(line) == "allowed"


def test_an_operators_pin_is_no_supervisors_pin(line):
    _with_unit_and_users(line)

    done = station("revoke", "SIM000001", "--reason", "RMA", "--by", "olga", "--pin-stdin", cwd=line, stdin=PIN + "\n")

    assert done.code == 3
    assert _status(line) == "allowed"


def test_an_unknown_name_is_refused(line):
    _with_unit_and_users(line)

    done = station("revoke", "SIM000001", "--reason", "x", "--by", "nobody", "--pin-stdin", cwd=line, stdin=PIN + "\n")

    assert done.code == 3
    with Records(line / "station.sqlite") as records:
        assert "nobody" not in [e.actor for e in records.audit_entries()]


def test_without_a_terminal_or_pin_stdin_the_command_says_how_to_give_the_pin(line):
    _with_unit_and_users(line)

    done = station("revoke", "SIM000001", "--reason", "RMA", "--by", "sam", cwd=line)

    assert done.code == 3
    assert "PIN_NEEDED" in done.err and "--pin-stdin" in done.err
    assert _status(line) == "allowed"


def test_reprovision_by_nobody_is_refused_before_a_board_is_touched(line, boards):
    _with_unit_and_users(line)
    [board] = boards(1)

    done = station("provision", "--port", board.port, "--reprovision", "--by", "nobody", "--reason", "x",
                   "--pin-stdin", cwd=line, stdin="whatever\n")

    assert done.code == 3
    assert "SUPERVISOR_PIN_WRONG" in done.err
    assert board.requests_seen == []


def test_closing_a_batch_needs_a_supervisor(line):
    _with_unit_and_users(line)

    refused = station("batch", "close", "B1", "--by", "olga", "--pin-stdin", cwd=line, stdin=PIN + "\n")
    closed = station("batch", "close", "B1", "--by", "sam", "--pin-stdin", cwd=line, stdin=PIN + "\n")

    assert refused.code == 3
    assert closed.code == 0, closed
    with Records(line / "station.sqlite") as records:
        assert records.get_batch("B1").closed_by == "sam"


def test_user_add_without_a_terminal_says_how_to_give_the_pin(line):
    done = station("user", "add", "kim", "--role", "qa", cwd=line)

    assert done.code == 2
    assert "PIN_NEEDED" in done.err and "--pin-stdin" in done.err
