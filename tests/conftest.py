"""Fixtures shared by the whole suite: a ready station folder and simulated boards."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flashing.sim import SimulatedBoard, start_boards
from station.context import Station, open_station
from station.demo.line import prepare_folder

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FAST_TIMEOUTS = """
[timeouts]
answer_seconds = 0.3
retries = 2
step_retries = 1
step_seconds = 20
"""


@pytest.fixture
def station_folder(tmp_path: Path) -> Path:
    """A demo station folder (station.ini, demo claim material) with short board timeouts
    and no [cloud] section."""
    folder = tmp_path / "station"
    ini = prepare_folder(folder)
    text = ini.read_text().split("[timeouts]")[0] + FAST_TIMEOUTS
    text = re.sub(r"(?ms)^\[cloud\].*?(?=^\[)", "", text)  # tests that sync add their own [cloud]
    ini.write_text(text)
    return folder


@pytest.fixture
def station(station_folder: Path) -> Iterator[Station]:
    """An open station on ``station_folder`` holding the line, with batch B1 (product GW) open."""
    with open_station(station_folder / "station.ini") as opened:
        opened.take_line()
        opened.records.open_batch("B1", "GW", 100, "tester")
        yield opened


@pytest.fixture
def boards() -> Iterator[Callable[..., list[SimulatedBoard]]]:
    """Start simulated boards on ptys: ``boards(3, faults={1: ["wrong-cn"]})``; all stopped afterwards."""
    started: list[SimulatedBoard] = []
    next_number = [1]

    def start(count: int = 1, **kwargs: object) -> list[SimulatedBoard]:
        kwargs.setdefault("first_number", next_number[0])
        new = start_boards(count, **kwargs)  # type: ignore[arg-type]
        next_number[0] = int(kwargs["first_number"]) + count  # type: ignore[call-overload]
        started.extend(new)
        return new

    yield start
    for board in started:
        board.stop()


# ============================================================================ DynamoDB
# Fixtures for the DynamoDB sync tests (tests/sync). Real HTTP to a DynamoDB-compatible
# server: station.sync.local_server.LocalDynamo (moto) on loopback, or the endpoint named by
# $STATION_TEST_DYNAMODB_ENDPOINT (e.g. DynamoDB Local at http://127.0.0.1:8000). Every
# test gets its own uniquely named table, deleted afterwards. Imports are local so this
# section stays self-contained.

STATION_TEST_DYNAMODB_ENDPOINT = "STATION_TEST_DYNAMODB_ENDPOINT"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """The endpoint URL: $STATION_TEST_DYNAMODB_ENDPOINT if set, else a LocalDynamo."""
    external = os.environ.get(STATION_TEST_DYNAMODB_ENDPOINT, "").strip()
    if external:
        yield external
        return
    from station.sync.local_server import LocalDynamo

    with LocalDynamo() as server:
        yield server.endpoint_url


@pytest.fixture
def dynamodb_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A region, and dummy AWS credentials only when the environment has none; returns the
    region. Endpoint overrides from the developer's shell are removed."""
    import boto3

    if not os.environ.get(STATION_TEST_DYNAMODB_ENDPOINT, "").strip():
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # loopback: no IMDS lookups
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    if boto3.session.Session().get_credentials() is None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return region


@pytest.fixture
def allowlist_table(dynamodb_endpoint: str, dynamodb_env: str) -> Iterator[object]:
    """A fresh allow-list table (create_allowlist_table: key serial, GSI on batch).

    Yields an object with ``name``, ``endpoint_url``, ``region`` and ``client`` (a boto3
    DynamoDB client for the endpoint)."""
    import types
    import uuid

    import boto3
    from botocore.config import Config

    from station.allowlist_item import create_allowlist_table

    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name=dynamodb_env,
        config=Config(retries={"total_max_attempts": 3}),
    )
    name = f"station-sync-test-{uuid.uuid4().hex[:12]}"
    create_allowlist_table(client, name)
    try:
        yield types.SimpleNamespace(
            name=name, endpoint_url=dynamodb_endpoint, region=dynamodb_env, client=client
        )
    finally:
        try:
            client.delete_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            pass
        client.close()
