"""A report written as it streams is byte for byte the rendered one, and its unit list can
be read from the database while it is written (``stream_units=True``)."""

from __future__ import annotations

import io

import pytest
from report_fixtures import BATCH, report_clock

from records import Records
from station.reports.data import StreamedUnits, build_report
from station.reports.formats import STREAMED, render, write_report


@pytest.fixture
def listed_and_streamed(known_db):
    with Records(known_db) as records:
        listed = build_report(records, BATCH, now=report_clock, station_id="ST-QA")
        streamed = build_report(records, BATCH, now=report_clock, station_id="ST-QA", stream_units=True)
        yield listed, streamed


@pytest.mark.parametrize("fmt", STREAMED)
def test_a_report_written_as_it_streams_is_the_rendered_report(listed_and_streamed, fmt):
    listed, _ = listed_and_streamed
    out = io.BytesIO()

    write_report(listed, fmt, out)

    assert out.getvalue() == render(listed, fmt)


@pytest.mark.parametrize("fmt", STREAMED)
def test_a_report_with_streamed_units_is_the_same_report(listed_and_streamed, fmt):
    listed, streamed = listed_and_streamed
    out = io.BytesIO()

    write_report(streamed, fmt, out)

    assert isinstance(streamed.units, StreamedUnits)
    assert streamed.counts == listed.counts
    assert list(streamed.units) == list(listed.units)
    assert out.getvalue() == render(listed, fmt)


def test_a_streamed_report_asks_the_database_for_the_units_that_need_a_look(listed_and_streamed):
    listed, streamed = listed_and_streamed

    needing_a_look = list(streamed.iter_exceptions())

    assert needing_a_look == listed.exceptions()
    assert [row.serial for row in needing_a_look] == ["SN003", "SN004", "SN005", "SN006"]
