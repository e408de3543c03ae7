"""station.sync.dynamo: clients from [cloud], the standard endpoint variable, and no secrets in
station.ini."""

from __future__ import annotations

import pytest
from sync_helpers import free_port

from station.config import CloudConfig
from station.errors import ConfigError
from station.sync.dynamo import (
    ClientSettings,
    SyncError,
    make_client,
    make_session,
    refuse_secrets_in_ini,
    validate_endpoint_url,
)
from station.sync.engine import AllowlistSync


def test_aws_endpoint_url_dynamodb_is_honoured_when_endpoint_url_is_empty(
        allowlist_table, monkeypatch, db, cloud_item):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", allowlist_table.endpoint_url)
    client = make_client(CloudConfig(table=allowlist_table.name, region=allowlist_table.region))
    assert client.meta.endpoint_url == allowlist_table.endpoint_url  # boto3 read it itself
    db.provision("SN1")
    report = AllowlistSync(db.records, client, station_id="ST-A",
                           table_name=allowlist_table.name).run()
    assert report.sent == 1 and cloud_item("SN1")["rev"] == 1


def test_endpoint_url_in_station_ini_wins_over_the_environment(allowlist_table, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    client = make_client(CloudConfig(table=allowlist_table.name, region=allowlist_table.region,
                                     endpoint_url=allowlist_table.endpoint_url))
    assert client.meta.endpoint_url == allowlist_table.endpoint_url
    client.describe_table(TableName=allowlist_table.name)


def test_without_any_endpoint_the_client_goes_to_aws(dynamodb_env):
    client = make_client(CloudConfig(table="t", region="eu-west-1"))
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
    config = client.meta.config
    assert config.retries["mode"] == "standard"
    assert (config.connect_timeout, config.read_timeout) == (3.0, 10.0)
    small = make_client(CloudConfig(table="t", region="eu-west-1"),
                        settings=ClientSettings(max_pool_connections=4, retry_mode="standard"))
    assert small.meta.config.max_pool_connections == 4


@pytest.mark.parametrize("url", ["not a url", "ftp://host", "http://", "127.0.0.1:8000",
                                 "http://host:99999"])
def test_an_invalid_endpoint_url_is_a_permanent_error(url, dynamodb_env):
    with pytest.raises(SyncError) as caught:
        make_client(CloudConfig(table="t", region="us-east-1", endpoint_url=url))
    assert caught.value.code == "SYNC_ENDPOINT_INVALID" and caught.value.permanent


def test_an_invalid_endpoint_in_the_environment_is_named(monkeypatch, dynamodb_env):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000")
    with pytest.raises(SyncError) as caught:
        make_client(CloudConfig(table="t", region="us-east-1"))
    assert "AWS_ENDPOINT_URL_DYNAMODB" in caught.value.message


def test_valid_endpoint_urls_pass():
    assert validate_endpoint_url(" http://127.0.0.1:8000 ") == "http://127.0.0.1:8000"
    assert validate_endpoint_url("https://dynamodb.eu-west-1.amazonaws.com")


def test_a_missing_profile_is_a_permanent_error(monkeypatch, tmp_path, dynamodb_env):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(SyncError) as caught:
        make_client(CloudConfig(table="t", region="us-east-1", profile="factory-sync"))
    assert caught.value.code == "SYNC_PROFILE_MISSING" and "factory-sync" in caught.value.message


def test_a_profile_from_the_aws_config_is_used(monkeypatch, tmp_path, dynamodb_env):
    (tmp_path / "credentials").write_text(
        "[factory-sync]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
    (tmp_path / "config").write_text("[profile factory-sync]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    cloud = CloudConfig(table="t", profile="factory-sync")
    assert make_client(cloud).meta.region_name == "ap-southeast-2"
    assert make_session(cloud).get_credentials().access_key == "AKIDEXAMPLE"


def test_no_region_is_a_permanent_error(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(SyncError) as caught:
        make_client(CloudConfig(table="t"))
    assert caught.value.code == "SYNC_NO_REGION"


@pytest.mark.parametrize("key", ["aws_secret_access_key", "aws_access_key_id",
                                 "AWS_SESSION_TOKEN"])
def test_secrets_in_station_ini_are_refused(tmp_path, key):
    ini = tmp_path / "station.ini"
    ini.write_text(f"[station]\nid = X\n[cloud]\ntable = t\n{key} = SUPERSECRETVALUE\n")
    with pytest.raises(ConfigError) as caught:
        refuse_secrets_in_ini(ini)
    assert caught.value.code == "CONFIG_SECRET_IN_INI"
    assert "SUPERSECRETVALUE" not in str(caught.value) + caught.value.hint
    assert "[cloud]" in caught.value.message


def test_a_clean_station_ini_passes(tmp_path):
    ini = tmp_path / "station.ini"
    ini.write_text("[cloud]\ntable = t\nprofile = factory\n; aws_secret_access_key = never\n")
    refuse_secrets_in_ini(ini)
