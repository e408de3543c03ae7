"""A station's signing key: made on the station, registered and retired by the cloud
administrator, never printed."""

from __future__ import annotations

import json
import os
import stat
import uuid

import pytest
from click.testing import CliRunner

from station.allowlist_item import create_stations_table
from station.cli import main


@pytest.fixture
def registry(allowlist_table):
    name = f"stations-{uuid.uuid4().hex[:10]}"
    create_stations_table(allowlist_table.client, name)
    yield allowlist_table, name
    allowlist_table.client.delete_table(TableName=name)


def cli(folder, *args):
    return CliRunner().invoke(main, ["--config", str(folder / "station.ini"), *args])


def admin(folder, registry, *args):
    table, name = registry
    return cli(folder, "cloud", *args, "--table", name, "--endpoint-url", table.endpoint_url,
               "--region", table.region)


def test_key_create_writes_an_owner_only_key_and_prints_only_the_public_half(tmp_path, station_folder):
    (station_folder / "station-signing-key.pem").unlink()
    result = cli(station_folder, "key", "create")
    assert result.exit_code == 0, result.output
    key_file = station_folder / "station-signing-key.pem"
    if os.name != "nt":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in result.output
    assert "PRIVATE" not in result.output


def test_key_create_never_replaces_an_existing_key(station_folder):
    before = (station_folder / "station-signing-key.pem").read_bytes()
    result = cli(station_folder, "key", "create")
    assert result.exit_code == 3 and "SIGNING_KEY_EXISTS" in result.output
    assert (station_folder / "station-signing-key.pem").read_bytes() == before


def test_register_list_and_retire_a_station(station_folder, registry, tmp_path):
    public = tmp_path / "station.pub"
    public.write_text(cli(station_folder, "key", "show", "--pem").output)
    key_id = json.loads(cli(station_folder, "key", "show", "--json").output)["key_id"]

    registered = admin(station_folder, registry, "register-station", "--public-key", str(public),
                       "--station-id", "DEMO-STATION-1")
    assert registered.exit_code == 0, registered.output
    listed = json.loads(admin(station_folder, registry, "stations", "--json").output)
    assert [(s["station_id"], s["key_id"], s["status"]) for s in listed] == [
        ("DEMO-STATION-1", key_id, "active")]

    assert admin(station_folder, registry, "retire-station", key_id).exit_code == 0
    listed = json.loads(admin(station_folder, registry, "stations", "--json").output)
    assert listed[0]["status"] == "retired" and listed[0]["retired_at"]


def test_a_retired_key_cannot_be_registered_again(station_folder, registry, tmp_path):
    public = tmp_path / "station.pub"
    public.write_text(cli(station_folder, "key", "show", "--pem").output)
    key_id = json.loads(cli(station_folder, "key", "show", "--json").output)["key_id"]
    args = ("register-station", "--public-key", str(public), "--station-id", "DEMO-STATION-1")
    assert admin(station_folder, registry, *args).exit_code == 0
    assert admin(station_folder, registry, "retire-station", key_id).exit_code == 0

    again = admin(station_folder, registry, *args)
    assert again.exit_code == 3 and "STATION_KEY_EXISTS" in again.output


def test_a_readable_signing_key_is_refused_by_the_sync(station_folder):
    from station.config import load_config
    from station.sync.engine import station_signer
    from station.sync.signing import SigningKeyError

    if os.name == "nt":
        pytest.skip("POSIX file modes")
    key_file = station_folder / "station-signing-key.pem"
    key_file.chmod(0o644)
    with pytest.raises(SigningKeyError) as caught:
        station_signer(load_config(station_folder / "station.ini"))
    assert caught.value.code == "SIGNING_KEY_PERMISSIONS" and "chmod 600" in caught.value.hint
