"""Batches: opened once per product, closed once, listed newest first, all audited."""

import pytest

from records import BatchClosed, BatchNotFound, RecordsError


def test_opening_a_batch_records_who_and_when(records):
    batch = records.open_batch("B1", "sensor-v2", 500, actor="alice")
    assert batch.id == "B1"
    assert batch.product == "sensor-v2"
    assert batch.planned_quantity == 500
    assert batch.opened_at == "2026-11-22T10:00:00.000Z"
    assert batch.opened_by == "alice"
    assert batch.closed_at is None and batch.closed_by is None
    assert records.get_batch("B1") == batch


def test_opening_a_batch_is_audited(records):
    records.open_batch("B1", "sensor-v2", 500, actor="alice")
    [entry] = records.audit_entries(subject="B1")
    assert (entry.action, entry.actor) == ("batch.open", "alice")
    assert entry.details == {"product": "sensor-v2", "planned_quantity": 500}


def test_reopening_an_open_batch_for_the_same_product_returns_it_unchanged(records):
    first = records.open_batch("B1", "sensor-v2", 500, actor="alice")
    again = records.open_batch("B1", "sensor-v2", 999, actor="bob")
    assert again == first
    assert len(records.audit_entries(subject="B1")) == 1


def test_reopening_a_batch_for_another_product_is_refused(records):
    records.open_batch("B1", "sensor-v2", 500, actor="alice")
    with pytest.raises(RecordsError) as raised:
        records.open_batch("B1", "gateway", 500, actor="alice")
    assert raised.value.code == "BATCH_EXISTS"
    assert records.get_batch("B1").product == "sensor-v2"


def test_closing_a_batch_records_who_and_when_and_is_audited(records):
    records.open_batch("B1", "sensor-v2", 500, actor="alice")
    closed = records.close_batch("B1", actor="bob")
    assert closed.closed_by == "bob"
    assert closed.closed_at is not None and closed.closed_at > closed.opened_at
    assert [e.action for e in records.audit_entries(subject="B1")] == ["batch.open", "batch.close"]


def test_closing_an_unknown_batch_raises_batch_not_found(records):
    with pytest.raises(BatchNotFound) as raised:
        records.close_batch("nope", actor="bob")
    assert raised.value.code == "BATCH_NOT_FOUND"


def test_closing_a_closed_batch_raises_batch_closed(records):
    records.open_batch("B1", "sensor-v2", 500, actor="alice")
    records.close_batch("B1", actor="bob")
    with pytest.raises(BatchClosed) as raised:
        records.close_batch("B1", actor="bob")
    assert raised.value.code == "BATCH_CLOSED"


def test_a_closed_batch_cannot_be_opened_again(records):
    records.open_batch("B1", "sensor-v2", 500, actor="alice")
    records.close_batch("B1", actor="bob")
    with pytest.raises(BatchClosed):
        records.open_batch("B1", "sensor-v2", 500, actor="alice")


def test_unknown_batch_is_none(records):
    assert records.get_batch("nope") is None


def test_batches_are_listed_newest_first(records):
    records.open_batch("B1", "sensor-v2", 1, actor="alice")
    records.open_batch("B2", "sensor-v2", 2, actor="alice")
    records.open_batch("B0", "gateway", 3, actor="alice")
    assert [b.id for b in records.list_batches()] == ["B0", "B2", "B1"]


@pytest.mark.parametrize("quantity", [-1, 1.5, "10", True])
def test_planned_quantity_must_be_a_non_negative_int(records, quantity):
    with pytest.raises((TypeError, ValueError)):
        records.open_batch("B1", "sensor-v2", quantity, actor="alice")
    assert records.list_batches() == []
