"""Opening a database: creation, WAL, migrations, refusing newer schemas, lock and corruption."""

import sqlite3
from pathlib import Path

import pytest

from records import (
    DatabaseCorrupt,
    DatabaseLocked,
    Records,
    RecordsError,
    SchemaTooNew,
    schema,
)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        conn.close()


def test_a_new_file_gets_the_latest_schema(db_path):
    Records(db_path).close()
    assert user_version(db_path) == schema.latest_version()
    assert {
        "meta",
        "batches",
        "units",
        "attempts",
        "audit",
        "sync_runs",
        "sync_conflicts",
        "users",
    } <= (table_names(db_path))


def test_missing_parent_directories_are_created(tmp_path):
    path = tmp_path / "data" / "line-1" / "station.sqlite"
    Records(path).close()
    assert path.exists()


def test_the_database_is_in_wal_mode(db_path):
    Records(db_path).close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_connection_enforces_foreign_keys_and_waits_when_busy(db_path):
    with Records(db_path, busy_timeout_s=7.5) as records:
        conn = records._db.conn  # the one place a test looks inside: per-connection pragmas
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7500


def test_an_existing_empty_sqlite_file_is_migrated_from_version_zero(db_path):
    sqlite3.connect(db_path).close()
    assert user_version(db_path) == 0
    Records(db_path).close()
    assert user_version(db_path) == schema.latest_version()


def test_an_older_database_is_migrated_on_open_and_keeps_its_data(db_path, monkeypatch):
    with Records(db_path) as records:
        records.open_batch("B1", "sensor-v2", 10, actor="alice")
    old_version = user_version(db_path)

    def add_notes_column(db):
        db.execute("ALTER TABLE batches ADD COLUMN notes TEXT")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_notes_column])

    with Records(db_path) as records:
        assert records.get_batch("B1").product == "sensor-v2"
        assert records.verify_audit().ok
    assert user_version(db_path) == old_version + 1
    with sqlite3.connect(db_path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(batches)")}
    assert "notes" in columns


def test_opening_an_older_database_announces_the_update_first_and_only_then(db_path, monkeypatch):
    Records(db_path).close()
    old_version = user_version(db_path)
    heard = []
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda db: heard.append("migrated")])

    Records(db_path, on_schema_update=lambda before, after: heard.append((before, after))).close()
    Records(db_path, on_schema_update=lambda before, after: heard.append((before, after))).close()

    assert heard == [(old_version, old_version + 1), "migrated"]


def test_a_new_database_is_no_update_to_announce(tmp_path):
    heard = []

    Records(tmp_path / "new.sqlite", on_schema_update=lambda *versions: heard.append(versions)).close()

    assert heard == []


def test_migrations_already_applied_do_not_run_again(db_path, monkeypatch):
    runs = []
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, lambda db: runs.append(1)])
    Records(db_path).close()
    Records(db_path).close()
    assert runs == [1]


def test_a_failing_migration_leaves_the_previous_version_intact(db_path, monkeypatch):
    Records(db_path).close()
    version = user_version(db_path)

    def half_done(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, half_done])
    with pytest.raises(RuntimeError, match="migration bug"):
        Records(db_path)
    assert user_version(db_path) == version
    assert "half_done" not in table_names(db_path)


def test_a_database_from_a_newer_station_is_refused_untouched(db_path):
    Records(db_path).close()
    newer = schema.latest_version() + 1
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(SchemaTooNew) as raised:
        Records(db_path)
    assert raised.value.code == "DB_SCHEMA_TOO_NEW"
    assert (raised.value.found, raised.value.supported) == (newer, schema.latest_version())
    assert user_version(db_path) == newer


def test_a_file_that_is_not_a_database_is_reported_as_corrupt(db_path):
    db_path.write_bytes(b"this is a text file, not SQLite " * 200)
    with pytest.raises(DatabaseCorrupt) as raised:
        Records(db_path)
    assert raised.value.code == "DB_CORRUPT"
    assert str(db_path) in str(raised.value)


def test_a_database_locked_by_another_program_is_reported_as_locked(db_path):
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a new file in rollback-journal mode: nobody else gets in
    try:
        with pytest.raises(DatabaseLocked) as raised:
            Records(db_path, busy_timeout_s=0.1)
        assert raised.value.code == "DB_LOCKED"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_every_error_has_a_stable_code_and_derives_from_records_error():
    import records

    for name in records.__all__:
        value = getattr(records, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, RecordsError)
            assert value.code.isupper() and value.code


def test_no_column_can_hold_a_key_only_fingerprints(db_path):
    Records(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        columns = [
            (table, row[1])
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for row in conn.execute(f"PRAGMA table_info({table})")
        ]
    finally:
        conn.close()
    risky = [
        c for c in columns if any(w in c[1] for w in ("key", "cert", "secret", "private", "pem"))
    ]
    assert risky, "the test should see the fingerprint columns"
    assert all(name.endswith("_sha256") for _, name in risky if name != "key"), risky
    # meta.key is the name of a setting, not a cryptographic key
    assert {name for _, name in risky if not name.endswith("_sha256")} == {"key"}


def test_using_a_closed_records_is_an_error(db_path):
    records = Records(db_path)
    records.close()
    records.close()  # closing twice is harmless
    with pytest.raises(RecordsError, match="closed"):
        records.list_batches()
