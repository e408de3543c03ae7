"""The database schema and its migrations.

The schema version is SQLite's ``PRAGMA user_version``: 0 for a new file, ``N`` once the
first ``N`` entries of :data:`MIGRATIONS` have run. Opening a database runs the missing
migrations in order, each in its own ``BEGIN IMMEDIATE`` transaction that also bumps
``user_version``, so a crash mid-migration leaves the previous version intact and two
processes opening the same old file do not migrate it twice. A file whose version is
higher than ``len(MIGRATIONS)`` was written by a newer station and is refused untouched.

To change the schema, append a function to :data:`MIGRATIONS`; never edit one that has
shipped. Migrations run with ``foreign_keys=ON``; one that rebuilds a table must account
for that (SQLite ignores ``PRAGMA foreign_keys`` inside a transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

from .errors import SchemaTooNew

Migration = Callable[["Database"], None]

_V1_STATEMENTS = (
    # Small key/value facts about the database itself, e.g. the audit log's head.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        product TEXT NOT NULL,
        planned_quantity INTEGER NOT NULL CHECK (planned_quantity >= 0),
        opened_at TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        closed_at TEXT,
        closed_by TEXT
    )
    """,
    # The allow-list. No column can hold a private key: only SHA-256 fingerprints.
    """
    CREATE TABLE units (
        serial TEXT PRIMARY KEY,
        batch TEXT NOT NULL REFERENCES batches(id),
        product TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('allowed', 'revoked')),
        device_key_sha256 TEXT NOT NULL,
        claim_cert_sha256 TEXT NOT NULL,
        station_id TEXT NOT NULL,
        operator TEXT NOT NULL,
        first_pass_at TEXT NOT NULL,
        last_pass_at TEXT NOT NULL,
        rev INTEGER NOT NULL CHECK (rev >= 1),
        synced_rev INTEGER NOT NULL DEFAULT 0 CHECK (synced_rev >= 0 AND synced_rev <= rev),
        revoked_reason TEXT,
        updated_at TEXT NOT NULL
    )
    """,
    # Lists are shown newest first with serial as the tie-break; the indexes carry both so
    # a page of a million-unit table is read straight off the index, without a sort.
    "CREATE INDEX units_by_last_pass ON units(last_pass_at, serial)",
    "CREATE INDEX units_by_batch ON units(batch, last_pass_at, serial)",
    "CREATE INDEX units_by_status ON units(status, last_pass_at, serial)",
    "CREATE UNIQUE INDEX units_by_device_key ON units(device_key_sha256)",
    # Holds only the rows the DynamoDB sync still has to send, so asking "anything to
    # send?" costs the same on an empty backlog whatever the size of the allow-list.
    "CREATE INDEX units_pending_sync ON units(serial) WHERE synced_rev < rev",
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        serial TEXT,
        batch TEXT REFERENCES batches(id),
        port TEXT NOT NULL,
        station_id TEXT NOT NULL,
        operator TEXT NOT NULL,
        driver TEXT NOT NULL,
        label TEXT,
        result TEXT NOT NULL CHECK (result IN ('running', 'pass', 'fail', 'aborted')),
        error_code TEXT,
        error_detail TEXT,
        hint TEXT,
        device_key_sha256 TEXT,
        reprovision_by TEXT,
        reprovision_reason TEXT,
        steps TEXT NOT NULL DEFAULT '[]',
        started_at TEXT NOT NULL,
        finished_at TEXT
    )
    """,
    "CREATE INDEX attempts_by_serial ON attempts(serial)",
    "CREATE INDEX attempts_by_batch ON attempts(batch)",
    "CREATE INDEX attempts_by_device_key ON attempts(device_key_sha256)",
    "CREATE INDEX attempts_running ON attempts(id) WHERE result = 'running'",
    # Append-only, hash-chained (see records/audit.py). ids are assigned by the station,
    # never reused.
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX audit_by_subject ON audit(subject)",
    """
    CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON audit
    BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused');
    END
    """,
    """
    CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON audit
    BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused');
    END
    """,
    """
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        sent INTEGER NOT NULL,
        unchanged INTEGER NOT NULL,
        conflicts INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        error TEXT
    )
    """,
    """
    CREATE TABLE sync_conflicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        serial TEXT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('operator', 'qa', 'supervisor')),
        pin_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
)


def _v1_initial(db: Database) -> None:
    """Batches, units, attempts, the audit log, sync bookkeeping and users."""
    for statement in _V1_STATEMENTS:
        db.execute(statement)


def _v2_report_index(db: Database) -> None:
    """An index holding every column the batch report aggregates need (records/reports.py),
    in (batch, serial) order: counting a 100,000-unit batch then never reads the attempts'
    step timings (about a kilobyte each), and grouping by serial needs no sort."""
    db.execute(
        "CREATE INDEX attempts_by_batch_report ON attempts("
        "batch, serial, result, started_at, finished_at, error_code, station_id, operator)"
    )


def _v3_labels(db: Database) -> None:
    """The label history: one row per label job asked for (a PASS's label, a reject tag, a
    supervisor's reprint) and what became of it. The print queue itself is a file next to
    the station (station/labels/queue.py); this table is what ``station show`` tells."""
    db.execute(
        """
        CREATE TABLE labels (
            job_id TEXT PRIMARY KEY,
            serial TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('label', 'reprint', 'reject')),
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('requested', 'queued', 'printed')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_code TEXT,
            printed_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX labels_by_serial ON labels(serial, requested_at)")


# One group of attempts, (batch, serial), summed up again from its own rows (a few, off the
# report index) into its row of batch_serials; a group with no attempt left has no row.
_TALLY = (
    "SELECT batch, serial, count(*), sum(result = 'pass'), sum(result = 'running'), "
    "min(id * 2 + (result = 'pass')) % 2, max(id) FROM attempts"
)
_RETALLY = (
    "INSERT OR REPLACE INTO batch_serials {tally}"
    " WHERE batch = {side}.batch AND serial = {side}.serial GROUP BY batch, serial;"
)
_FORGET = "DELETE FROM batch_serials WHERE batch = OLD.batch AND serial = OLD.serial;"


def _create_tally_triggers(db: Database, tally: str) -> None:
    """The triggers that sum a (batch, serial) group up again with ``tally`` whenever one of
    its attempts is added, changes serial, batch or result, or is deleted."""
    new, old = _RETALLY.format(tally=tally, side="NEW"), _RETALLY.format(tally=tally, side="OLD")
    db.execute(f"CREATE TRIGGER batch_serials_on_insert AFTER INSERT ON attempts BEGIN {new} END")
    db.execute(
        f"CREATE TRIGGER batch_serials_on_update AFTER UPDATE OF serial, batch, result ON attempts "
        f"BEGIN {_FORGET} {old} {new} END"
    )
    db.execute(f"CREATE TRIGGER batch_serials_on_delete AFTER DELETE ON attempts BEGIN {_FORGET} {old} END")


def _v4_batch_serials(db: Database) -> None:
    """A running tally of every batch's serials: how many attempts each had, whether one
    passed or is running, whether the first passed, and the newest. The batch report reads
    a unit's figures here instead of grouping every attempt of the batch (on a million units,
    two seconds less per report). Triggers keep it: whenever an attempt gets or changes its
    serial, batch or result, its group is summed up again from the attempts themselves, so
    the tally is always what grouping the attempts would give (and no code path can forget
    it). Filled from the attempts already recorded."""
    db.execute(
        """
        CREATE TABLE batch_serials (
            batch TEXT NOT NULL,
            serial TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            passes INTEGER NOT NULL,
            running INTEGER NOT NULL,
            first_pass INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            PRIMARY KEY (batch, serial)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        "INSERT INTO batch_serials " + _TALLY
        + " WHERE batch IS NOT NULL AND serial IS NOT NULL GROUP BY batch, serial"
    )
    _create_tally_triggers(db, _TALLY)


# An attempt's hour: the first 13 characters of its finish time (``YYYY-MM-DDTHH``), '' while
# it has none. The same expression in the index, the tally and the triggers, so that SQLite
# finds a group's attempts through the index.
HOUR_OF_ATTEMPT = "coalesce(substr({row}finished_at, 1, 13), '')"
_HOUR = HOUR_OF_ATTEMPT.format(row="")
_OLD_HOUR = HOUR_OF_ATTEMPT.format(row="OLD.")
_NEW_HOUR = HOUR_OF_ATTEMPT.format(row="NEW.")
_HOURS_GROUP = "(batch, hour, result, without_serial)"
_HOURS_TALLY = (
    f"SELECT batch, {_HOUR}, result, serial IS NULL, count(*), min(started_at), "  # noqa: S608 - constants only
    "max(coalesce(finished_at, started_at)), min(finished_at), max(finished_at) FROM attempts"
)
# An attempt leaving a group (it finished, or was named, moved or deleted): the group is summed
# up again from its own attempts, found through attempts_by_batch_hour (named: the planner
# would rather walk the report index, which holds the whole batch).
_HOURS_RECOUNT_OLD = (
    f"DELETE FROM batch_hours WHERE batch = OLD.batch AND hour = {_OLD_HOUR} AND result = OLD.result "  # noqa: S608 - constants only
    "AND without_serial = (OLD.serial IS NULL); "
    f"INSERT INTO batch_hours {_HOURS_TALLY} INDEXED BY attempts_by_batch_hour "
    f"WHERE batch = OLD.batch AND {_HOUR} = {_OLD_HOUR} AND result = OLD.result "
    f"AND (serial IS NULL) = (OLD.serial IS NULL) GROUP BY batch, {_HOUR}, result, serial IS NULL;"
)
# An attempt joining a group: one more, and the group's times widened to take it in (exact: a
# set's minimum after adding x is min(minimum, x)). Only a new attempt or one that left its
# group joins one (``{moved}``); one that stayed was counted again with its group just above.
_EARLIER = "coalesce(min({column}, excluded.{column}), {column}, excluded.{column})"
_LATER = "coalesce(max({column}, excluded.{column}), {column}, excluded.{column})"
_HOURS_JOIN_NEW = (
    f"INSERT INTO batch_hours SELECT NEW.batch, {_NEW_HOUR}, NEW.result, NEW.serial IS NULL, 1, "
    "NEW.started_at, coalesce(NEW.finished_at, NEW.started_at), NEW.finished_at, NEW.finished_at "
    "WHERE NEW.batch IS NOT NULL {moved} "
    f"ON CONFLICT {_HOURS_GROUP} DO UPDATE SET attempts = attempts + 1, "
    f"first_at = {_EARLIER.format(column='first_at')}, last_at = {_LATER.format(column='last_at')}, "
    f"first_finished_at = {_EARLIER.format(column='first_finished_at')}, "
    f"last_finished_at = {_LATER.format(column='last_finished_at')};"
)
_MOVED = (
    f"AND (OLD.batch IS NOT NEW.batch OR {_OLD_HOUR} != {_NEW_HOUR} OR OLD.result != NEW.result "
    "OR (OLD.serial IS NULL) != (NEW.serial IS NULL))"
)


def _v5_batch_hours(db: Database) -> None:
    """A running tally of every batch's attempts by the hour they finished in, result and
    whether they read a serial: how many, and their first and last times. A report's totals,
    hourly throughput and first and last times then cost a few hundred rows instead of a walk
    over every attempt of the batch (100,000 attempts: 130-160 ms down to 25-35). Triggers keep it exact:
    an attempt joining a group adds one and widens its times; a group an attempt leaves is
    summed up again from its own attempts (through ``attempts_by_batch_hour``). Filled from
    the attempts already recorded."""
    db.execute(f"CREATE INDEX attempts_by_batch_hour ON attempts(batch, {_HOUR})")
    db.execute(
        f"""
        CREATE TABLE batch_hours (
            batch TEXT NOT NULL,
            hour TEXT NOT NULL,
            result TEXT NOT NULL,
            without_serial INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            first_at TEXT,
            last_at TEXT,
            first_finished_at TEXT,
            last_finished_at TEXT,
            PRIMARY KEY {_HOURS_GROUP}
        ) WITHOUT ROWID
        """
    )
    db.execute(
        "INSERT INTO batch_hours " + _HOURS_TALLY
        + f" WHERE batch IS NOT NULL GROUP BY batch, {_HOUR}, result, serial IS NULL"
    )
    db.execute(
        "CREATE TRIGGER batch_hours_on_insert AFTER INSERT ON attempts "
        f"BEGIN {_HOURS_JOIN_NEW.format(moved='')} END"
    )
    db.execute(
        "CREATE TRIGGER batch_hours_on_update AFTER UPDATE OF batch, serial, result, started_at, finished_at "
        f"ON attempts BEGIN {_HOURS_RECOUNT_OLD} {_HOURS_JOIN_NEW.format(moved=_MOVED)} END"
    )
    db.execute(f"CREATE TRIGGER batch_hours_on_delete AFTER DELETE ON attempts BEGIN {_HOURS_RECOUNT_OLD} END")


def _v6_units_by_batch_claim(db: Database) -> None:
    """An index holding what a report counts of a batch's allow-list rows (claim certificate,
    status, revisions): the counts then never read the rows themselves (100,000 units: 75 ms
    down to about 20)."""
    db.execute("CREATE INDEX units_by_batch_claim ON units(batch, claim_cert_sha256, status, rev, synced_rev)")


# The tally with a last column: the lowest ``id * 2 + passed`` among the group's finished
# (pass or fail) attempts, so that ``% 2`` says whether the board's first finished attempt
# passed (NULL: none finished yet). What the line's batch bar counts as first pass.
FIRST_FINISHED = "min(CASE WHEN result IN ('pass', 'fail') THEN id * 2 + (result = 'pass') END)"
_TALLY_WITH_FIRST_FINISHED = _TALLY.removesuffix(" FROM attempts") + f", {FIRST_FINISHED} FROM attempts"


def _v7_first_finished(db: Database) -> None:
    """The tally of each batch's serials learns whether the board's first finished attempt
    passed (``first_finished``): the line's batch bar then counts boards tried and first
    passes off the tally and the hours tally (100,000 attempts: about 200 ms down to 20-30,
    after every board) instead of grouping every attempt of the batch."""
    db.execute("ALTER TABLE batch_serials ADD COLUMN first_finished INTEGER")
    db.execute(
        f"UPDATE batch_serials SET first_finished = (SELECT {FIRST_FINISHED} FROM attempts "  # noqa: S608 - constants only
        "WHERE attempts.batch = batch_serials.batch AND attempts.serial = batch_serials.serial)"
    )
    for trigger in ("batch_serials_on_insert", "batch_serials_on_update", "batch_serials_on_delete"):
        db.execute(f"DROP TRIGGER {trigger}")
    _create_tally_triggers(db, _TALLY_WITH_FIRST_FINISHED)


MIGRATIONS: list[Migration] = [
    _v1_initial, _v2_report_index, _v3_labels, _v4_batch_serials, _v5_batch_hours, _v6_units_by_batch_claim,
    _v7_first_finished,
]
"""Ordered; entry ``i`` takes the schema from version ``i`` to ``i + 1``."""


def latest_version() -> int:
    return len(MIGRATIONS)


def current_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_if_too_new(db: Database, path: str) -> int:
    """Raise :class:`SchemaTooNew` if this code cannot read the file; return its version."""
    found = current_version(db)
    if found > latest_version():
        raise SchemaTooNew(found, latest_version(), path)
    return found


def migrate(db: Database, path: str) -> tuple[int, int]:
    """Bring the schema up to date; returns ``(version before, version after)``.

    The connection must be in driver autocommit mode (``isolation_level=None``) with no
    transaction open.
    """
    before = refuse_if_too_new(db, path)
    if before == latest_version():
        return before, before  # the usual case: no write lock taken
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated already.
            version = refuse_if_too_new(db, path)
            if version == latest_version():
                db.execute("COMMIT")
                return before, version
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1:d}")
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
