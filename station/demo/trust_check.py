"""Prove the trust chain end to end, on one PC: the line, the sync, and the cloud's hook.

What AWS IoT does when a board registers is emulated here: a CA (the demo CA,
playing AWS's part) signs the CSR the board makes with its own key, as
CreateCertificateFromCsr would, and the real pre-provisioning hook
(``cloud/hook.py``) is called with the event AWS would send, against the table
that ``station sync`` filled. Used by ``station demo`` and by the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud import hook
from station.demo.material import sign_csr_as_demo_ca
from station.sync.dynamo import LOOPBACK_PLACEHOLDER, is_loopback

log = logging.getLogger(__name__)

TEMPLATE_ARN = "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/StationFleet"


@dataclass(frozen=True)
class DeviceCertificate:
    """What CreateCertificateFromCsr hands back to a board."""

    serial: str
    pem: str
    certificate_id: str


@dataclass(frozen=True)
class TrustCase:
    name: str
    serial: str
    expected_allow: bool
    allowed: bool
    overrides: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.allowed == self.expected_allow


def board_csr(serial: str, device_key: Any) -> bytes:
    """The CSR a board sends to AWS IoT in the field, signed with its own key."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
        .sign(device_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def issue_certificate(serial: str, csr_der: bytes, ca_cert: Path, ca_key: Path) -> DeviceCertificate:
    """Emulate CreateCertificateFromCsr: the certificate id is the SHA-256 of the certificate's DER."""
    pem = sign_csr_as_demo_ca(csr_der, ca_cert, ca_key)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return DeviceCertificate(serial, pem.decode(), hashlib.sha256(der).hexdigest())


def hook_event(serial: str, certificate: DeviceCertificate, *, shape: str = "parameters") -> dict[str, Any]:
    """The pre-provisioning hook event AWS IoT sends (either documented shape)."""
    event: dict[str, Any] = {
        "certificateId": certificate.certificate_id,
        "certificatePem": certificate.pem,
        "templateArn": TEMPLATE_ARN,
    }
    params = {"SerialNumber": serial}
    if shape == "parameters":
        event.update(claimCertificateId="c" * 64, clientId=f"client-{serial}", parameters=params)
    else:
        event.update(claimId="c" * 64, mqttClientId=f"client-{serial}", incomingParameters=params)
    return event


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def hook_environment(table: str, endpoint_url: str | None, region: str, **settings: str) -> Iterator[None]:
    """Set the hook's environment (as its Lambda would have it) for the duration of a check."""
    values = {"TABLE_NAME": table, "AWS_DEFAULT_REGION": region, "AWS_REGION": region, **settings}
    if endpoint_url:
        values["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url
        if is_loopback(endpoint_url) and boto3.session.Session().get_credentials() is None:
            # In Lambda the hook has its role's credentials; a loopback emulator only needs some.
            values.update(AWS_ACCESS_KEY_ID=LOOPBACK_PLACEHOLDER, AWS_SECRET_ACCESS_KEY=LOOPBACK_PLACEHOLDER)
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        hook.reset_client_cache()
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            hook.reset_client_cache()


def ask_hook(event: Any) -> tuple[bool, dict[str, str]]:
    """Call the hook as Lambda would; its one-line decision log goes to the station log."""
    lines = io.StringIO()
    with contextlib.redirect_stdout(lines):
        response = hook.handler(event, None)
    for line in lines.getvalue().splitlines():
        log.info("hook: %s", line)
    return bool(response.get("allowProvisioning")), dict(response.get("parameterOverrides") or {})


def check_trust_chain(
    passed: dict[str, Any],
    *,
    ca_cert: Path,
    ca_key: Path,
    revoked: str | None = None,
    unknown_serial: str = "NEVER-MADE-1",
) -> list[TrustCase]:
    """Run the cases of the trust chain against the hook (whose environment the caller set).

    ``passed`` maps each serial that PASSed on the line (and was synced) to its board's
    private key, which only the board holds; ``revoked`` is a serial revoked and synced since.
    """
    cases: list[TrustCase] = []
    for serial, key in passed.items():
        certificate = issue_certificate(serial, board_csr(serial, key), ca_cert, ca_key)
        allowed, overrides = ask_hook(hook_event(serial, certificate))
        cases.append(TrustCase("board made on the line", serial, serial != revoked, allowed, overrides))
        if serial == revoked:
            continue
        allowed, overrides = ask_hook(hook_event(serial, certificate))
        cases.append(TrustCase("the same board again (replay)", serial, False, allowed, overrides))
    serial = next(iter(passed))
    clone_key = ec.generate_private_key(ec.SECP256R1())
    clone = issue_certificate(serial, board_csr(serial, clone_key), ca_cert, ca_key)
    allowed, overrides = ask_hook(hook_event(serial, clone))
    cases.append(TrustCase("clone: right serial, other key pair", serial, False, allowed, overrides))
    stranger = issue_certificate(unknown_serial, board_csr(unknown_serial, clone_key), ca_cert, ca_key)
    allowed, overrides = ask_hook(hook_event(unknown_serial, stranger))
    cases.append(TrustCase("unknown serial", unknown_serial, False, allowed, overrides))
    allowed, overrides = ask_hook(
        {"parameters": {"SerialNumber": serial}, "certificateId": clone.certificate_id, "certificatePem": "not a PEM"}
    )
    cases.append(TrustCase("malformed event (bad PEM)", serial, False, allowed, overrides))
    return cases
