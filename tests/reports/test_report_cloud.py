"""``--source cloud``: the batch's counts from the DynamoDB table (Query on batch-index),
against a real DynamoDB-compatible server over HTTP: LocalDynamo on loopback, or
$STATION_TEST_DYNAMODB_ENDPOINT when set. One uniquely named table for the module."""

from __future__ import annotations

import configparser
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from report_fixtures import CLAIM_A, CLAIM_B, device_key, report_clock

from station.cli import main as station_main
from station.demo.line import prepare_folder
from station.reports.cloud_source import build_cloud_report, query_batch_items
from station.reports.data import STATION_ONLY_FIELDS, ReportError
from station.reports.formats import render

ENDPOINT_ENV = "STATION_TEST_DYNAMODB_ENDPOINT"
REGION = "us-east-1"

# serial: status, station, claim, factory_at, provisioned_at (hook's) or None
CLOUD_UNITS = {
    "CU001": ("allowed", "ST-01", CLAIM_A, "2026-11-22T10:00:30.000Z", "2026-11-23T08:00:00Z"),
    "CU002": ("allowed", "ST-02", CLAIM_A, "2026-11-22T10:20:00.000Z", None),
    "CU003": ("revoked", "ST-01", CLAIM_A, "2026-11-22T10:40:00.000Z", None),
    "CU004": ("allowed", "ST-01", CLAIM_B, "2026-11-22T12:05:00.000Z", "2026-11-23T09:00:00Z"),
    "CU005": ("allowed", "ST-02", CLAIM_A, "2026-11-22T12:10:00.000Z", None),
}
OTHER_BATCH_UNITS = ("OT001", "OT002")


@pytest.fixture(scope="module")
def dynamo() -> Iterator[SimpleNamespace]:
    """The endpoint, a client and a fresh table holding batch CB1 and another batch."""
    import boto3
    from botocore.config import Config

    saved = {name: os.environ.get(name) for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
        "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")}
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    if boto3.session.Session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    server = None
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        from station.sync.local_server import LocalDynamo

        server = LocalDynamo()
        endpoint = server.start()
    from station.allowlist_item import create_allowlist_table

    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION,
        config=Config(retries={"total_max_attempts": 3}),
    )
    table = f"station-report-test-{uuid.uuid4().hex[:12]}"
    create_allowlist_table(client, table)
    try:
        for serial, (status, station, claim, factory_at, provisioned_at) in CLOUD_UNITS.items():
            item: dict[str, Any] = {
                "serial": {"S": serial}, "batch": {"S": "CB1"}, "product": {"S": "sensor-v2"},
                "status": {"S": status}, "station_id": {"S": station},
                "device_key_sha256": {"S": device_key(serial)},
                "claim_cert_sha256": {"S": claim}, "factory_at": {"S": factory_at},
                "rev": {"N": "1"},
            }
            if provisioned_at:
                item["provisioned_at"] = {"S": provisioned_at}
                item["thing_name"] = {"S": f"thing-{serial}"}
                item["certificate_id"] = {"S": "c" * 64}
            client.put_item(TableName=table, Item=item)
        for serial in OTHER_BATCH_UNITS:
            client.put_item(TableName=table, Item={
                "serial": {"S": serial}, "batch": {"S": "OTHER"}, "product": {"S": "x"},
                "status": {"S": "allowed"}, "station_id": {"S": "ST-09"},
                "device_key_sha256": {"S": device_key(serial)},
                "claim_cert_sha256": {"S": CLAIM_A},
                "factory_at": {"S": "2026-11-22T10:00:00.000Z"}, "rev": {"N": "1"}})
        yield SimpleNamespace(endpoint=endpoint, client=client, table=table)
    finally:
        try:
            client.delete_table(TableName=table)
        finally:
            client.close()
            if server is not None:
                server.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def test_counts_from_the_cloud(dynamo: SimpleNamespace) -> None:
    report = build_cloud_report(dynamo.client, dynamo.table, "CB1", now=report_clock)
    c = report.counts
    assert (c.units_passed, c.allow_list_units, c.units_synced) == (4, 5, 5)
    assert c.units_revoked == 1
    assert c.units_provisioned == 2
    for unknown in ("attempts", "units_attempted", "units_failed", "units_retested",
                    "units_pending_sync", "first_pass_yield", "final_yield",
                    "attempts_per_unit_mean"):
        assert getattr(c, unknown) is None, unknown
    h = report.header
    assert h.source == "cloud" and h.table == dynamo.table
    assert h.product == "sensor-v2" and h.stations == ("ST-01", "ST-02")
    assert h.operators is None and h.planned_quantity is None
    assert [(x.sha256, x.units) for x in h.claim_certificates] == [(CLAIM_A, 4), (CLAIM_B, 1)]
    assert (h.first_pass_at, h.last_pass_at) == (
        "2026-11-22T10:00:30.000Z", "2026-11-22T12:10:00.000Z")
    assert [(b.hour, b.attempts, b.passed) for b in report.throughput] == [
        ("2026-11-22T10:00Z", None, 3), ("2026-11-22T11:00Z", None, 0),
        ("2026-11-22T12:00Z", None, 2)]
    assert report.failures == () and report.cycle_times is None
    assert report.unavailable == STATION_ONLY_FIELDS
    assert any("Only the station" in note for note in report.notes)
    units = {u.serial: u for u in report.units}
    assert list(units) == sorted(CLOUD_UNITS)
    assert units["CU003"].status == "revoked"
    assert units["CU001"].provisioned_at == "2026-11-23T08:00:00Z"
    assert units["CU002"].device_key_sha256 == device_key("CU002")
    assert units["CU004"].last_pass_at == "2026-11-22T12:05:00.000Z"
    assert all(u.attempts is None and u.operator is None for u in units.values())


def test_the_query_is_paginated(dynamo: SimpleNamespace) -> None:
    calls = []
    real_query = dynamo.client.query

    class Counting:
        def query(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return real_query(**kwargs)

    items = list(query_batch_items(Counting(), dynamo.table, "CB1", page_size=2))
    assert sorted(item.serial for item in items) == sorted(CLOUD_UNITS)
    assert len(calls) >= 3  # 5 items, 2 a page
    assert all(call["IndexName"] == "batch-index" for call in calls)
    assert "ExclusiveStartKey" in calls[1]
    assert build_cloud_report(Counting(), dynamo.table, "CB1", page_size=2).counts == (
        build_cloud_report(dynamo.client, dynamo.table, "CB1").counts)


def test_every_format_says_what_only_the_station_knows(dynamo: SimpleNamespace,
                                                       tmp_path: Path) -> None:
    report = build_cloud_report(dynamo.client, dynamo.table, "CB1", now=report_clock)
    data = json.loads(render(report, "json"))
    assert data["source"] == "cloud" and data["counts"]["units_attempted"] is None
    assert "counts.first_pass_yield" in data["unavailable"]
    assert "failures" in data["unavailable"] and "cycle_times" in data["unavailable"]
    html = render(report, "html").decode()
    assert "Only the station knows" in html and "n/a" in html
    assert "Provisioned in AWS IoT" in html
    csv_text = render(report, "csv").decode("utf-8-sig")
    assert "unavailable," in csv_text and "counts.attempts" in csv_text
    assert render(report, "pdf").startswith(b"%PDF")


def test_a_batch_the_cloud_does_not_have(dynamo: SimpleNamespace) -> None:
    with pytest.raises(ReportError) as raised:
        build_cloud_report(dynamo.client, dynamo.table, "NOT-THERE")
    assert raised.value.code == "BATCH_NOT_IN_CLOUD"


def test_a_table_that_does_not_exist(dynamo: SimpleNamespace) -> None:
    with pytest.raises(ReportError) as raised:
        build_cloud_report(dynamo.client, f"missing-{uuid.uuid4().hex[:8]}", "CB1")
    assert raised.value.code == "CLOUD_TABLE_MISSING"


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def station_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo station folder whose station.ini names no DynamoDB table."""
    folder = tmp_path_factory.mktemp("cloud-station")
    ini = prepare_folder(folder)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    if not parser.has_section("cloud"):
        parser.add_section("cloud")
    for key in ("table", "endpoint_url"):
        parser.set("cloud", key, "")
    with open(ini, "w", encoding="utf-8") as handle:
        parser.write(handle)
    return folder


def station(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(
        station_main, ["--config", str(folder / "station.ini"), *args],
        env={"STATION_CONFIG": None}, catch_exceptions=False,
    )


def test_cli_source_cloud(dynamo: SimpleNamespace, station_dir: Path) -> None:
    result = station(station_dir, "report", "--batch", "CB1", "--source", "cloud",
                     "--table", dynamo.table, "--endpoint-url", dynamo.endpoint,
                     "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout_bytes)
    assert data["counts"]["units_passed"] == 4 and data["counts"]["units_revoked"] == 1
    assert data["header"]["table"] == dynamo.table


def test_cli_source_cloud_html_file(dynamo: SimpleNamespace, station_dir: Path,
                                    tmp_path: Path) -> None:
    target = tmp_path / "cloud.html"
    result = station(station_dir, "report", "--batch", "CB1", "--source", "cloud",
                     "--table", dynamo.table, "--endpoint-url", dynamo.endpoint,
                     "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "only known to the station" in result.stdout
    assert "Only the station knows" in target.read_text()


def test_cli_cloud_errors(dynamo: SimpleNamespace, station_dir: Path) -> None:
    result = station(station_dir, "report", "--batch", "NOT-THERE", "--source", "cloud",
                     "--table", dynamo.table, "--endpoint-url", dynamo.endpoint)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: BATCH_NOT_IN_CLOUD: ")
    assert "what to do:" in result.stderr and "Traceback" not in result.output
    result = station(station_dir, "report", "--batch", "CB1", "--source", "cloud",
                     "--endpoint-url", dynamo.endpoint)  # station.ini names no table
    assert result.exit_code == 3
    assert result.stderr.startswith("error: CLOUD_NOT_CONFIGURED: ")


def test_cli_source_cloud_without_a_station(dynamo: SimpleNamespace, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """QA away from the line: no station.ini, the table named on the command line."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        station_main,
        ["report", "--batch", "CB1", "--source", "cloud", "--table", dynamo.table,
         "--region", REGION, "--endpoint-url", dynamo.endpoint, "--format", "csv"],
        env={"STATION_CONFIG": None}, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode("utf-8-sig")
    assert "units_passed,4" in text and "units_revoked,1" in text
    assert "units_provisioned,2" in text
    assert not (tmp_path / "station.sqlite").exists()
    # without --table there is nothing to go on: the usual missing-config error
    result = CliRunner().invoke(
        station_main, ["report", "--batch", "CB1", "--source", "cloud"],
        env={"STATION_CONFIG": None}, catch_exceptions=False,
    )
    assert result.exit_code == 3 and result.stderr.startswith("error: CONFIG_MISSING: ")
