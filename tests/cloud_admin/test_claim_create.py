"""`station cloud claim-create` against a loopback AWS-compatible server (moto), never real AWS."""

from __future__ import annotations

import json
import stat

import boto3
import pytest
from click.testing import CliRunner

from station.cli import main
from station.provisioning.claim import load_claim_credentials
from station.sync.local_server import LocalDynamo


@pytest.fixture(scope="module")
def endpoint():
    with LocalDynamo() as server:
        yield server.endpoint_url


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def claim_policy(endpoint, aws_env):
    iot = boto3.client("iot", endpoint_url=endpoint, region_name="us-east-1")
    name = "line-template-claim"
    try:
        iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    except iot.exceptions.ResourceAlreadyExistsException:
        pass
    return iot


def claim_create(endpoint, out, *extra):
    return CliRunner().invoke(
        main, ["cloud", "claim-create", "--template", "line-template", "--out", str(out),
               "--endpoint-url", endpoint, "--region", "us-east-1", *extra],
    )


def test_claim_create_writes_owner_only_key_and_prints_the_ini_lines(endpoint, claim_policy, tmp_path):
    result = claim_create(endpoint, tmp_path / "claim")

    assert result.exit_code == 0, result.output
    key = tmp_path / "claim" / "claim.private.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"private_key = {key}" in result.output
    assert "PRIVATE KEY" not in result.output


def test_the_created_claim_material_loads_as_station_claim_credentials(endpoint, claim_policy, tmp_path):
    claim_create(endpoint, tmp_path / "claim")
    folder = tmp_path / "claim"

    credentials = load_claim_credentials(
        folder / "claim.cert.pem", folder / "claim.private.key", folder / "AmazonRootCA1.pem"
    )

    assert "Amazon Root CA 1" not in credentials.subject
    assert len(credentials.cert_sha256) == 64


def test_claim_create_attaches_the_template_claim_policy(endpoint, claim_policy, tmp_path):
    result = claim_create(endpoint, tmp_path / "claim", "--json")
    created = json.loads(result.output)

    attached = claim_policy.list_attached_policies(target=created["certificate_arn"])["policies"]
    assert [p["policyName"] for p in attached] == ["line-template-claim"]


def test_claim_create_refuses_to_overwrite_existing_claim_files(endpoint, claim_policy, tmp_path):
    claim_create(endpoint, tmp_path / "claim")
    second = claim_create(endpoint, tmp_path / "claim")

    assert second.exit_code == 3
    assert "CLAIM_FILES_EXIST" in second.output


def test_a_missing_claim_policy_is_a_clear_error(endpoint, aws_env, tmp_path):
    result = claim_create(endpoint, tmp_path / "claim", "--policy", "no-such-policy")

    assert result.exit_code == 3
    assert "CLAIM_POLICY_MISSING" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "claim").exists()
