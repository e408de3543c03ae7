"""``station cloud claim-create`` in a station folder uses its ``[cloud] region``
(loopback moto server, never real AWS)."""

from __future__ import annotations

import json

import boto3
import pytest
from cli_helpers import ini_set
from click.testing import CliRunner

from station.cli import main
from station.sync.local_server import LocalDynamo


@pytest.fixture(scope="module")
def endpoint():
    with LocalDynamo() as server:
        yield server.endpoint_url


def test_claim_create_takes_the_region_of_station_ini(endpoint, station_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ini_set(station_folder / "station.ini", "cloud", "region", "eu-west-1")
    iot = boto3.client("iot", endpoint_url=endpoint, region_name="eu-west-1")
    iot.create_policy(policyName="tpl-claim", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    before = len(iot.list_certificates()["certificates"])

    result = CliRunner().invoke(main, ["--config", str(station_folder / "station.ini"), "cloud", "claim-create",
                                       "--template", "tpl", "--out", str(tmp_path / "claim"),
                                       "--endpoint-url", endpoint])

    assert result.exit_code == 0, result.output
    assert len(iot.list_certificates()["certificates"]) == before + 1
