"""Users and PINs: stored only as salted scrypt hashes, checked in constant time."""

import sqlite3

import pytest

from records import RecordsError, User


def stored_hash(db_path, name):
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT pin_hash FROM users WHERE name = ?", [name]).fetchone()[0]


def test_an_added_user_is_listed_with_role_and_creation_time(records):
    user = records.add_user("dave", "qa", "4711", actor="admin")
    assert user == User(name="dave", role="qa", created_at="2026-11-22T10:00:00.000Z")
    assert records.users() == [user]


def test_the_right_pin_returns_the_user(records):
    user = records.add_user("dave", "qa", "4711", actor="admin")
    assert records.check_pin("dave", "4711") == user


def test_a_wrong_pin_returns_none(records):
    records.add_user("dave", "qa", "4711", actor="admin")
    assert records.check_pin("dave", "4712") is None
    assert records.check_pin("dave", "") is None


def test_an_unknown_user_returns_none(records):
    assert records.check_pin("nobody", "4711") is None


def test_the_pin_is_stored_only_as_a_salted_slow_hash(records, db_path):
    records.add_user("dave", "operator", "4711", actor="admin")
    records.add_user("erin", "operator", "4711", actor="admin")
    dave, erin = stored_hash(db_path, "dave"), stored_hash(db_path, "erin")
    assert "4711" not in dave
    assert dave.startswith("scrypt$")  # the cost parameters travel with the hash
    assert dave != erin  # same PIN, different salt


def test_adding_a_user_is_audited_without_the_pin(records):
    records.add_user("dave", "supervisor", "4711", actor="admin")
    [entry] = records.audit_entries(subject="dave")
    assert (entry.action, entry.actor, entry.details) == (
        "user.add",
        "admin",
        {"role": "supervisor"},
    )
    assert "4711" not in repr(records.audit_entries())


def test_a_removed_user_can_no_longer_log_in_and_removal_is_audited(records):
    records.add_user("dave", "qa", "4711", actor="admin")
    records.remove_user("dave", actor="admin")
    assert records.users() == []
    assert records.check_pin("dave", "4711") is None
    assert [e.action for e in records.audit_entries(subject="dave")] == ["user.add", "user.remove"]


def test_removing_an_unknown_user_is_an_error(records):
    with pytest.raises(RecordsError) as raised:
        records.remove_user("nobody", actor="admin")
    assert raised.value.code == "USER_NOT_FOUND"


def test_a_user_name_is_taken_only_once(records):
    records.add_user("dave", "qa", "4711", actor="admin")
    with pytest.raises(RecordsError) as raised:
        records.add_user("dave", "operator", "1234", actor="admin")
    assert raised.value.code == "USER_EXISTS"
    assert records.check_pin("dave", "4711") is not None


def test_only_known_roles_are_accepted(records):
    with pytest.raises(ValueError, match="role"):
        records.add_user("dave", "admin", "4711", actor="admin")


def test_a_pin_shorter_than_four_characters_is_refused(records):
    with pytest.raises(ValueError, match="PIN"):
        records.add_user("dave", "qa", "123", actor="admin")
    assert records.users() == []
