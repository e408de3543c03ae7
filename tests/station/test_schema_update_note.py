"""Opening an older station database that takes a while to bring up to date: the command says
so first (standard error and the log), so a line PC that stays silent for seconds after an
update does not look hung; a small one is brought up to date without a word."""

from __future__ import annotations

import sqlite3

import pytest

from records import Records, schema
from station import context
from station.config import load_config


def database_at_todays_schema(path) -> int:
    """A database at today's schema (each test then adds a migration: it becomes older)."""
    Records(path).close()
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def test_a_big_database_brought_up_to_date_is_announced_on_standard_error(
    station_folder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
):
    database = load_config(station_folder / "station.ini").database
    version = database_at_todays_schema(database)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda db: None])
    monkeypatch.setattr(context, "BIG_DATABASE_BYTES", 0)

    context.open_station(station_folder / "station.ini").close()

    err = capsys.readouterr().err
    assert f"bringing the station database {database} up to date (schema {version} -> {version + 1})" in err


def test_a_small_database_is_brought_up_to_date_without_a_word(
    station_folder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
):
    database_at_todays_schema(load_config(station_folder / "station.ini").database)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda db: None])

    context.open_station(station_folder / "station.ini").close()

    assert capsys.readouterr().err == ""


def test_a_windowed_app_without_standard_error_opens_a_big_older_database_all_the_same(
    station_folder, monkeypatch: pytest.MonkeyPatch,
):
    database_at_todays_schema(load_config(station_folder / "station.ini").database)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda db: None])
    monkeypatch.setattr(context, "BIG_DATABASE_BYTES", 0)
    monkeypatch.setattr("sys.stderr", None)  # pythonw on Windows

    context.open_station(station_folder / "station.ini").close()
