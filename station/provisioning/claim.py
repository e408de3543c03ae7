"""The shared claim credentials: claim certificate, claim private key and root CA.

Every board leaves the line with the same three objects. They are loaded once
per station start by :func:`load_claim_credentials`, checked, and held in
memory as a :class:`ClaimCredentials`.

The claim private key is a secret shared by the whole fleet. This module keeps
it out of every message it produces:

* error messages name paths and fingerprints only, never file content;
* when ``cryptography`` fails on the key, its exception is dropped, not chained
  (its text may quote the data);
* a :class:`ClaimError` leaving :func:`load_claim_credentials` carries neither
  ``__cause__`` nor ``__context__``, and its traceback stops at that function,
  whose frame holds no key bytes and no passphrase; so even a reporter that
  prints frame locals (``capture_locals=True``, crash reporters) shows none;
* :class:`ClaimCredentials` prints the key as ``<hidden>``.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from station.errors import ClaimError, StationError

__all__ = [
    "CHECKS_KEY_MODE",
    "INI_KEY_CERT",
    "INI_KEY_KEY",
    "INI_KEY_ROOT_CA",
    "INI_SECTION",
    "MAX_FILE_SIZE",
    "ClaimCredentials",
    "fingerprint_sha256_of_cert_pem",
    "load_claim_credentials",
]

INI_SECTION = "claim"
INI_KEY_CERT = "certificate"
INI_KEY_KEY = "private_key"
INI_KEY_ROOT_CA = "root_ca"
"""The station.ini section and keys that name the three files; quoted in hints."""

# Claim material made by `station demo` carries this in its subject; the station refuses
# to call it production material and `station doctor` says so.
DEMO_MARKER = "DEMO ONLY - not for production"

MAX_FILE_SIZE = 64 * 1024
"""A certificate, key or CA bundle is a few KiB. Anything larger is the wrong file."""

CHECKS_KEY_MODE = os.name != "nt"
"""Whether the key file's mode bits are checked. Not on Windows: there access is governed by
ACLs, which ``os.stat`` does not report (the station's doctor command reports the ACL)."""

_ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


@dataclass(frozen=True, repr=False)
class ClaimCredentials:
    """The loaded, checked claim material. ``key_pem`` never leaves memory except to a board."""

    root_ca_pem: bytes
    """The root CA file as read, normalised to end with exactly one newline."""
    cert_pem: bytes
    """The claim certificate file as read, normalised to end with exactly one newline."""
    key_pem: bytes = field(repr=False)
    """The claim private key as UNENCRYPTED PKCS#8 PEM: what is written to every board."""
    cert_sha256: str
    """Hex SHA-256 of the claim certificate's DER: the fingerprint recorded everywhere."""
    root_ca_sha256: str
    """Hex SHA-256 of the root CA's DER (of all DERs concatenated, for a bundle file)."""
    subject: str
    """The claim certificate's subject, RFC 4514."""
    not_after: datetime
    """End of the claim certificate's validity, aware UTC."""
    is_demo: bool
    """The claim certificate was made by ``station demo`` (its subject or issuer has DEMO_MARKER)."""

    def __repr__(self) -> str:
        return (
            f"ClaimCredentials(subject={self.subject!r}, cert_sha256={self.cert_sha256!r}, "
            f"root_ca_sha256={self.root_ca_sha256!r}, not_after={self.not_after.isoformat()!r}, "
            f"is_demo={self.is_demo!r}, key_pem=<hidden>)"
        )

    __str__ = __repr__


def fingerprint_sha256_of_cert_pem(pem: bytes) -> str:
    """Hex SHA-256 of the DER of the (first) certificate in ``pem``.

    Raises ``ValueError`` if ``pem`` holds no readable certificate.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("no readable PEM certificate in the data given") from None
    return _cert_sha256(cert)


def load_claim_credentials(
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    root_ca_path: str | os.PathLike[str],
    *,
    passphrase: bytes | None = None,
    passphrase_env: str | None = None,
    prompt: Callable[[], str] | None = None,
    now: datetime | None = None,
    check_permissions: bool = True,
) -> ClaimCredentials:
    """Load and check the claim certificate, claim key and root CA.

    The passphrase of an encrypted key comes from ``passphrase``, else from the
    environment variable named by ``passphrase_env``, else from ``prompt()``.
    ``now`` (default: the current time; a naive value is taken as UTC) is the
    moment the certificate must be valid at.

    On POSIX, with ``check_permissions``, a key file that group or others may
    read or write is refused. On Windows the mode bits say nothing (access is
    governed by ACLs, which ``os.stat`` does not report), so the check is
    skipped there; the station's doctor command reports the ACL instead.

    Raises :class:`ClaimError` with one of the codes CLAIM_FILE_MISSING,
    CLAIM_FILE_UNREADABLE, CLAIM_KEY_PERMISSIONS, CLAIM_CERT_INVALID,
    CLAIM_CERT_EXPIRED, CLAIM_CERT_NOT_YET_VALID, CLAIM_ROOT_CA_INVALID,
    CLAIM_KEY_INVALID, CLAIM_KEY_PASSPHRASE_NEEDED, CLAIM_KEY_PASSPHRASE_WRONG,
    CLAIM_KEY_MISMATCH.
    """
    try:
        return _load(
            Path(cert_path),
            Path(key_path),
            Path(root_ca_path),
            passphrase=passphrase,
            passphrase_env=passphrase_env,
            prompt=prompt,
            now=now,
            check_permissions=check_permissions,
        )
    except StationError as exc:  # ours, or one a prompt() callback raised
        error = exc
    # Raised outside the handler, with the inner frames, the cause and the
    # context cut off: nothing that held key bytes or a passphrase travels with it.
    del passphrase
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    raise error.with_traceback(None)


# --- the work -------------------------------------------------------------------------


def _load(
    cert_path: Path,
    key_path: Path,
    root_ca_path: Path,
    *,
    passphrase: bytes | None,
    passphrase_env: str | None,
    prompt: Callable[[], str] | None,
    now: datetime | None,
    check_permissions: bool,
) -> ClaimCredentials:
    now = _aware_utc(now if now is not None else datetime.now(UTC))

    cert_data = _read(cert_path, INI_KEY_CERT, "claim certificate", "CLAIM_CERT_INVALID")
    root_ca_data = _read(root_ca_path, INI_KEY_ROOT_CA, "root CA", "CLAIM_ROOT_CA_INVALID")
    if check_permissions and CHECKS_KEY_MODE:
        _check_key_permissions(key_path)
    key_data = _read(key_path, INI_KEY_KEY, "claim key", "CLAIM_KEY_INVALID")

    cert = _parse_claim_cert(cert_data, cert_path)
    cert_sha256 = _cert_sha256(cert)
    _check_validity(cert, cert_path, cert_sha256, now)
    root_ca_sha256 = _parse_root_ca(root_ca_data, root_ca_path, cert_sha256)

    key_pem, key_public_der = _load_key(
        key_data, key_path, passphrase=passphrase, passphrase_env=passphrase_env, prompt=prompt
    )
    del key_data
    cert_public_der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if cert_public_der != key_public_der:
        del key_pem
        raise ClaimError(
            f"the claim key {key_path} does not belong to the claim certificate {cert_path} "
            f"(certificate sha256 {cert_sha256}; the certificate's public key has sha256 "
            f"{hashlib.sha256(cert_public_der).hexdigest()}, the key's public key has sha256 "
            f"{hashlib.sha256(key_public_der).hexdigest()})",
            code="CLAIM_KEY_MISMATCH",
            hint=(
                f"The files named by {_ini(INI_KEY_CERT)} and {_ini(INI_KEY_KEY)} of "
                "station.ini are not a pair. Use the certificate and private key that were created together (for AWS "
                "IoT: the same CreateKeysAndCertificate call) and start again."
            ),
        )

    return ClaimCredentials(
        root_ca_pem=_normalise_newline(root_ca_data),
        cert_pem=_normalise_newline(cert_data),
        key_pem=key_pem,
        cert_sha256=cert_sha256,
        root_ca_sha256=root_ca_sha256,
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        is_demo=_has_demo_marker(cert),
    )


def _ini(key: str) -> str:
    return f"'{key}' in the [{INI_SECTION}] section"


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _normalise_newline(data: bytes) -> bytes:
    return data.rstrip(b"\r\n\t ") + b"\n"


def _cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _read(path: Path, ini_key: str, what: str, too_big_code: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        raise ClaimError(
            f"the {what} file {path} does not exist",
            code="CLAIM_FILE_MISSING",
            hint=(
                f"Put the {what} at {path}, or set {_ini(ini_key)} in station.ini to the file's "
                "actual path, and start again."
            ),
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClaimError(
            f"the {what} file {path} cannot be read: {reason}",
            code="CLAIM_FILE_UNREADABLE",
            hint=(
                f"Make {path} a regular file the station's user account can read, or set "
                f"{_ini(ini_key)} in station.ini to the right file, and start again."
            ),
        ) from None
    if len(data) > MAX_FILE_SIZE:
        raise ClaimError(
            f"the {what} file {path} is larger than {MAX_FILE_SIZE // 1024} KiB; "
            f"it cannot be a {what}",
            code=too_big_code,
            hint=f"Check that {_ini(ini_key)} in station.ini names the {what} file, and start again.",
        )
    return data


def _check_key_permissions(key_path: Path) -> None:
    try:
        mode = key_path.stat().st_mode
    except OSError:
        return  # _read reports the missing or unreadable file with the right code.
    loose = stat.S_IMODE(mode) & 0o077
    if loose:
        raise ClaimError(
            f"the claim key file {key_path} can be accessed by other users "
            f"(mode {stat.S_IMODE(mode):04o}); the claim key must be readable by the station only",
            code="CLAIM_KEY_PERMISSIONS",
            hint=f"Run: chmod 600 {shlex.quote(str(key_path))}  (then start the station again)",
        )


def _parse_claim_cert(data: bytes, path: Path) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if len(certs) != 1:
        found = "no certificate" if not certs else f"{len(certs)} certificates"
        raise ClaimError(
            f"the claim certificate file {path} must hold exactly one PEM certificate; "
            f"it holds {found}",
            code="CLAIM_CERT_INVALID",
            hint=(
                f"Set {_ini(INI_KEY_CERT)} in station.ini to the claim certificate in PEM form "
                "(text starting with '-----BEGIN CERTIFICATE-----'). A DER file can be converted "
                "with: openssl x509 -inform der -in cert.der -out cert.pem"
            ),
        )
    return certs[0]


def _check_validity(cert: x509.Certificate, path: Path, sha256: str, now: datetime) -> None:
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    if now > not_after:
        raise ClaimError(
            f"the claim certificate {path} (sha256 {sha256}) expired at {not_after.isoformat()}; "
            f"it is now {now.isoformat()}",
            code="CLAIM_CERT_EXPIRED",
            hint=(
                "Boards given an expired claim certificate cannot provision. Get a new claim "
                "certificate and key from whoever runs the cloud side, update station.ini, and "
                "start again. If the certificate should still be valid, check this PC's clock."
            ),
        )
    if now < not_before:
        raise ClaimError(
            f"the claim certificate {path} (sha256 {sha256}) is not valid before "
            f"{not_before.isoformat()}; it is now {now.isoformat()}",
            code="CLAIM_CERT_NOT_YET_VALID",
            hint="Check this PC's date, time and time zone, then start again.",
        )


def _parse_root_ca(data: bytes, path: Path, claim_cert_sha256: str) -> str:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ClaimError(
            f"the root CA file {path} holds no readable PEM certificate",
            code="CLAIM_ROOT_CA_INVALID",
            hint=(
                f"Set {_ini(INI_KEY_ROOT_CA)} in station.ini to the root CA certificate the boards "
                "use to check the AWS IoT endpoint (for AWS IoT: AmazonRootCA1.pem), in PEM form."
            ),
        ) from None
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    if any(hashlib.sha256(der).hexdigest() == claim_cert_sha256 for der in ders):
        raise ClaimError(
            f"the root CA file {path} holds the claim certificate (sha256 {claim_cert_sha256}), "
            "not a root CA",
            code="CLAIM_ROOT_CA_INVALID",
            hint=(
                f"{_ini(INI_KEY_ROOT_CA)} in station.ini must name the root CA (for AWS IoT: "
                f"AmazonRootCA1.pem), not the claim certificate."
            ),
        )
    return hashlib.sha256(b"".join(ders)).hexdigest()


def _load_key(
    data: bytes,
    path: Path,
    *,
    passphrase: bytes | None,
    passphrase_env: str | None,
    prompt: Callable[[], str] | None,
) -> tuple[bytes, bytes]:
    """Return (unencrypted PKCS#8 PEM, public key SubjectPublicKeyInfo DER).

    Every failure is a ClaimError raised outside the ``except`` block that saw
    cryptography's exception, so that exception is not even kept as context.
    """
    invalid = ClaimError(
        f"the claim key file {path} holds no readable PEM private key",
        code="CLAIM_KEY_INVALID",
        hint=(
            f"Set {_ini(INI_KEY_KEY)} in station.ini to the claim private key in PEM form (text "
            "starting with '-----BEGIN ... PRIVATE KEY-----'). A DER key can be converted with: "
            "openssl pkey -inform der -in key.der -out key.pem"
        ),
    )
    encrypted = any(marker in data for marker in _ENCRYPTED_MARKERS)
    key = None
    failure: ClaimError | None = None
    if not encrypted:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            encrypted = True  # cryptography says: encrypted, but without a marker we know.
        except (ValueError, UnsupportedAlgorithm):
            failure = invalid
    if encrypted:
        secret = _passphrase(path, passphrase, passphrase_env, prompt)
        if secret is None:
            failure = _passphrase_needed(path, passphrase_env)
        else:
            try:
                key = serialization.load_pem_private_key(data, password=secret)
            except ValueError:
                failure = ClaimError(
                    f"the passphrase given for the encrypted claim key {path} does not decrypt it "
                    "(or the file is damaged)",
                    code="CLAIM_KEY_PASSPHRASE_WRONG",
                    hint=_passphrase_source_hint(passphrase_env),
                )
            except (TypeError, UnsupportedAlgorithm):
                failure = invalid
            del secret
    del data, passphrase
    if failure is not None or key is None:
        raise failure or invalid
    try:
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        failure = invalid
    del key
    if failure is not None:
        raise failure
    return key_pem, public_der


def _passphrase(
    path: Path,
    passphrase: bytes | None,
    passphrase_env: str | None,
    prompt: Callable[[], str] | None,
) -> bytes | None:
    if passphrase:
        return bytes(passphrase)
    if passphrase_env:
        from_env = os.environ.get(passphrase_env)
        if from_env:
            return from_env.encode("utf-8")
    if prompt is not None:
        try:
            answer = prompt()
        except EOFError:  # getpass with no terminal and nothing on stdin
            return None
        if isinstance(answer, bytes):
            return answer or None
        if answer:
            return answer.encode("utf-8")
    return None


def _passphrase_needed(path: Path, passphrase_env: str | None) -> ClaimError:
    return ClaimError(
        f"the claim key {path} is encrypted and no passphrase was given",
        code="CLAIM_KEY_PASSPHRASE_NEEDED",
        hint=_passphrase_source_hint(passphrase_env),
    )


def _passphrase_source_hint(passphrase_env: str | None) -> str:
    if passphrase_env:
        where = f"Set the environment variable {passphrase_env} to the key's passphrase"
    else:
        where = (
            f"Set {_ini('passphrase_env')} of station.ini to the name of an environment variable, "
            "and put the key's passphrase in that variable"
        )
    return f"{where}, or start the station interactively so it can ask for it, then try again."


def _has_demo_marker(cert: x509.Certificate) -> bool:
    for name in (cert.subject, cert.issuer):
        for attribute in name:
            value = attribute.value
            if isinstance(value, str) and DEMO_MARKER in value:
                return True
    return False
