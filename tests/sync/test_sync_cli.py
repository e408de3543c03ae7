"""``station sync``, ``sync status``, ``table create``, ``revoke``/``unrevoke`` on a station
folder, through click's CliRunner (and one real subprocess for ``--watch``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sync_helpers import StationDB, fingerprint, free_port, provision_into

from station.cli import main
from station.config import load_config
from station.locks import FileLock, lock_path


def add_cloud(folder: Path, *, table: str, region: str, endpoint_url: str | None,
              extra: str = "") -> Path:
    ini = folder / "station.ini"
    ini.write_text(
        ini.read_text()
        + f"\n[cloud]\ntable = {table}\nregion = {region}\nendpoint_url = {endpoint_url or ''}\n"
        + extra
    )
    return ini


@pytest.fixture
def station_ini(station_folder: Path, allowlist_table) -> Path:
    return add_cloud(station_folder, table=allowlist_table.name, region=allowlist_table.region,
                     endpoint_url=allowlist_table.endpoint_url)


@pytest.fixture
def units(station_ini: Path):
    """Provision units into the station folder's database, as its station id."""
    config = load_config(station_ini)

    def provision(*serials: str, station_id: str | None = None, key_prefix: str = "") -> None:
        db = StationDB(config.database, station_id or config.station_id)
        try:
            for serial in serials:
                db.provision(serial, key=fingerprint(f"{key_prefix}{station_id} {serial}"))
        finally:
            db.close()

    return provision


def station(ini: Path, *args: str, input: str | None = None):
    result = CliRunner().invoke(main, ["--config", str(ini), *args], catch_exceptions=False, input=input)
    return result


def supervisor(ini: Path, name: str = "qa-bob", pin: str = "2468") -> tuple[str, ...]:
    """Add a supervisor; returns the options that sign a change as them (PIN on stdin)."""
    from records import Records

    with Records(load_config(ini).database) as records:
        if not any(u.name == name for u in records.users()):
            records.add_user(name, "supervisor", pin, actor="admin")
    return ("--by", name, "--pin-stdin")


def test_sync_sends_pending_units_and_exits_0(station_ini, units, cloud_item):
    units("SIM000001", "SIM000002", "SIM000003")
    result = station(station_ini, "sync")
    assert result.exit_code == 0, result.output
    assert "3 sent, 0 unchanged, 0 conflicts, 0 failed; 0 pending" in result.stdout
    assert cloud_item("SIM000002")["station_id"] == "DEMO-STATION-1"

    again = station(station_ini, "sync", "--json")
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    assert (data["sent"], data["pending_left"], data["exit_code"], data["ok"]) == (0, 0, 0, True)
    assert data["table"] == load_config(station_ini).cloud.table


def test_sync_status(station_ini, units):
    units("SIM000001", "SIM000002")
    before = json.loads(station(station_ini, "sync", "status", "--json").stdout)
    assert (before["pending"], before["last_run"], before["last_success"]) == (2, None, None)
    assert station(station_ini, "sync").exit_code == 0
    after = station(station_ini, "sync", "status", "--json")
    assert after.exit_code == 0
    data = json.loads(after.stdout)
    assert data["pending"] == 0 and data["last_success"]["sent"] == 2
    assert data["last_error"] is None and data["conflicts"] == []
    text = station(station_ini, "sync", "status").stdout
    assert "pending:       0 unit(s)" in text and "last success:" in text


def test_table_create(station_folder, allowlist_table):
    name = f"station-cli-create-{uuid.uuid4().hex[:10]}"
    ini = add_cloud(station_folder, table=name, region=allowlist_table.region,
                    endpoint_url=allowlist_table.endpoint_url)
    try:
        result = station(ini, "table", "create", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "ACTIVE"
        table = allowlist_table.client.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [{"AttributeName": "serial", "KeyType": "HASH"}]
        assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["batch-index", "device-key-index"]
        again = station(ini, "table", "create")  # an existing, matching table is kept
        assert again.exit_code == 0 and "is ACTIVE" in again.stdout
    finally:
        allowlist_table.client.delete_table(TableName=name)


def test_revoke_and_unrevoke_reach_the_table(station_ini, units, cloud_item):
    units("SIM000001")
    station(station_ini, "sync")
    signed = supervisor(station_ini)
    result = station(station_ini, "revoke", "SIM000001", "--reason", "returned", *signed, input="2468\n")
    assert result.exit_code == 0 and "now revoked" in result.stdout
    assert station(station_ini, "sync").exit_code == 0
    assert cloud_item("SIM000001")["status"] == "revoked"
    again = station(station_ini, "revoke", "SIM000001", "--reason", "twice", *signed, input="2468\n")
    assert again.exit_code == 0 and "already revoked" in again.stdout

    result = station(station_ini, "unrevoke", "SIM000001", "--reason", "retested", *signed, "--json",
                     input="2468\n")
    assert result.exit_code == 0 and json.loads(result.stdout)["unit"]["status"] == "allowed"
    assert station(station_ini, "sync").exit_code == 0
    assert (cloud_item("SIM000001")["status"], cloud_item("SIM000001")["rev"]) == ("allowed", 3)
    audit = json.loads(station(station_ini, "show", "SIM000001", "--json").stdout)["audit"]
    assert [e["actor"] for e in audit if e["action"] == "unit.revoke"] == ["qa-bob"]


def test_revoking_an_unknown_serial_is_refused(station_ini):
    result = station(station_ini, "revoke", "NOPE", "--reason", "x", *supervisor(station_ini), input="2468\n")
    assert result.exit_code == 3 and "SERIAL_UNKNOWN" in result.stderr


def test_a_missing_table_is_one_line_with_a_hint_and_exit_3(station_folder, allowlist_table):
    ini = add_cloud(station_folder, table="no-such-table-" + uuid.uuid4().hex[:8],
                    region=allowlist_table.region, endpoint_url=allowlist_table.endpoint_url)
    provision_into(load_config(ini).database, "DEMO-STATION-1", "SIM000001")
    result = station(ini, "sync")
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: SYNC_TABLE_MISSING: ")
    assert lines[1].startswith("  what to do: ") and "station table create" in lines[1]
    assert "Traceback" not in result.output
    status = json.loads(station(ini, "sync", "status", "--json").stdout)
    assert status["pending"] == 1 and status["last_error"].startswith("SYNC_TABLE_MISSING")


def test_a_conflict_exits_4_and_is_listed(station_ini, units, allowlist_table, tmp_path):
    from station.config import CloudConfig
    from station.sync.dynamo import make_client
    from station.sync.engine import AllowlistSync

    other = StationDB(tmp_path / "other.sqlite", "OTHER-STATION")  # another line PC...
    other.provision("SIM000001", key=fingerprint("theirs"))
    client = make_client(CloudConfig(table=allowlist_table.name, region=allowlist_table.region,
                                     endpoint_url=allowlist_table.endpoint_url))
    AllowlistSync(other.records, client, station_id="OTHER-STATION",
                  table_name=allowlist_table.name).run()
    other.close()
    client.close()
    units("SIM000001", "SIM000002")  # ...and this one provisioned the same serial
    result = station(station_ini, "sync")
    assert result.exit_code == 4
    assert "1 sent, 0 unchanged, 1 conflicts" in result.stdout
    assert "conflict: SIM000001" in result.stdout
    status = station(station_ini, "sync", "status")
    assert "OTHER-STATION" in status.stdout and "conflicts:     1 recorded" in status.stdout
    assert station(station_ini, "sync").exit_code == 0  # not resent until it changes


def test_a_second_sync_of_the_station_waits_its_turn(station_ini, units):
    units("SIM000001")
    with FileLock(lock_path(load_config(station_ini), "sync"), purpose="test"):
        result = station(station_ini, "sync")
    assert result.exit_code == 5
    assert "LOCK_BUSY" in result.stderr and "syncing this station" in result.stderr
    assert station(station_ini, "sync").exit_code == 0


def test_offline_exits_4_and_keeps_the_units(station_folder, allowlist_table):
    ini = add_cloud(station_folder, table=allowlist_table.name, region=allowlist_table.region,
                    endpoint_url=f"http://127.0.0.1:{free_port()}")
    provision_into(load_config(ini).database, "DEMO-STATION-1", "SIM000001")
    started = time.monotonic()
    result = station(ini, "sync", "--retry-for", "0.5", "--json")
    assert time.monotonic() - started < 20
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert data["error_code"] == "SYNC_ENDPOINT_UNREACHABLE" and data["pending_left"] == 1
    assert "warning" not in result.stdout


def test_secrets_in_station_ini_are_refused(station_folder, allowlist_table):
    ini = add_cloud(station_folder, table=allowlist_table.name, region=allowlist_table.region,
                    endpoint_url=allowlist_table.endpoint_url,
                    extra="aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    result = station(ini, "sync")
    assert result.exit_code == 3
    assert "CONFIG_SECRET_IN_INI" in result.stderr
    assert "wJalrXUtnFEMI" not in result.output


def test_the_sync_is_not_configured(station_folder):
    result = station(station_folder / "station.ini", "sync")
    assert result.exit_code == 3 and "SYNC_NOT_CONFIGURED" in result.stderr


def test_aws_endpoint_url_dynamodb_is_honoured(station_folder, allowlist_table, monkeypatch,
                                               cloud_item):
    ini = add_cloud(station_folder, table=allowlist_table.name, region=allowlist_table.region,
                    endpoint_url=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", allowlist_table.endpoint_url)
    provision_into(load_config(ini).database, "DEMO-STATION-1", "SIM000009")
    result = station(ini, "sync", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["endpoint"].endswith("(from AWS_ENDPOINT_URL_DYNAMODB)")
    assert cloud_item("SIM000009")["rev"] == 1


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX here")
def test_watch_survives_transient_errors_and_stops_on_ctrl_c(station_folder, allowlist_table,
                                                             tmp_path):
    port = free_port()
    ini = add_cloud(station_folder, table=allowlist_table.name, region=allowlist_table.region,
                    endpoint_url=f"http://127.0.0.1:{port}")
    provision_into(load_config(ini).database, "DEMO-STATION-1", "SIM000001")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(
        [sys.executable, "-c", "from station.cli import main; main()", "--config", str(ini),
         "sync", "--watch", "1", "--retry-for", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while len(lines) < 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
        assert child.poll() is None, child.stderr.read()
        child.send_signal(signal.SIGINT)
        code = child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    reader.join(5)
    rounds = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(rounds) >= 2
    assert all(r["error_code"] == "SYNC_ENDPOINT_UNREACHABLE" for r in rounds)
    assert code == 0
