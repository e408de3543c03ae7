"""A table that is not the one the station synced to (re-created, or `station cloud local`
restarted with an empty memory) gets every unit again (loopback moto server)."""

from __future__ import annotations

import signal
import socket

import boto3
from cli_helpers import Running, ini_set
from click.testing import CliRunner

from records import Records
from station.cli import main
from station.sync.local_server import LocalDynamo


def _provision(folder, count: int) -> None:
    with Records(folder / "station.sqlite") as records:
        records.open_batch("B1", "GW", 100, "tester")
        for n in range(1, count + 1):
            attempt = records.start_attempt(port="p", station_id="DEMO-STATION-1", operator="t", driver="agent",
                                            batch="B1")
            records.finish_attempt_pass(attempt, serial=f"SIM{n:06d}", batch="B1", product="GW",
                                        device_key_sha256=f"{n:064x}", claim_cert_sha256="c" * 64,
                                        station_id="DEMO-STATION-1", operator="t", steps=[])


def _cli(ini, *args: str):
    return CliRunner().invoke(main, ["--config", str(ini), *args])


def _rows(endpoint: str, table: str) -> int:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    return len(client.scan(TableName=table, ConsistentRead=True)["Items"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_table_that_forgot_gets_every_unit_again(station_folder, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ini = station_folder / "station.ini"
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    ini_set(ini, "cloud", "table", "forgetful")
    ini_set(ini, "cloud", "region", "us-east-1")
    ini_set(ini, "cloud", "endpoint_url", endpoint)
    _provision(station_folder, 5)
    first = Running("cloud", "local", "--port", str(port), cwd=station_folder)
    first.wait_for("Press Ctrl-C", timeout=60)
    synced = _cli(ini, "sync")
    assert synced.exit_code == 0, synced.output
    first.signal(signal.SIGINT)
    first.wait()
    second = Running("cloud", "local", "--port", str(port), cwd=station_folder)
    try:
        second.wait_for("Press Ctrl-C", timeout=60)
        assert _rows(endpoint, "forgetful") == 0

        again = _cli(ini, "sync")

        assert again.exit_code == 0, again.output
        assert "sending all 5 unit(s) again" in again.output
        assert _rows(endpoint, "forgetful") == 5
    finally:
        second.signal(signal.SIGINT)
        second.wait()


def test_the_same_table_is_not_sent_again(station_folder, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ini = station_folder / "station.ini"
    _provision(station_folder, 3)
    with LocalDynamo() as server:
        ini_set(ini, "cloud", "table", "steady")
        ini_set(ini, "cloud", "region", "us-east-1")
        ini_set(ini, "cloud", "endpoint_url", server.endpoint_url)
        _cli(ini, "table", "create")
        _cli(ini, "sync")

        again = _cli(ini, "sync")

    assert again.exit_code == 0
    assert "again" not in again.output
    with Records(station_folder / "station.sqlite") as records:
        assert records.count_pending_sync() == 0
