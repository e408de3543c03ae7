"""Fixtures for the cloud side: a real DynamoDB-compatible server over HTTP, device PKI.

The server is ``station.sync.local_server.LocalDynamo`` (moto) on loopback, or the endpoint
in ``STATION_TEST_DYNAMODB_ENDPOINT`` (e.g. DynamoDB Local). Every test gets its own
uniquely named allow-list and station registry tables, created and deleted here.

The ``hook`` fixture is the hook as deployed: loaded from the Lambda zip that
``cloud.package.build_lambda_zip`` builds, not from the source tree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import os
import sys
import types
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cloud_rows import StationKey, make_event, row_item, unit_values
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cloud.package import build_lambda_zip
from station.allowlist_item import create_allowlist_table, create_stations_table
from station.sync.local_server import LocalDynamo

ENDPOINT_ENV = "STATION_TEST_DYNAMODB_ENDPOINT"


# ----------------------------------------------------------------- DynamoDB


@pytest.fixture(scope="session")
def dynamo_endpoint() -> Any:
    external = os.environ.get(ENDPOINT_ENV, "").strip()
    if external:
        yield external
        return
    with LocalDynamo() as server:
        yield server.endpoint_url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A region, and dummy credentials only when the environment has none."""
    if not os.environ.get(ENDPOINT_ENV, "").strip():
        # Loopback server: no reason to ask an instance metadata service for credentials.
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    if boto3.session.Session().get_credentials() is None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # Never let a developer's endpoint override for all services leak in.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return region


@pytest.fixture
def ddb(dynamo_endpoint: str, aws_env: str) -> Any:
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=dynamo_endpoint,
        region_name=aws_env,
        config=Config(retries={"total_max_attempts": 3}),
    )
    yield client
    client.close()


@pytest.fixture
def table(ddb: Any) -> Any:
    name = f"station-test-{uuid.uuid4().hex[:12]}"
    create_allowlist_table(ddb, name)
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture
def stations_table(ddb: Any) -> Any:
    name = f"station-test-reg-{uuid.uuid4().hex[:12]}"
    create_stations_table(ddb, name)
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="session")
def packaged_cloud(tmp_path_factory: pytest.TempPathFactory) -> types.ModuleType:
    """The ``cloud`` package as it runs in Lambda: imported from the built zip, under its
    own module name so the source tree's ``cloud`` stays separate."""
    archive = tmp_path_factory.mktemp("lambda") / "cloud-lambda.zip"
    build_lambda_zip(archive)
    alias = "cloud_from_zip"
    package = types.ModuleType(alias)
    package.__path__ = [f"{archive}/cloud"]  # zipimport reads the package from the zip
    package.__package__ = alias
    sys.modules[alias] = package
    importlib.import_module(f"{alias}.hook")
    importlib.import_module(f"{alias}.revoker")
    package.archive = archive  # type: ignore[attr-defined]
    return package


HOOK_ENV = (
    "SERIAL_PARAMETER", "THING_NAME_PREFIX", "ALLOW_REPROVISION", "REQUIRE_DEVICE_SIGNATURE",
)


@pytest.fixture
def hook(
    dynamo_endpoint: str,
    table: str,
    stations_table: str,
    aws_env: str,
    packaged_cloud: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The packaged hook configured for this test's tables, with fresh caches. The
    registry cache is off so that a retirement shows at once."""
    hook_module = packaged_cloud.hook

    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("STATIONS_TABLE_NAME", stations_table)
    monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "0")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamo_endpoint)
    for name in HOOK_ENV:
        monkeypatch.delenv(name, raising=False)
    hook_module.reset_client_cache()
    yield hook_module
    hook_module.reset_client_cache()


@pytest.fixture
def station_key(ddb: Any, stations_table: str) -> StationKey:
    """The signing key of station ``line1-st3``, registered and active."""
    key = StationKey("line1-st3")
    key.register(ddb, stations_table)
    return key


@pytest.fixture
def put_unit(ddb: Any, table: str, station_key: StationKey) -> Any:
    """Write an allow-list item the way a station does: its attributes, signed by
    ``signer`` (default: the registered ``station_key``; ``None`` leaves it unsigned)."""
    default = object()

    def put(serial: str, key_sha256: str, *, signer: Any = default, extra: Any = None,
            **values: Any) -> dict[str, Any]:
        row = unit_values(serial, key_sha256, **values)
        item = row_item(row, station_key if signer is default else signer, **(extra or {}))
        ddb.put_item(TableName=table, Item=item)
        return item

    return put


@pytest.fixture
def get_unit(ddb: Any, table: str) -> Any:
    def get(serial: str) -> dict[str, Any] | None:
        item = ddb.get_item(TableName=table, Key={"serial": {"S": serial}}, ConsistentRead=True)
        item = item.get("Item")
        if item is None:
            return None
        return {k: next(iter(v.values())) for k, v in item.items()}

    return get


# ----------------------------------------------------------------- PKI


@dataclass
class DeviceCert:
    pem: str
    der: bytes
    certificate_id: str  # what AWS IoT calls it: SHA-256 of the DER certificate
    key_sha256: str  # SHA-256 of the DER SubjectPublicKeyInfo (the contract value)
    spki_der: bytes
    key: Any = None  # the device's private key (signs the proof of possession)


class LocalCA:
    """A CA that signs device certificates, standing in for AWS IoT's CSR signing."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "station-test-ca")])
        now = dt.datetime.now(dt.UTC)
        self.name = name
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @staticmethod
    def new_key(kind: str = "p256") -> Any:
        if kind == "p256":
            return ec.generate_private_key(ec.SECP256R1())
        if kind == "p384":
            return ec.generate_private_key(ec.SECP384R1())
        if kind == "rsa2048":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        raise ValueError(kind)

    def issue(self, serial: str, key: Any = None, *, version1: bool = False) -> DeviceCert:
        key = key if key is not None else self.new_key()
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * 20))
        )
        if not version1:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
        cert = builder.sign(self.key, hashes.SHA256())
        der = cert.public_bytes(serialization.Encoding.DER)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return DeviceCert(
            pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            der=der,
            certificate_id=hashlib.sha256(der).hexdigest(),
            key_sha256=hashlib.sha256(spki).hexdigest(),
            spki_der=spki,
            key=key,
        )


@pytest.fixture(scope="session")
def ca() -> LocalCA:
    return LocalCA()


@pytest.fixture
def event_for() -> Any:
    return make_event
