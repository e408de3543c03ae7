"""The audit log: append-only, hash-chained, and tampering is detected even without the
triggers. Tampering is done the way an attacker would: a second connection to the file."""

import hashlib
import json
import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records import AuditVerification, Records
from records.audit import GENESIS, canonical_json


@pytest.fixture
def logged(records):
    """A log of five entries."""
    for n in range(1, 6):
        records.audit(actor="alice", action="test.entry", subject=f"S{n}", details={"n": n})
    return records


def tamper(path: Path, *statements: tuple[str, tuple]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_refuse_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_refuse_delete")
        for sql, params in statements:
            conn.execute(sql, params)
    finally:
        conn.close()


def test_an_entry_records_who_did_what_to_what_and_when(records):
    entry = records.audit(actor="carol", action="unit.revoke", subject="SN1", details={"a": 1})
    assert (entry.id, entry.actor, entry.action, entry.subject) == (
        1,
        "carol",
        "unit.revoke",
        "SN1",
    )
    assert entry.at == "2026-11-22T10:00:00.000Z"
    assert entry.details == {"a": 1}
    assert records.audit_entries() == [entry]


def test_entries_are_chained_by_hash(logged):
    entries = logged.audit_entries()
    assert entries[0].prev_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash
    first = entries[0]
    payload = canonical_json(
        id=first.id,
        at=first.at,
        actor=first.actor,
        action=first.action,
        subject=first.subject,
        details=first.details,
    )
    assert first.hash == hashlib.sha256((GENESIS + payload).encode()).hexdigest()


def test_an_untouched_log_verifies(logged):
    expected = AuditVerification(ok=True, entries=5, first_bad_id=None, problem=None)
    assert logged.verify_audit() == expected


def test_an_empty_log_verifies(records):
    result = records.verify_audit()
    assert (result.ok, result.entries) == (True, 0)


def test_entries_can_be_listed_for_one_subject(logged):
    assert [e.subject for e in logged.audit_entries(subject="S3")] == ["S3"]


def test_details_must_be_json_and_nothing_is_written_otherwise(records):
    for details in ({"when": {1, 2}}, {"x": math.nan}, {"raw": b"bytes"}):
        with pytest.raises((TypeError, ValueError)):
            records.audit(actor="a", action="b", subject="c", details=details)
    assert records.audit_entries() == []


def test_the_database_refuses_to_update_an_entry(logged, db_path):
    with (
        sqlite3.connect(db_path) as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")


def test_the_database_refuses_to_delete_an_entry(logged, db_path):
    with (
        sqlite3.connect(db_path) as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute("DELETE FROM audit WHERE id = 2")


def test_an_edited_entry_is_detected(logged, db_path):
    tamper(db_path, ("UPDATE audit SET details = ? WHERE id = 3", (json.dumps({"n": 33}),)))
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "changed" in result.problem


def test_an_edited_entry_with_a_recomputed_hash_is_detected_at_the_next_entry(logged, db_path):
    third = logged.audit_entries()[2]
    forged = canonical_json(
        id=3,
        at=third.at,
        actor="mallory",
        action=third.action,
        subject=third.subject,
        details=third.details,
    )
    forged_hash = hashlib.sha256((third.prev_hash + forged).encode()).hexdigest()
    tamper(db_path, ("UPDATE audit SET actor = 'mallory', hash = ? WHERE id = 3", (forged_hash,)))
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_id) == (False, 4)


def test_a_deleted_middle_entry_is_detected(logged, db_path):
    tamper(db_path, ("DELETE FROM audit WHERE id = 3", ()))
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_id, result.entries) == (False, 4, 4)
    assert "removed" in result.problem


def test_a_deleted_first_entry_is_detected(logged, db_path):
    tamper(db_path, ("DELETE FROM audit WHERE id = 1", ()))
    assert (logged.verify_audit().ok, logged.verify_audit().first_bad_id) == (False, 2)


def test_a_truncated_tail_is_detected(logged, db_path):
    tamper(db_path, ("DELETE FROM audit WHERE id >= 4", ()))
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_id, result.entries) == (False, 4, 3)
    assert "end" in result.problem


def test_a_truncated_tail_stays_detected_after_later_entries(logged, db_path):
    tamper(db_path, ("DELETE FROM audit WHERE id >= 4", ()))
    logged.audit(actor="alice", action="test.entry", subject="S6")
    result = logged.verify_audit()
    assert result.ok is False
    assert result.first_bad_id == 6  # ids are never reused, and 6 does not follow 3


def test_a_wiped_log_is_detected(logged, db_path):
    tamper(db_path, ("DELETE FROM audit", ()))
    result = logged.verify_audit()
    assert (result.ok, result.entries, result.first_bad_id) == (False, 0, 1)


def test_a_removed_head_record_is_detected(logged, db_path):
    tamper(db_path, ("DELETE FROM meta WHERE key LIKE 'audit_head%'", ()))
    assert logged.verify_audit().ok is False


def test_a_dropped_audit_table_is_reported_not_raised(logged, db_path):
    tamper(db_path, ("DROP TABLE audit", ()))
    result = logged.verify_audit()
    assert result.ok is False and "cannot be read" in result.problem


# Property-based: arbitrary unicode everywhere, any number of entries.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
entries_strategy = st.lists(
    st.tuples(
        st.text(min_size=1),
        st.text(min_size=1),
        st.text(min_size=1),
        st.dictionaries(st.text(), json_values, max_size=5),
    ),
    min_size=1,
    max_size=8,
)
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(entries=entries_strategy)
def test_any_sequence_of_entries_verifies_and_reads_back_unchanged(entries):
    with (
        tempfile.TemporaryDirectory() as directory,
        Records(Path(directory) / "a.sqlite") as records,
    ):
        written = [
            records.audit(actor=actor, action=action, subject=subject, details=details)
            for actor, action, subject, details in entries
        ]
        assert records.audit_entries() == written
        assert [e.details for e in written] == [json.loads(json.dumps(d)) for *_, d in entries]
        result = records.verify_audit()
        assert (result.ok, result.entries) == (True, len(entries)), result.problem


@PROPERTY_SETTINGS
@given(entries=entries_strategy, data=st.data())
def test_changing_any_entrys_details_is_detected_at_that_entry(entries, data):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "a.sqlite"
        with Records(path) as records:
            for actor, action, subject, details in entries:
                records.audit(actor=actor, action=action, subject=subject, details=details)
            victim = data.draw(st.integers(min_value=1, max_value=len(entries)))
            tamper(path, ("UPDATE audit SET details = ? WHERE id = ?", ('{"forged":true}', victim)))
            result = records.verify_audit()
        if entries[victim - 1][3] == {"forged": True}:
            assert result.ok  # not a change at all
        else:
            assert (result.ok, result.first_bad_id) == (False, victim)


def test_an_entry_slipped_in_behind_the_stations_back_is_detected(logged, db_path):
    last = logged.audit_entries()[-1]
    forged = dict(
        id=6, at=last.at, actor="mallory", action="unit.unrevoke", subject="SN1", details={}
    )
    forged_hash = hashlib.sha256((last.hash + canonical_json(**forged)).encode()).hexdigest()
    tamper(
        db_path,
        (
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, '{}', ?, ?)",
            (6, last.at, "mallory", "unit.unrevoke", "SN1", last.hash, forged_hash),
        ),
    )
    result = logged.verify_audit()
    assert (result.ok, result.first_bad_id) == (False, 6)
