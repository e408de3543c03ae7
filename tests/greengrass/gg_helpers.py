"""Claim material and settings for the gateway tests."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from flashing.board import ClaimBundle
from flashing.greengrass import GreengrassSettings
from flashing.sim.greengrass_board import namespaces_available

needs_namespaces = pytest.mark.skipif(
    not namespaces_available(), reason="simulated gateways need mount namespaces (root or user namespaces)"
)

PASSWORD = "factory-Pa55"
PASSWORD_ENV = "STATION_TEST_GATEWAY_PASSWORD"

BASE_SETTINGS = {
    "aws_region": "eu-west-1",
    "iot_data_endpoint": "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
    "iot_credential_endpoint": "c1d2e3f4g5h6.credentials.iot.eu-west-1.amazonaws.com",
    "iot_role_alias": "GreengrassCoreTokenExchangeRoleAlias",
    "provisioning_template": "StationFleetTemplate",
    "password_env": PASSWORD_ENV,
}


def make_settings(**overrides: str) -> GreengrassSettings:
    values = dict(BASE_SETTINGS)
    values.update(overrides)
    return GreengrassSettings.from_mapping(values)


def make_bundle() -> ClaimBundle:
    """An RSA-2048 root CA (a PEM of ~1.2 KB: more than one console line), a claim
    certificate and an EC P-256 claim key, like the real claim material."""
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=3650)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    claim_key = ec.generate_private_key(ec.SECP256R1())
    claim = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "claim")]))
        .issuer_name(root_name).public_key(claim_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .sign(root_key, hashes.SHA256())
    )
    return ClaimBundle(
        root_ca=root.public_bytes(serialization.Encoding.PEM),
        claim_cert=claim.public_bytes(serialization.Encoding.PEM),
        claim_key=claim_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def key_body_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM (what would show if the key crossed a wire or a log)."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
