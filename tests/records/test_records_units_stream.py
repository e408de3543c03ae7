"""``iter_units`` gives what ``units`` gives, in the same order, a page at a time."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records import Records


@pytest.fixture
def many(records: Records, provision) -> Records:
    for n in range(23):
        provision(f"SN{n:03d}")
    records.open_batch("B2", "sensor-v2", 10, "alice")
    for n in range(23, 30):
        provision(f"SN{n:03d}", batch_id="B2")
    records.revoke("SN005", actor="sam", reason="RMA")
    return records


@given(page=st.integers(1, 12), limit=st.none() | st.integers(1, 40))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_streamed_units_are_the_listed_units_in_order_for_any_page_size(many, page, limit):
    assert list(many.iter_units(page=page, limit=limit)) == many.units(limit=limit)


@pytest.mark.parametrize("filters", [{"batch": "B2"}, {"status": "revoked"}, {"search": "sn01"},
                                     {"batch": "B1", "status": "allowed", "search": "1"}])
def test_streamed_units_apply_the_same_filters(many, filters):
    assert list(many.iter_units(page=4, **filters)) == many.units(**filters)


def test_column_widths_cover_every_streamed_unit(many):
    widths = many.unit_widths()
    units = many.units()

    assert widths["count"] == len(units) == 30
    assert widths["serial"] == max(len(u.serial) for u in units)
    assert widths["batch"] == 2
    assert widths["pending"] == 1


def test_an_empty_station_streams_nothing(records):
    assert list(records.iter_units()) == []
    assert records.unit_widths()["count"] == 0


@pytest.mark.parametrize("filters", [{}, {"batch": "B2"}, {"status": "revoked", "limit": 1}])
def test_unit_dicts_are_the_units_fields_in_the_same_order(many, filters):
    import dataclasses

    assert list(many.iter_unit_dicts(**filters)) == [dataclasses.asdict(u) for u in many.units(**filters)]


def test_a_read_only_station_streams_the_same_dicts(many):
    read_only = Records(many.path, read_only=True)
    try:
        assert list(read_only.iter_unit_dicts()) == list(many.iter_unit_dicts())
    finally:
        read_only.close()
