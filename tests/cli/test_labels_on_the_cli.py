"""``[serial] require_label = yes`` with ``station run``: labels are scanned into its terminal,
and where there is none to scan into, the command says what to use instead."""

from __future__ import annotations

from cli_helpers import attempts, ini_set, station


def test_run_once_with_required_labels_says_what_to_use_instead(line, boards):
    ini_set(line / "station.ini", "serial", "require_label", "yes")
    [board] = boards(1)

    done = station("run", "--once", "--ports", board.port, cwd=line)

    assert done.code == 3
    assert "LABEL_NEEDS_SCANNER" in done.err and "station provision --port P --label SERIAL" in done.err
    assert attempts(line) == []


def test_run_without_a_terminal_for_the_scanner_says_so(line, boards):
    ini_set(line / "station.ini", "serial", "require_label", "yes")
    [board] = boards(1)

    done = station("run", "--ports", board.port, cwd=line)

    assert done.code == 3
    assert "LABEL_NEEDS_SCANNER" in done.err and "the app" in done.err


def test_provision_with_a_required_label_missing_is_no_attempt(line, boards):
    ini_set(line / "station.ini", "serial", "require_label", "yes")
    [board] = boards(1)

    done = station("provision", "--port", board.port, cwd=line)

    assert done.code == 3
    assert "LABEL_REQUIRED" in done.err
    assert attempts(line) == []


def test_provision_with_the_scanned_label_passes(line, boards):
    ini_set(line / "station.ini", "serial", "require_label", "yes")
    [board] = boards(1)

    done = station("provision", "--port", board.port, "--label", board.serial, cwd=line)

    assert done.code == 0, done
