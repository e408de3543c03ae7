"""Take a database back to what an older schema version left, to test its migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from records import schema


def _drop_triggers(conn: sqlite3.Connection, table: str) -> None:
    for event in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER {table}_on_{event}")


def _undo_v7(conn: sqlite3.Connection) -> None:
    _drop_triggers(conn, "batch_serials")
    conn.execute("ALTER TABLE batch_serials DROP COLUMN first_finished")
    schema._create_tally_triggers(conn, schema._TALLY)


def _undo_v6(conn: sqlite3.Connection) -> None:
    conn.execute("DROP INDEX units_by_batch_claim")


def _undo_v5(conn: sqlite3.Connection) -> None:
    _drop_triggers(conn, "batch_hours")
    conn.execute("DROP TABLE batch_hours")
    conn.execute("DROP INDEX attempts_by_batch_hour")


def _undo_v4(conn: sqlite3.Connection) -> None:
    _drop_triggers(conn, "batch_serials")
    conn.execute("DROP TABLE batch_serials")


_UNDO = {7: _undo_v7, 6: _undo_v6, 5: _undo_v5, 4: _undo_v4}


def take_back_to(path: Path, version: int) -> None:
    """The database at ``path`` (closed, at the latest version) as ``version`` left it."""
    with sqlite3.connect(path) as conn:
        for undone in range(schema.latest_version(), version, -1):
            _UNDO[undone](conn)
        conn.execute(f"PRAGMA user_version = {version:d}")
    conn.close()
