"""Fixtures for the sync tests: station databases with units, clients built the station's
way (station.sync.dynamo), fake time for the retry loop, and reading the table back.

The DynamoDB server and the per-test table come from the "DynamoDB" section of
tests/conftest.py (``dynamodb_endpoint``, ``allowlist_table``); plain helpers are in
``sync_helpers.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import FakeTime, StationDB, client_for, plain

from station.sync.engine import AllowlistSync


@pytest.fixture
def make_db(tmp_path: Path) -> Iterator[Callable[..., StationDB]]:
    opened: list[StationDB] = []

    def make(name: str = "a", station_id: str = "ST-A") -> StationDB:
        db = StationDB(tmp_path / f"{name}.sqlite", station_id)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def db(make_db: Callable[..., StationDB]) -> StationDB:
    return make_db("a", "ST-A")


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def clients(allowlist_table: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(endpoint_url: str | None = None, **kwargs: Any) -> Any:
        client = client_for(allowlist_table, endpoint_url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def syncer(allowlist_table: Any, clients: Callable[..., Any], fake_time: FakeTime
           ) -> Callable[..., AllowlistSync]:
    """``syncer(db)`` -> an AllowlistSync of ``db`` into this test's table (fake time)."""

    def make(db: StationDB, *, endpoint_url: str | None = None, client: Any = None,
             **options: Any) -> AllowlistSync:
        options.setdefault("workers", 8)
        options.setdefault("clock", fake_time.clock)
        options.setdefault("sleep", fake_time.sleep)
        options.setdefault("retry_for_seconds", 5.0)
        return AllowlistSync(
            db.records, client if client is not None else clients(endpoint_url),
            station_id=db.station_id, table_name=allowlist_table.name, **options,
        )

    return make


@pytest.fixture
def cloud_item(allowlist_table: Any) -> Callable[[str], dict[str, Any] | None]:
    def get(serial: str) -> dict[str, Any] | None:
        answer = allowlist_table.client.get_item(
            TableName=allowlist_table.name, Key={"serial": {"S": serial}}, ConsistentRead=True
        )
        return plain(answer.get("Item"))

    return get


@pytest.fixture
def all_items(allowlist_table: Any) -> Callable[[], dict[str, dict[str, Any]]]:
    def scan() -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"TableName": allowlist_table.name, "ConsistentRead": True}
        while True:
            page = allowlist_table.client.scan(**kwargs)
            for item in page["Items"]:
                values = plain(item)
                assert values is not None
                items[values["serial"]] = values
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return scan
