"""Fixtures of the report tests; the known batch itself is in report_fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_fixtures import build_known_database

from records import Records


@pytest.fixture(scope="session")
def known_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known database (built once; tests must not write to it)."""
    return build_known_database(tmp_path_factory.mktemp("reports") / "station.sqlite")


@pytest.fixture
def records(known_db: Path) -> Iterator[Records]:
    with Records(known_db) as opened:
        yield opened
