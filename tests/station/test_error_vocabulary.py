"""One vocabulary: the CLI, the pipeline and the app say the same thing for one problem."""

from __future__ import annotations

import errno

import pytest
from click.testing import CliRunner

from flashing.errors import BoardTimeout
from records import DatabaseCorrupt, DatabaseFull, DatabaseLocked, DatabaseReadOnly
from station.cli import main
from station.errors import RECORDS_HINTS, ConfigError, explain


@pytest.mark.parametrize("exc", [DatabaseLocked("x"), DatabaseCorrupt("x"), DatabaseFull("x"),
                                 DatabaseReadOnly("x")])
def test_every_database_error_has_its_code_and_hint(exc):
    explained = explain(exc)
    assert explained.code == exc.code
    assert explained.hint == RECORDS_HINTS[exc.code][1]
    assert explained.title == RECORDS_HINTS[exc.code][0]


def test_errors_that_carry_their_own_hint_keep_it():
    board = BoardTimeout("no answer")
    assert explain(board).hint == board.hint and explain(board).code == "BOARD_TIMEOUT"
    config = ConfigError("bad")
    assert explain(config).hint == config.hint


def test_a_full_disk_seen_by_the_os_is_named():
    explained = explain(OSError(errno.ENOSPC, "No space left on device", "/var/station/logs/station.log"))
    assert explained.code == "DISK_FULL" and "Free space" in explained.hint


def test_an_unexpected_error_is_internal_and_says_where_the_details_are():
    explained = explain(ZeroDivisionError("secret detail"))
    assert explained.code == "INTERNAL_ERROR"
    assert "secret detail" not in explained.message and "station log" in explained.message


def test_the_cli_and_the_app_give_the_same_hint_for_a_damaged_database(station_folder):
    gui_errors = pytest.importorskip("gui.errors")
    (station_folder / "station.sqlite").write_bytes(b"this is not a database" * 200)
    result = CliRunner().invoke(main, ["--config", str(station_folder / "station.ini"), "units"])
    assert result.exit_code == 3
    assert "DB_CORRUPT" in result.output
    hint = RECORDS_HINTS["DB_CORRUPT"][1]
    assert " ".join(hint.split()) in " ".join(result.output.split())
    assert gui_errors.describe(DatabaseCorrupt("x")).hint == hint
