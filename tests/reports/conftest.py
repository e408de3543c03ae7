"""Fixtures of the report tests; the known batch itself is in report_fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_fixtures import build_known_database, drop_the_tally

from records import Records


@pytest.fixture(scope="session", params=["tallied", "grouped"])
def known_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known database (built once; tests must not write to it), as the station keeps it
    and without the tally of its batches' serials (as a database from before schema version 4
    is read while it cannot be brought up to date): every report must be the same from both."""
    path = build_known_database(tmp_path_factory.mktemp(f"reports-{request.param}-") / "station.sqlite")
    if request.param == "grouped":
        drop_the_tally(path)
    return path


@pytest.fixture
def records(known_db: Path) -> Iterator[Records]:
    with Records(known_db) as opened:
        yield opened
