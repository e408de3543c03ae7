"""A PASS: unit, attempt and audit entry written together; revisions; revocation; queries."""

import hashlib

import pytest

import records.db as records_db
from records import AttemptNotOpen, BatchNotFound, DuplicateDeviceKey, StepTiming, UnitNotFound


def fp(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def start(records, serial=None, batch="B1"):
    attempt_id = records.start_attempt(
        port="COM3", station_id="ST-01", operator="alice", driver="reference", batch=batch
    )
    if serial:
        records.set_attempt_serial(attempt_id, serial)
    return attempt_id


def pass_arguments(serial, key=None, batch="B1"):
    return dict(
        serial=serial,
        batch=batch,
        product="sensor-v2",
        device_key_sha256=key or fp(f"key of {serial}"),
        claim_cert_sha256=fp("claim"),
        station_id="ST-01",
        operator="alice",
        steps=[StepTiming("read_serial", "2026-11-22T10:00:00.000Z", 10.0, True)],
    )


def snapshot(records):
    """Everything a PASS could have written."""
    return (
        records.units(),
        records.attempts(),
        records.audit_entries(),
        records.count_pending_sync(),
    )


def test_a_pass_creates_an_allowed_unit_at_rev_1(records, provision):
    unit = provision("SN1")
    assert unit == records.get_unit("SN1")
    assert unit.status == "allowed"
    assert (unit.batch, unit.product) == ("B1", "sensor-v2")
    assert (unit.station_id, unit.operator) == ("ST-01", "alice")
    assert unit.device_key_sha256 == fp("key of SN1")
    assert unit.claim_cert_sha256 == fp("claim")
    assert (unit.rev, unit.synced_rev) == (1, 0)
    assert unit.first_pass_at == unit.last_pass_at == unit.updated_at
    assert unit.revoked_reason is None


def test_a_pass_finishes_the_attempt_and_writes_a_unit_pass_audit_entry(records, batch):
    attempt_id = start(records, "SN1")
    records.finish_attempt_pass(attempt_id, **pass_arguments("SN1"))
    attempt = records.get_attempt(attempt_id)
    assert attempt.result == "pass"
    assert attempt.serial == "SN1" and attempt.device_key_sha256 == fp("key of SN1")
    assert [s.name for s in attempt.steps] == ["read_serial"]
    [entry] = records.audit_entries(subject="SN1")
    assert (entry.action, entry.actor) == ("unit.pass", "alice")
    assert entry.details["attempt_id"] == attempt_id
    assert entry.details["rev"] == 1
    assert entry.at == attempt.finished_at == records.get_unit("SN1").last_pass_at


def test_a_pass_sets_the_serial_when_the_attempt_had_none(records, batch):
    attempt_id = start(records)
    records.finish_attempt_pass(attempt_id, **pass_arguments("SN1"))
    assert records.get_attempt(attempt_id).serial == "SN1"


def test_passing_again_increments_rev_and_keeps_the_first_pass_time(records, provision):
    first = provision("SN1")
    second = provision("SN1", key=fp("new key of SN1"))
    assert second.rev == 2
    assert second.first_pass_at == first.first_pass_at
    assert second.last_pass_at > first.last_pass_at
    assert second.device_key_sha256 == fp("new key of SN1")


def test_revoke_and_unrevoke_each_increment_rev_and_are_audited(records, provision):
    provision("SN1")
    revoked = records.revoke("SN1", actor="carol", reason="returned by customer")
    assert (revoked.status, revoked.rev) == ("revoked", 2)
    assert revoked.revoked_reason == "returned by customer"
    allowed = records.unrevoke("SN1", actor="carol", reason="false alarm")
    assert (allowed.status, allowed.rev, allowed.revoked_reason) == ("allowed", 3, None)
    actions = [
        (e.action, e.actor, e.details.get("reason")) for e in records.audit_entries(subject="SN1")
    ]
    assert actions[1:] == [
        ("unit.revoke", "carol", "returned by customer"),
        ("unit.unrevoke", "carol", "false alarm"),
    ]


def test_revoking_an_unknown_unit_raises_unit_not_found(records):
    with pytest.raises(UnitNotFound) as raised:
        records.revoke("nope", actor="carol", reason="x")
    assert raised.value.code == "UNIT_NOT_FOUND"
    with pytest.raises(UnitNotFound):
        records.unrevoke("nope", actor="carol", reason="x")


def test_a_revoked_unit_that_passes_again_stays_revoked(records, provision):
    provision("SN1")
    records.revoke("SN1", actor="carol", reason="stolen")
    again = provision("SN1", key=fp("another key"))
    assert again.status == "revoked"
    assert again.revoked_reason == "stolen"
    assert again.rev == 3


def test_a_key_already_on_another_unit_is_refused_and_nothing_is_written(records, provision):
    provision("SN1", key=fp("shared"))
    attempt_id = start(records, "SN2")
    before = snapshot(records)
    with pytest.raises(DuplicateDeviceKey) as raised:
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN2", key=fp("shared")))
    assert raised.value.code == "DEVICE_KEY_REPEATED"
    assert raised.value.other_serial == "SN1"
    assert snapshot(records) == before
    assert records.get_attempt(attempt_id).result == "running"  # the caller fails it
    records.finish_attempt_fail(
        attempt_id,
        error_code="DEVICE_KEY_REPEATED",
        error_detail=str(raised.value),
        hint="h",
        steps=[],
    )


def test_a_key_seen_on_a_failed_attempt_of_another_serial_is_refused(records, batch):
    failed = start(records, "SN1")
    records.finish_attempt_fail(
        failed, error_code="CSR_CN", error_detail="d", hint="h", steps=[], device_key_sha256=fp("k")
    )
    attempt_id = start(records, "SN2")
    with pytest.raises(DuplicateDeviceKey) as raised:
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN2", key=fp("k")))
    assert raised.value.other_serial == "SN1"
    assert records.get_unit("SN2") is None


def test_the_same_board_may_pass_again_with_its_own_key(records, provision):
    provision("SN1", key=fp("k"))
    assert provision("SN1", key=fp("k")).rev == 2


def test_a_failure_in_the_middle_of_a_pass_writes_nothing(records, batch, monkeypatch):
    attempt_id = start(records, "SN1")
    before = snapshot(records)

    def audit_breaks(*args, **kwargs):
        raise RuntimeError("disk on fire")  # after the unit and the attempt were written

    monkeypatch.setattr(records_db, "chain_hash", audit_breaks)
    with pytest.raises(RuntimeError, match="disk on fire"):
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN1"))
    monkeypatch.undo()

    assert snapshot(records) == before
    assert records.get_unit("SN1") is None
    assert records.get_attempt(attempt_id).result == "running"
    assert records.verify_audit().ok


def test_a_pass_into_an_unknown_batch_is_refused(records, batch):
    attempt_id = start(records, "SN1", batch=None)
    with pytest.raises(BatchNotFound):
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN1", batch="nope"))
    assert records.get_attempt(attempt_id).result == "running"


def test_a_pass_for_another_serial_than_the_attempts_is_refused(records, batch):
    attempt_id = start(records, "SN1")
    with pytest.raises(ValueError, match="SN1"):
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN2"))
    assert records.get_unit("SN2") is None


def test_a_board_on_the_line_when_its_batch_closes_still_passes(records, batch):
    attempt_id = start(records, "SN1")
    records.close_batch(batch, actor="bob")
    assert records.finish_attempt_pass(attempt_id, **pass_arguments("SN1")).status == "allowed"


def test_a_finished_attempt_cannot_pass(records, batch):
    attempt_id = start(records, "SN1")
    records.finish_attempt_fail(attempt_id, error_code="X", error_detail="d", hint="h", steps=[])
    with pytest.raises(AttemptNotOpen):
        records.finish_attempt_pass(attempt_id, **pass_arguments("SN1"))
    assert records.get_unit("SN1") is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("device_key_sha256", "-----BEGIN PRIVATE KEY-----\nMIIE..."),
        ("claim_cert_sha256", "ABCDEF" * 10 + "ABCD"),
        ("device_key_sha256", "abc"),
    ],
)
def test_anything_but_a_lowercase_hex_sha256_is_refused_as_a_fingerprint(
    records, batch, field, value
):
    attempt_id = start(records, "SN1")
    with pytest.raises(ValueError, match=field):
        records.finish_attempt_pass(attempt_id, **{**pass_arguments("SN1"), field: value})
    assert records.get_unit("SN1") is None


def test_serial_for_device_key_looks_in_units_and_attempts(records, provision):
    provision("SN1", key=fp("a"))
    failed = start(records, "SN2")
    records.finish_attempt_fail(
        failed, error_code="X", error_detail="d", hint="h", steps=[], device_key_sha256=fp("b")
    )
    assert records.serial_for_device_key(fp("a")) == "SN1"
    assert records.serial_for_device_key(fp("b")) == "SN2"
    assert records.serial_for_device_key(fp("a"), other_than="SN1") is None
    assert records.serial_for_device_key(fp("never seen")) is None


def test_units_are_listed_most_recent_pass_first(records, provision):
    for serial in ("SN1", "SN2", "SN3"):
        provision(serial)
    provision("SN1", key=fp("again"))
    assert [u.serial for u in records.units()] == ["SN1", "SN3", "SN2"]
    assert [u.serial for u in records.units(limit=2, offset=1)] == ["SN3", "SN2"]


def test_units_are_filtered_by_batch_status_and_serial_substring(records, provision):
    records.open_batch("B2", "sensor-v2", 10, actor="alice")
    provision("ACME-0001")
    provision("ACME-0002", batch_id="B2")
    provision("ACME-1001")
    provision("X_1%")
    records.revoke("ACME-0002", actor="carol", reason="r")

    assert {u.serial for u in records.units(batch="B2")} == {"ACME-0002"}
    assert {u.serial for u in records.units(status="revoked")} == {"ACME-0002"}
    assert {u.serial for u in records.units(search="-000")} == {"ACME-0001", "ACME-0002"}
    assert {u.serial for u in records.units(search="acme-1")} == {"ACME-1001"}
    assert {u.serial for u in records.units(search="_1%")} == {"X_1%"}  # wildcards are literal
    assert {u.serial for u in records.units(batch="B1", status="allowed", search="ACME")} == {
        "ACME-0001",
        "ACME-1001",
    }


def test_units_are_counted_by_batch_and_status(records, provision):
    records.open_batch("B2", "sensor-v2", 10, actor="alice")
    provision("SN1")
    provision("SN2")
    provision("SN3", batch_id="B2")
    records.revoke("SN2", actor="carol", reason="r")
    assert records.count_units() == 3
    assert records.count_units(batch="B1") == 2
    assert records.count_units(status="revoked") == 1
    assert records.count_units(batch="B1", status="allowed") == 1


def test_an_unknown_status_filter_is_refused(records):
    with pytest.raises(ValueError):
        records.units(status="alowed")
