"""Startup problems become dialogs that say what to do; unexpected errors are logged and
shown, not dumped; ``station user`` manages PIN users (issue: the operator app)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gui import app as gui_app
from gui import errors as gui_errors
from records import DatabaseLocked
from station.cli import main as station_main
from station.context import open_station
from station.errors import ClaimError, ConfigError
from station.locks import LockBusy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shown(monkeypatch):
    """Startup dialogs recorded instead of shown (they are modal)."""
    problems: list[gui_errors.Problem] = []
    monkeypatch.setattr(gui_app, "show_error", lambda parent, exc: problems.append(gui_errors.describe(exc)))
    return problems


def test_no_config_says_where_to_start_and_exits_3(qapp, shown, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    assert gui_app.main([]) == 3
    (problem,) = shown
    assert problem.code == "CONFIG_MISSING"
    assert "--demo" in problem.hint


def test_a_bad_config_is_named(qapp, shown, tmp_path):
    ini = tmp_path / "station.ini"
    ini.write_text("[station]\nid = X\n[serial]\nrequire_label = perhaps\n")
    assert gui_app.main(["--config", str(ini)]) == 3
    assert "require_label" in shown[0].text


def test_an_unreadable_claim_key_is_explained(qapp, shown, station_folder):
    key = next((station_folder / "demo-claim").glob("*key*"))
    key.chmod(0o644)  # readable by others: refused
    assert gui_app.main(["--config", str(station_folder / "station.ini")]) == 3
    assert shown[0].title == "The claim certificate or key cannot be used"
    assert shown[0].code.startswith("CLAIM_")


def test_a_line_taken_by_another_process_is_explained(qapp, shown, station_folder):
    with open_station(station_folder / "station.ini") as other:
        other.take_line()
        assert gui_app.main(["--config", str(station_folder / "station.ini")]) == 3
    assert shown[0].title == "The line is already in use"
    assert "Close the other station window" in shown[0].hint


@pytest.mark.parametrize(
    ("exc", "title"),
    [
        (DatabaseLocked("station.sqlite is locked"), "The station database is locked"),
        (ConfigError("[serial] pattern: bad"), "The station configuration is wrong"),
        (ClaimError("key unreadable", code="CLAIM_FILE_UNREADABLE"), "The claim certificate or key cannot be used"),
        (LockBusy("busy"), "The line is already in use"),
        (ZeroDivisionError("boom"), "Something unexpected went wrong"),
    ],
)
def test_every_problem_has_a_title_and_what_to_do(exc, title):
    problem = gui_errors.describe(exc)
    assert problem.title == title
    assert problem.hint
    assert "Traceback" not in problem.as_text()


def test_the_excepthook_logs_and_shows_a_dialog_instead_of_a_traceback(qapp, monkeypatch, caplog):
    seen = []
    monkeypatch.setattr(gui_errors, "_show_unexpected", seen.append)
    try:
        raise RuntimeError("kaboom")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR):
            gui_errors.handle_exception(type(exc), exc, exc.__traceback__)
    assert [str(e) for e in seen] == ["kaboom"]
    assert "unexpected error" in caplog.text
    assert any(r.exc_info for r in caplog.records)


def test_user_add_list_remove(station_folder, monkeypatch):
    from station.cli import users as user_commands

    runner = CliRunner()
    config = ["--config", str(station_folder / "station.ini")]
    no_terminal = runner.invoke(station_main, [*config, "user", "add", "QA0", "--role", "qa"], input="1357\n")
    assert no_terminal.exit_code == 2 and "PIN_NEEDED" in no_terminal.output and "--pin-stdin" in no_terminal.output
    monkeypatch.setattr(user_commands, "has_terminal", lambda: True)  # a person types the PIN

    added = runner.invoke(station_main, [*config, "user", "add", "SUP1", "--role", "supervisor", "--pin-stdin", "--by", "admin"],
                          input="2468\n")
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(station_main, [*config, "user", "add", "QA1", "--role", "qa"], input="1357\n1357\n")
    assert prompted.exit_code == 0, prompted.output
    assert "1357" not in prompted.output
    mismatch = runner.invoke(station_main, [*config, "user", "add", "QA2", "--role", "qa"], input="1357\n7531\n1111\n1111\n")
    assert mismatch.exit_code == 0  # asked again after the mismatch
    short = runner.invoke(station_main, [*config, "user", "add", "X", "--role", "qa", "--pin-stdin"], input="12\n")
    assert short.exit_code == 2 and "PIN_TOO_SHORT" in short.output
    again = runner.invoke(station_main, [*config, "user", "add", "SUP1", "--role", "qa", "--pin-stdin"], input="9999\n")
    assert again.exit_code == 3 and "USER_EXISTS" in again.output

    listed = runner.invoke(station_main, [*config, "user", "list", "--json"])
    assert listed.exit_code == 0
    users = {u["name"]: u["role"] for u in json.loads(listed.output)}
    assert users == {"QA1": "qa", "QA2": "qa", "SUP1": "supervisor"}
    assert "SUP1" in runner.invoke(station_main, [*config, "user", "list"]).output

    with open_station(station_folder / "station.ini") as station:
        assert station.records.check_pin("SUP1", "2468").role == "supervisor"
        assert station.records.check_pin("SUP1", "2469") is None
        entry = [e for e in station.records.audit_entries(subject="SUP1") if e.action == "user.add"][0]
        assert entry.actor == "admin"
    conn = sqlite3.connect(station_folder / "station.sqlite")
    hashes = [row[0] for row in conn.execute("SELECT pin_hash FROM users")]
    conn.close()
    assert all(h.startswith("scrypt$") and "2468" not in h for h in hashes)

    removed = runner.invoke(station_main, [*config, "user", "remove", "QA2"])
    assert removed.exit_code == 0, (removed.output, removed.exception)
    missing = runner.invoke(station_main, [*config, "user", "remove", "QA2"])
    assert missing.exit_code == 3 and "USER_NOT_FOUND" in missing.output


def test_the_demo_runs_offscreen_with_no_setup_and_quits(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    shot = tmp_path / "demo.png"
    result = subprocess.run(
        [sys.executable, "-m", "gui.app", "--demo", "--dir", str(tmp_path / "demo"), "--boards", "2",
         "--keygen-ms", "0", "--sign-in", "TRAINEE", "--screenshot", str(shot), "--quit-after", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert "Traceback" not in result.stderr
    with open_station(tmp_path / "demo" / "station.ini") as station:
        attempts = station.records.attempts()
    assert len(attempts) == 2
    assert {a.operator for a in attempts} == {"TRAINEE"}
    assert sorted(a.result for a in attempts) == ["fail", "pass"]


def test_the_app_survives_a_long_day_of_qt_calls(tmp_path):
    """PySide6 6.12 on Python 3.11 loses a reference to None per Qt setter call and to True per
    emit; without gui.qt_compat the interpreter aborts after a few thousand calls."""
    script = (
        "import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "import gui\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "class E(QObject):\n    sig = Signal(object)\n"
        "e, label = E(), QLabel()\n"
        "for i in range(200_000):\n    label.setText('x'); e.sig.emit(i)\n"
        "print('alive')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "alive" in result.stdout
