"""Shared fixtures of the flashing tests: realistic claim objects, simulated boards, drivers."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import ClaimBundle
from flashing.sim import SimulatedBoard

FAST = AgentTimeouts(answer=0.2, retries=2, keygen=10.0)
"""Short timeouts so that fault tests stay fast; keygen stays generous (sim keygen is instant)."""


def make_claim_bundle() -> ClaimBundle:
    """A claim bundle shaped like the real one: RSA-2048 root CA (~1.2 KB PEM, more than one
    chunk), a claim certificate (~0.9 KB PEM) and an EC P-256 claim key (~0.25 KB PEM)."""
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=9000)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Root CA 1"),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    claim_key = ec.generate_private_key(ec.SECP256R1())
    claim = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")]))
        .issuer_name(
            x509.Name(
                [
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon Web Services O=Amazon.com Inc."
                    ),
                    x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
                    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                ]
            )
        )
        .public_key(claim_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(claim_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return ClaimBundle(
        root_ca=root.public_bytes(serialization.Encoding.PEM),
        claim_cert=claim.public_bytes(serialization.Encoding.PEM),
        claim_key=claim_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture(scope="session")
def claim_bundle() -> ClaimBundle:
    return make_claim_bundle()


@pytest.fixture
def sim_board():
    """Factory: start a SimulatedBoard (stopped at teardown)."""
    started: list[SimulatedBoard] = []

    def start(serial: str = "SN0000001", **kwargs) -> SimulatedBoard:
        board = SimulatedBoard(serial, **kwargs).start()
        started.append(board)
        return board

    yield start
    for board in started:
        board.stop()


@pytest.fixture
def open_driver():
    """Factory: open an AgentBoard on a port (closed at teardown)."""
    opened: list[AgentBoard] = []

    def open_(port: str, *, timeouts: AgentTimeouts = FAST, baudrate: int = 115200) -> AgentBoard:
        driver = AgentBoard.open(port, baudrate=baudrate, timeouts=timeouts)
        opened.append(driver)
        return driver

    yield open_
    for driver in opened:
        driver.close()
