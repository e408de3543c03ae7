"""Timestamps: one format, UTC, milliseconds, a 'Z'."""

from datetime import UTC, datetime, timedelta, timezone

from records import utc_now_iso
from records.clock import iso_utc


def test_timestamp_is_utc_iso_8601_with_milliseconds_and_z():
    assert (
        iso_utc(datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-11-22T10:00:00.123Z"
    )


def test_sub_millisecond_digits_are_truncated_not_rounded():
    assert (
        iso_utc(datetime(2026, 11, 22, 10, 0, 0, 999999, tzinfo=UTC)) == "2026-11-22T10:00:00.999Z"
    )


def test_aware_times_in_other_zones_are_converted_to_utc():
    paris_winter = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 22, 11, 0, 0, tzinfo=paris_winter)
    assert iso_utc(moment) == "2026-11-22T10:00:00.000Z"


def test_naive_times_are_taken_as_utc():
    assert iso_utc(datetime(2026, 11, 22, 10, 0, 0)) == "2026-11-22T10:00:00.000Z"


def test_utc_now_iso_reads_an_injected_clock():
    assert (
        utc_now_iso(lambda: datetime(2030, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
        == "2030-01-02T03:04:05.006Z"
    )


def test_utc_now_iso_without_a_clock_is_the_current_time():
    before = iso_utc(datetime.now(UTC))
    stamp = utc_now_iso()
    after = iso_utc(datetime.now(UTC))
    assert before <= stamp <= after
    assert len(stamp) == len("2026-11-22T10:00:00.000Z") and stamp.endswith("Z")
