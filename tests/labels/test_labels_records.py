"""The label history in the station's database: which labels were asked for, printed or queued;
a reprint is in the audit log."""

from __future__ import annotations

import pytest

from records import Records
from records.schema import latest_version


@pytest.fixture
def records(tmp_path):
    with Records(tmp_path / "station.sqlite") as opened:
        yield opened


def test_a_label_is_recorded_queued_then_printed(records):
    records.record_label("label-S1-1", serial="S1", kind="label", requested_by="ana")
    [queued] = records.labels("S1")
    assert (queued.state, queued.attempts, queued.printed_at) == ("requested", 0, None)
    records.record_label_outcome("label-S1-1", state="queued", attempts=1, code="PRINTER_OFFLINE")
    assert records.labels("S1")[0].last_code == "PRINTER_OFFLINE"
    records.record_label_outcome("label-S1-1", state="printed", attempts=2, code=None)
    [printed] = records.labels("S1")
    assert (printed.state, printed.attempts, printed.last_code) == ("printed", 2, "PRINTER_OFFLINE")
    assert printed.printed_at is not None


def test_a_reprint_is_audited_with_the_supervisor_and_the_audit_log_still_verifies(records):
    records.record_label("label-S1-1", serial="S1", kind="label", requested_by="ana")
    records.record_label("reprint-S1-2", serial="S1", kind="reprint", requested_by="sam")
    [entry] = records.audit_entries(subject="S1")
    assert (entry.action, entry.actor, entry.details["job_id"]) == ("label.reprint", "sam", "reprint-S1-2")
    assert records.verify_audit().ok
    assert [label.kind for label in records.labels("S1")] == ["label", "reprint"]


def test_an_outcome_for_an_unknown_job_is_ignored(records):
    records.record_label_outcome("label-nobody", state="printed", attempts=1, code=None)
    assert records.labels("nobody") == []


def test_the_labels_table_comes_with_a_migration(tmp_path):
    with Records(tmp_path / "a.sqlite") as opened:
        version = opened._scalar("PRAGMA user_version")
    assert version == latest_version()
