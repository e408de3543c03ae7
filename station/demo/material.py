"""Throwaway claim material for ``station demo``.

A self-signed demo CA plays AWS's part twice: it is the root CA written to the
boards, and it signs the claim certificate and (through
:func:`sign_csr_as_demo_ca`) the device certificates, as AWS IoT's
CreateCertificateFromCsr would. Everything it makes says
:data:`DEMO_MARKER` in the subject, which is how
:attr:`station.provisioning.claim.ClaimCredentials.is_demo` recognises demo material.

Nothing here is for production: the CA key sits in a plain file next to the
certificates.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.errors import CsrRejected, StationError
from station.provisioning.claim import DEMO_MARKER
from station.provisioning.csr_policy import load_csr

__all__ = [
    "DEMO_MARKER",
    "DemoClaimFiles",
    "make_demo_claim_material",
    "sign_csr_as_demo_ca",
]

"""Carried in the subject (CN and O) of every demo certificate; how demo material is detected."""

DEMO_CA_COMMON_NAME = f"Station demo CA - {DEMO_MARKER}"
DEMO_CLAIM_COMMON_NAME = "DEMO claim certificate"

ROOT_CA_FILE = "demo-root-ca.pem"
CLAIM_CERT_FILE = "demo-claim-cert.pem"
CLAIM_KEY_FILE = "demo-claim-key.pem"
CA_KEY_FILE = "demo-ca-key.pem"

CA_VALIDITY = timedelta(days=3650)
CLAIM_VALIDITY = timedelta(days=1825)
BACKDATE = timedelta(hours=1)
"""Certificates start an hour in the past, so a board with a slightly slow clock accepts them."""

KEY_MODE = 0o600
CERT_MODE = 0o644


@dataclass(frozen=True)
class DemoClaimFiles:
    root_ca: Path
    claim_cert: Path
    claim_key: Path
    ca_key: Path
    """The demo CA's private key: lets the demo act as AWS's CA and sign device CSRs."""


def make_demo_claim_material(directory: Path, *, now: datetime | None = None) -> DemoClaimFiles:
    """Create (or keep) the demo CA, claim certificate and claim key in ``directory``.

    If the four files already exist, belong together and are valid at ``now``,
    they are kept (only their modes are set again). Otherwise all four are made
    afresh and replace whatever was there. Keys are created 0o600 from the
    first byte; certificates are 0o644.
    """
    directory = Path(directory)
    now = _aware_utc(now)
    files = DemoClaimFiles(
        root_ca=directory / ROOT_CA_FILE,
        claim_cert=directory / CLAIM_CERT_FILE,
        claim_key=directory / CLAIM_KEY_FILE,
        ca_key=directory / CA_KEY_FILE,
    )
    if _existing_material_ok(files, now):
        for path, mode in _modes(files):
            _chmod(path, mode)
        return files

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _make_ca_cert(ca_key, now)
    claim_key = ec.generate_private_key(ec.SECP256R1())
    claim_cert = _make_claim_cert(claim_key.public_key(), ca_cert, ca_key, now)

    contents = {
        files.root_ca: ca_cert.public_bytes(serialization.Encoding.PEM),
        files.claim_cert: claim_cert.public_bytes(serialization.Encoding.PEM),
        files.claim_key: _pkcs8_pem(claim_key),
        files.ca_key: _pkcs8_pem(ca_key),
    }
    for path, mode in _modes(files):
        _write_atomic(path, contents[path], mode)
    return files


def sign_csr_as_demo_ca(
    csr_der: bytes,
    ca_cert_path: Path,
    ca_key_path: Path,
    *,
    days: int = 365,
    now: datetime | None = None,
) -> bytes:
    """Issue a device certificate for a DER CSR with the demo CA; return it as PEM.

    Like AWS IoT's CreateCertificateFromCsr: the CSR's signature must verify;
    the certificate carries the CSR's subject and public key, for TLS client
    authentication. Raises :class:`CsrRejected` for a bad CSR and a
    :class:`StationError` with code DEMO_CA_INVALID if the CA files are unusable.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, not {days!r}")
    now = _aware_utc(now)
    csr = load_csr(csr_der)
    try:
        public_key = csr.public_key()
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        public_key, signature_ok = None, False
    if public_key is None or not signature_ok:
        raise CsrRejected(
            "the certificate request's signature does not verify; the demo CA refuses it",
            code="CSR_BAD_SIGNATURE",
            hint="Only a CSR the board signed with its own key can be made into a certificate.",
        )
    ca_cert, ca_key = _load_ca(Path(ca_cert_path), Path(ca_key_path))

    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


# --- building -------------------------------------------------------------------------


def _aware_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _serial() -> int:
    return secrets.randbits(159) | 1  # positive, at most 20 octets, never zero


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca_cert(ca_key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEMO_CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEMO_MARKER),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _make_claim_cert(
    public_key: ec.EllipticCurvePublicKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEMO_CLAIM_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEMO_MARKER),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CLAIM_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _pkcs8_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- files ----------------------------------------------------------------------------


def _modes(files: DemoClaimFiles) -> list[tuple[Path, int]]:
    # Keys first: if writing stops half-way, the certificates still describe the old keys
    # and the next run sees a mismatch and starts over.
    return [
        (files.ca_key, KEY_MODE),
        (files.claim_key, KEY_MODE),
        (files.root_ca, CERT_MODE),
        (files.claim_cert, CERT_MODE),
    ]


def _chmod(path: Path, mode: int) -> None:
    if os.name != "nt":
        with contextlib.suppress(OSError):  # not ours to change: load_claim_credentials says so
            os.chmod(path, mode)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode``, then move it over ``path``.

    The file is created by ``os.open`` with its final mode, so a key is never
    readable by others, not even for a moment; ``fchmod`` then corrects for a
    umask that removed more than it should (a certificate must stay 0o644).
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# --- reading back ---------------------------------------------------------------------


def _existing_material_ok(files: DemoClaimFiles, now: datetime) -> bool:
    """True if all four files load, belong together, carry the marker and are valid at now."""
    try:
        ca_cert = x509.load_pem_x509_certificate(files.root_ca.read_bytes())
        claim_cert = x509.load_pem_x509_certificate(files.claim_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        claim_key = serialization.load_pem_private_key(files.claim_key.read_bytes(), password=None)
        claim_cert.verify_directly_issued_by(ca_cert)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature):
        return False
    marker_in_subject = any(
        isinstance(a.value, str) and DEMO_MARKER in a.value for a in ca_cert.subject
    )
    return (
        marker_in_subject
        and _same_public_key(ca_cert.public_key(), ca_key.public_key())
        and _same_public_key(claim_cert.public_key(), claim_key.public_key())
        and all(
            c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in (ca_cert, claim_cert)
        )
    )


def _same_public_key(a: Any, b: Any) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(der, spki) == b.public_bytes(der, spki)


def _load_ca(
    ca_cert_path: Path, ca_key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    problem = None
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    except (ValueError, TypeError, UnsupportedAlgorithm):
        problem = "do not hold a PEM certificate and an unencrypted PEM private key"
    else:
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            problem = "hold a key that is not the demo CA's EC key"
        elif not _same_public_key(ca_cert.public_key(), ca_key.public_key()):
            problem = "hold a certificate and a key that do not belong together"
    if problem is not None:
        raise StationError(
            f"the demo CA files {ca_cert_path} and {ca_key_path} {problem}",
            code="DEMO_CA_INVALID",
            hint="Delete the demo directory and run `station demo` again to make fresh material.",
        )
    return ca_cert, ca_key
