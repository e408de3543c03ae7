"""Helpers shared by the nRF91 tests (imported by name: ``from nrf91_helpers import ...``)."""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flashing.board import ClaimBundle
from flashing.nrf91 import Nrf91Board, Nrf91Timeouts
from flashing.sim.nrf91_board import SimulatedNrf91Modem

FAST = Nrf91Timeouts(answer=1.0, cfun=1.0, keygen=3.0)
"""Short timeouts: every test that waits for silence waits about a second, not a minute."""

CLAIM_TAG = 202
DEVICE_TAG = 201


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_bundle() -> ClaimBundle:
    """A root CA, a claim certificate it signed and the claim key, as PEM (LF line ends)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Root CA"))
        .issuer_name(_name("Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    claim_key = ec.generate_private_key(ec.SECP256R1())
    claim = (
        x509.CertificateBuilder()
        .subject_name(_name("Test claim certificate"))
        .issuer_name(ca.subject)
        .public_key(claim_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    return ClaimBundle(
        root_ca=ca.public_bytes(serialization.Encoding.PEM),
        claim_cert=claim.public_bytes(serialization.Encoding.PEM),
        claim_key=claim_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def open_board(modem: SimulatedNrf91Modem, **kwargs: object) -> Nrf91Board:
    kwargs.setdefault("timeouts", FAST)
    kwargs.setdefault("claim_sec_tag", CLAIM_TAG)
    kwargs.setdefault("device_sec_tag", DEVICE_TAG)
    return Nrf91Board.open(modem.port, **kwargs)  # type: ignore[arg-type]


def sent_commands(modem: SimulatedNrf91Modem) -> list[str]:
    """The command lines on the wire, cut where the modem's AT host cuts them (CR/LF outside quotes)."""
    return list(modem.commands)


def command_names(modem: SimulatedNrf91Modem) -> list[str]:
    """The commands without their content: ``AT%CMNG=0,202,2`` instead of the whole PEM."""
    names = []
    for line in modem.commands:
        match = re.match(r'(AT[^"]*?)(?:,"|$)', line, re.S)
        names.append(match[1] if match else line)
    return names
