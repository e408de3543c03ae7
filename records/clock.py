"""The one place timestamps are made.

Every timestamp in the database is a UTC ISO 8601 string with milliseconds and a ``Z``,
e.g. ``2026-11-22T10:00:00.123Z``. The fixed width means that comparing the strings
compares the instants, so SQLite can sort and index them as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real clock (aware, UTC)."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """Format ``moment`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC.

    A naive datetime is taken to be UTC already (what ``datetime.utcnow()`` and most test
    clocks return). Sub-millisecond digits are truncated, never rounded, so a stamp never
    lies in the future of the instant it describes.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f".{moment.microsecond // 1000:03d}Z"
    )


def utc_now_iso(now: Clock | None = None) -> str:
    """The current time as a database timestamp; ``now`` lets tests inject a clock."""
    return iso_utc((now or system_clock)())
