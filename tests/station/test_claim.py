"""Loading and checking the claim certificate, claim key and root CA."""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import station.provisioning.claim as claim_module
from station.errors import ClaimError, StationError
from station.provisioning.claim import (
    INI_KEY_CERT,
    INI_KEY_KEY,
    INI_KEY_ROOT_CA,
    ClaimCredentials,
    fingerprint_sha256_of_cert_pem,
    load_claim_credentials,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PASSPHRASE = b"correct horse battery staple"
posix_only = pytest.mark.skipif(os.name == "nt", reason="mode bits are only checked on POSIX")


# --- material -------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject_key,
    issuer_key,
    subject: str,
    issuer: str,
    *,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
    ca: bool = False,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key, fmt=serialization.PrivateFormat.PKCS8, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


@dataclass
class Material:
    cert_path: Path
    key_path: Path
    root_ca_path: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    issuer_key: ec.EllipticCurvePrivateKey
    root_ca: x509.Certificate

    def load(self, **kwargs) -> ClaimCredentials:
        kwargs.setdefault("now", NOW)
        return load_claim_credentials(self.cert_path, self.key_path, self.root_ca_path, **kwargs)

    def write_cert(self, cert: x509.Certificate) -> None:
        _write(self.cert_path, _pem(cert))

    def write_key(self, data: bytes) -> None:
        _write(self.key_path, data, 0o600)


@pytest.fixture
def material(tmp_path: Path) -> Material:
    """A claim cert issued by an 'AWS' CA, its key, and an unrelated server root CA."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_ca = _cert(root_key, root_key, "Test Server Root CA", "Test Server Root CA", ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(key, issuer_key, "Test claim certificate", "Test IoT issuing CA")
    return Material(
        cert_path=_write(tmp_path / "claim-cert.pem", _pem(cert)),
        key_path=_write(tmp_path / "claim-key.pem", _key_pem(key), 0o600),
        root_ca_path=_write(tmp_path / "root-ca.pem", _pem(root_ca)),
        key=key,
        cert=cert,
        issuer_key=issuer_key,
        root_ca=root_ca,
    )


def _der_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _raises(code: str, call, *args, **kwargs) -> ClaimError:
    with pytest.raises(ClaimError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    assert info.value.hint and info.value.hint != ClaimError.hint
    return info.value


# --- what a good load gives -----------------------------------------------------------


def test_loads_fingerprints_subject_and_validity_of_good_material(material: Material) -> None:
    creds = material.load()
    assert creds.cert_sha256 == _der_sha256(material.cert)
    assert creds.root_ca_sha256 == _der_sha256(material.root_ca)
    assert creds.subject == "CN=Test claim certificate"
    assert creds.not_after == NOW + timedelta(days=365)
    assert creds.is_demo is False
    assert creds.cert_pem == material.cert_path.read_bytes()
    assert creds.root_ca_pem == material.root_ca_path.read_bytes()


def test_key_pem_is_unencrypted_pkcs8_of_the_same_key(material: Material) -> None:
    material.write_key(_key_pem(material.key, serialization.PrivateFormat.TraditionalOpenSSL))
    creds = material.load()
    assert creds.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    reloaded = serialization.load_pem_private_key(creds.key_pem, password=None)
    assert reloaded.private_numbers() == material.key.private_numbers()


def test_rsa_claim_key_in_traditional_format_as_aws_issues_it_loads(material: Material) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    material.write_cert(_cert(key, material.issuer_key, "AWS IoT Certificate", "Amazon"))
    material.write_key(_key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL))
    creds = material.load()
    assert serialization.load_pem_private_key(creds.key_pem, None).key_size == 2048
    assert b"BEGIN PRIVATE KEY" in creds.key_pem


@pytest.mark.parametrize("tail", [b"", b"\n", b"\n\n\n", b"\r\n", b"\n  \n"])
def test_pem_files_are_normalised_to_end_with_exactly_one_newline(
    material: Material, tail: bytes
) -> None:
    root = _pem(material.root_ca).rstrip(b"\n")
    cert = _pem(material.cert).rstrip(b"\n")
    _write(material.root_ca_path, root + tail)
    _write(material.cert_path, cert + tail)
    creds = material.load()
    assert creds.root_ca_pem == root + b"\n"
    assert creds.cert_pem == cert + b"\n"


def test_root_ca_bundle_is_fingerprinted_over_all_its_certificates(material: Material) -> None:
    other_key = ec.generate_private_key(ec.SECP384R1())
    other = _cert(other_key, other_key, "Second Root", "Second Root", ca=True)
    _write(material.root_ca_path, _pem(material.root_ca) + _pem(other))
    creds = material.load()
    both = material.root_ca.public_bytes(serialization.Encoding.DER) + other.public_bytes(
        serialization.Encoding.DER
    )
    assert creds.root_ca_sha256 == hashlib.sha256(both).hexdigest()


def test_root_ca_is_not_required_to_have_issued_the_claim_certificate(material: Material) -> None:
    # AWS IoT: the claim cert comes from AWS's CA; the root CA is the server root for TLS.
    assert material.cert.issuer != material.root_ca.subject
    assert material.load().cert_sha256 == _der_sha256(material.cert)


def test_default_now_is_the_current_time(material: Material) -> None:
    real_now = datetime.now(UTC)
    material.write_cert(
        _cert(
            material.key,
            material.issuer_key,
            "Claim",
            "Issuer",
            not_before=real_now - timedelta(minutes=5),
            not_after=real_now + timedelta(minutes=5),
        )
    )
    creds = load_claim_credentials(material.cert_path, material.key_path, material.root_ca_path)
    assert creds.subject == "CN=Claim"


def test_naive_now_is_taken_as_utc(material: Material) -> None:
    creds = material.load(now=NOW.replace(tzinfo=None))
    assert creds.not_after.tzinfo is not None


def test_accepts_str_paths(material: Material) -> None:
    creds = load_claim_credentials(
        str(material.cert_path), str(material.key_path), str(material.root_ca_path), now=NOW
    )
    assert creds.cert_sha256 == _der_sha256(material.cert)


def test_fingerprint_of_cert_pem_is_sha256_of_der(material: Material) -> None:
    assert fingerprint_sha256_of_cert_pem(_pem(material.cert)) == _der_sha256(material.cert)


def test_fingerprint_helper_agrees_with_loaded_credentials(material: Material) -> None:
    creds = material.load()
    assert fingerprint_sha256_of_cert_pem(creds.cert_pem) == creds.cert_sha256


def test_fingerprint_of_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        fingerprint_sha256_of_cert_pem(b"not a certificate")


def test_repr_and_str_hide_the_key(material: Material) -> None:
    creds = material.load()
    body_lines = [line for line in creds.key_pem.decode().splitlines() if "-----" not in line]
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}"):
        assert "<hidden>" in text
        assert "PRIVATE KEY" not in text
        assert creds.cert_sha256 in text
        for line in body_lines:
            assert line not in text


# --- file errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "ini_key"),
    [("cert_path", INI_KEY_CERT), ("key_path", INI_KEY_KEY), ("root_ca_path", INI_KEY_ROOT_CA)],
)
def test_missing_file_names_the_path_and_the_ini_key(
    material: Material, attribute: str, ini_key: str
) -> None:
    path: Path = getattr(material, attribute)
    path.unlink()
    error = _raises("CLAIM_FILE_MISSING", material.load)
    assert str(path) in error.message
    assert ini_key in error.hint
    assert "station.ini" in error.hint


def test_a_directory_instead_of_a_file_is_unreadable(material: Material, tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    material.cert_path = directory
    error = _raises("CLAIM_FILE_UNREADABLE", material.load)
    assert str(directory) in error.message


def test_a_huge_file_is_refused_without_parsing(material: Material) -> None:
    _write(material.root_ca_path, b"-" * (claim_module.MAX_FILE_SIZE + 1))
    error = _raises("CLAIM_ROOT_CA_INVALID", material.load)
    assert "KiB" in error.message


# --- key file permissions -------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_key_file_open_to_group_or_others_is_refused_with_chmod_hint(
    material: Material, mode: int
) -> None:
    os.chmod(material.key_path, mode)
    error = _raises("CLAIM_KEY_PERMISSIONS", material.load)
    assert f"chmod 600 {shlex.quote(str(material.key_path))}" in error.hint
    assert f"{mode:04o}" in error.message


@posix_only
def test_chmod_hint_quotes_a_path_with_spaces(material: Material, tmp_path: Path) -> None:
    spaced = tmp_path / "my keys" / "claim key.pem"
    spaced.parent.mkdir()
    material.key_path = _write(spaced, material.key_path.read_bytes(), 0o644)
    error = _raises("CLAIM_KEY_PERMISSIONS", material.load)
    assert f"chmod 600 '{spaced}'" in error.hint


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_key_file_readable_by_owner_only_is_accepted(material: Material, mode: int) -> None:
    os.chmod(material.key_path, mode)
    assert material.load().cert_sha256 == _der_sha256(material.cert)


@posix_only
def test_permission_check_can_be_switched_off(material: Material) -> None:
    os.chmod(material.key_path, 0o644)
    assert material.load(check_permissions=False).cert_sha256 == _der_sha256(material.cert)


def test_mode_bits_are_not_checked_where_acls_rule(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "CHECKS_KEY_MODE", False)
    os.chmod(material.key_path, 0o666)
    assert material.load().cert_sha256 == _der_sha256(material.cert)


# --- certificate and root CA errors ---------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
)
def test_unreadable_claim_certificate_is_cert_invalid(material: Material, content: bytes) -> None:
    _write(material.cert_path, content)
    error = _raises("CLAIM_CERT_INVALID", material.load)
    assert str(material.cert_path) in error.message


def test_der_claim_certificate_is_cert_invalid_with_conversion_hint(material: Material) -> None:
    _write(material.cert_path, material.cert.public_bytes(serialization.Encoding.DER))
    error = _raises("CLAIM_CERT_INVALID", material.load)
    assert "openssl x509 -inform der" in error.hint


def test_claim_certificate_file_with_two_certificates_is_cert_invalid(material: Material) -> None:
    _write(material.cert_path, _pem(material.cert) + _pem(material.root_ca))
    error = _raises("CLAIM_CERT_INVALID", material.load)
    assert "2 certificates" in error.message


def test_expired_claim_certificate_is_refused(material: Material) -> None:
    error = _raises("CLAIM_CERT_EXPIRED", material.load, now=NOW + timedelta(days=366))
    assert _der_sha256(material.cert) in error.message


def test_claim_certificate_not_yet_valid_is_refused(material: Material) -> None:
    error = _raises("CLAIM_CERT_NOT_YET_VALID", material.load, now=NOW - timedelta(days=2))
    assert "clock" in error.hint or "time" in error.hint


@pytest.mark.parametrize("content", [b"", b"not a CA", b"-----BEGIN CERTIFICATE-----\n-----"])
def test_unreadable_root_ca_is_root_ca_invalid(material: Material, content: bytes) -> None:
    _write(material.root_ca_path, content)
    error = _raises("CLAIM_ROOT_CA_INVALID", material.load)
    assert str(material.root_ca_path) in error.message


def test_claim_certificate_given_as_root_ca_is_root_ca_invalid(material: Material) -> None:
    _write(material.root_ca_path, _pem(material.cert))
    error = _raises("CLAIM_ROOT_CA_INVALID", material.load)
    assert "claim certificate" in error.message


# --- key errors -----------------------------------------------------------------------


def test_unreadable_key_is_key_invalid(material: Material) -> None:
    material.write_key(b"this is not a key")
    error = _raises("CLAIM_KEY_INVALID", material.load)
    assert str(material.key_path) in error.message


def test_certificate_in_the_key_file_is_key_invalid(material: Material) -> None:
    material.write_key(_pem(material.cert))
    _raises("CLAIM_KEY_INVALID", material.load)


def test_key_of_another_certificate_is_key_mismatch(material: Material) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    material.write_key(_key_pem(other))
    error = _raises("CLAIM_KEY_MISMATCH", material.load)
    assert _der_sha256(material.cert) in error.message
    assert str(material.key_path) in error.message
    assert str(material.cert_path) in error.message


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_key_loads_with_passphrase_argument(material: Material, fmt) -> None:
    material.write_key(_key_pem(material.key, fmt, PASSPHRASE))
    creds = material.load(passphrase=PASSPHRASE)
    assert b"ENCRYPTED" not in creds.key_pem
    reloaded = serialization.load_pem_private_key(creds.key_pem, password=None)
    assert reloaded.private_numbers() == material.key.private_numbers()


def test_encrypted_key_passphrase_comes_from_the_named_environment_variable(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    monkeypatch.setenv("TEST_CLAIM_PASSPHRASE", PASSPHRASE.decode())

    def prompt() -> str:
        raise AssertionError("must not prompt when the environment variable is set")

    creds = material.load(passphrase_env="TEST_CLAIM_PASSPHRASE", prompt=prompt)
    assert creds.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_encrypted_key_passphrase_comes_from_prompt_last(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    monkeypatch.delenv("TEST_CLAIM_PASSPHRASE", raising=False)
    asked = []

    def prompt() -> str:
        asked.append(True)
        return PASSPHRASE.decode()

    material.load(passphrase_env="TEST_CLAIM_PASSPHRASE", prompt=prompt)
    assert asked == [True]


def test_passphrase_argument_wins_over_environment(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    monkeypatch.setenv("TEST_CLAIM_PASSPHRASE", "wrong")
    material.load(passphrase=PASSPHRASE, passphrase_env="TEST_CLAIM_PASSPHRASE")


def test_unencrypted_key_does_not_prompt(material: Material) -> None:
    def prompt() -> str:
        raise AssertionError("an unencrypted key needs no passphrase")

    material.load(prompt=prompt, passphrase=b"ignored")


def test_encrypted_key_without_any_passphrase_source_needs_passphrase(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    monkeypatch.delenv("TEST_CLAIM_PASSPHRASE", raising=False)
    error = _raises(
        "CLAIM_KEY_PASSPHRASE_NEEDED", material.load, passphrase_env="TEST_CLAIM_PASSPHRASE"
    )
    assert "TEST_CLAIM_PASSPHRASE" in error.hint


def test_empty_prompt_answer_means_no_passphrase(material: Material) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    _raises("CLAIM_KEY_PASSPHRASE_NEEDED", material.load, prompt=lambda: "")


def test_prompt_without_a_terminal_means_no_passphrase(material: Material) -> None:
    material.write_key(_key_pem(material.key, password=PASSPHRASE))

    def prompt() -> str:
        raise EOFError

    _raises("CLAIM_KEY_PASSPHRASE_NEEDED", material.load, prompt=prompt)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_wrong_passphrase_is_passphrase_wrong(material: Material, fmt) -> None:
    material.write_key(_key_pem(material.key, fmt, PASSPHRASE))
    error = _raises("CLAIM_KEY_PASSPHRASE_WRONG", material.load, passphrase=b"not it")
    assert str(material.key_path) in error.message


# --- the key never shows --------------------------------------------------------------

SECRET_ENV = "TEST_CLAIM_LEAK_PASSPHRASE"


def _secret_fragments(key: ec.EllipticCurvePrivateKey, key_file: bytes) -> list[str]:
    """Every form in which the key could leak: PEM body lines (of the file, PKCS#8 and
    traditional) whole and in pieces, DER as hex (both cases, whole and in 16-byte pieces)
    and as base64, the private scalar, the passphrase."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    pems = [key_file, _key_pem(key), _key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL)]
    body_lines = [
        line
        for pem in pems
        for line in pem.decode().splitlines()
        if "-----" not in line and ":" not in line and len(line) >= 16
    ]
    # Whole lines, and every 16-character window of them (step 4): a partial quote shows too.
    fragments = body_lines + [
        line[i : i + 16] for line in body_lines for i in range(0, len(line) - 15, 4)
    ]
    fragments += [der.hex(), der.hex().upper(), base64.b64encode(der).decode()]
    fragments += [der[i : i + 16].hex() for i in range(0, len(der) - 16, 8)]
    fragments += [scalar.hex(), base64.b64encode(scalar).decode(), repr(scalar)[2:-1][:24]]
    fragments += [PASSPHRASE.decode(), repr(PASSPHRASE)]
    return fragments


def _break(material: Material, code: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Arrange the files so that loading fails with ``code``; return extra load() arguments."""
    if code == "CLAIM_FILE_MISSING":
        material.root_ca_path.unlink()
    elif code == "CLAIM_FILE_UNREADABLE":
        material.cert_path.unlink()
        material.cert_path.mkdir()
    elif code == "CLAIM_KEY_PERMISSIONS":
        os.chmod(material.key_path, 0o644)
    elif code == "CLAIM_CERT_INVALID":
        _write(material.cert_path, b"garbage")
    elif code == "CLAIM_CERT_EXPIRED":
        return {"now": NOW + timedelta(days=400)}
    elif code == "CLAIM_CERT_NOT_YET_VALID":
        return {"now": NOW - timedelta(days=400)}
    elif code == "CLAIM_ROOT_CA_INVALID":
        _write(material.root_ca_path, b"garbage")
    elif code == "CLAIM_KEY_INVALID":
        # The real key's DER, truncated: cryptography sees the secret and fails on it.
        der = material.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )[:-7]
        body = base64.encodebytes(der)
        material.write_key(b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n")
    elif code == "CLAIM_KEY_MISMATCH":
        other = ec.generate_private_key(ec.SECP256R1())
        material.write_cert(_cert(other, material.issuer_key, "Other", "Issuer"))
    elif code == "CLAIM_KEY_PASSPHRASE_NEEDED":
        material.write_key(_key_pem(material.key, password=PASSPHRASE))
    elif code == "CLAIM_KEY_PASSPHRASE_WRONG":
        material.write_key(_key_pem(material.key, password=PASSPHRASE))
        monkeypatch.setenv(SECRET_ENV, PASSPHRASE.decode() + "x")
        return {"passphrase_env": SECRET_ENV}
    else:
        raise AssertionError(code)
    return {}


ALL_CODES = [
    "CLAIM_FILE_MISSING",
    "CLAIM_FILE_UNREADABLE",
    pytest.param("CLAIM_KEY_PERMISSIONS", marks=posix_only),
    "CLAIM_CERT_INVALID",
    "CLAIM_CERT_EXPIRED",
    "CLAIM_CERT_NOT_YET_VALID",
    "CLAIM_ROOT_CA_INVALID",
    "CLAIM_KEY_INVALID",
    "CLAIM_KEY_MISMATCH",
    "CLAIM_KEY_PASSPHRASE_NEEDED",
    "CLAIM_KEY_PASSPHRASE_WRONG",
]


def _station_frames_with_locals(error: BaseException) -> str:
    """The traceback as a crash reporter that captures locals would show it, for the frames
    of station code (this test's own frames hold the secrets it searches for)."""
    frames = [
        (frame, line)
        for frame, line in traceback.walk_tb(error.__traceback__)
        if Path(frame.f_code.co_filename).resolve() != Path(__file__).resolve()
    ]
    assert frames, "the traceback should reach into station code"
    summary = traceback.StackSummary.extract(iter(frames), capture_locals=True)
    return "".join(summary.format())


@pytest.mark.parametrize("code", ALL_CODES)
def test_no_error_shows_key_material_in_message_repr_or_traceback(
    material: Material, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = _break(material, code, monkeypatch)
    key_file = material.key_path.read_bytes() if material.key_path.exists() else b""
    fragments = _secret_fragments(material.key, key_file)
    assert len(fragments) > 20

    with pytest.raises(ClaimError) as info:
        material.load(**extra)
    error = info.value
    assert error.code == code

    texts = {
        "str": str(error),
        "repr": repr(error),
        "hint": error.hint,
        "traceback": "".join(traceback.format_exception(error)),
        "locals of the station's frames": _station_frames_with_locals(error),
    }
    for where, text in texts.items():
        for fragment in fragments:
            assert fragment not in text, f"key material in {where} of {code}"
    assert error.__cause__ is None
    assert error.__context__ is None


def test_traceback_stops_at_the_public_function(material: Material) -> None:
    material.write_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ClaimError) as info:
        material.load()
    frames = traceback.extract_tb(info.value.__traceback__)
    station_dir = Path(claim_module.__file__).resolve().parent
    station_frames = [f.name for f in frames if Path(f.filename).resolve().parent == station_dir]
    assert station_frames == ["load_claim_credentials"]


def test_station_error_from_the_prompt_passes_through_with_its_traceback_cut(
    material: Material,
) -> None:
    # The CLI's prompt raises its own StationError when there is no terminal.
    material.write_key(_key_pem(material.key, password=PASSPHRASE))
    raised = StationError("no terminal", code="CLAIM_KEY_PASSPHRASE_NEEDED", hint="Set it.")

    def prompt() -> str:
        raise raised

    with pytest.raises(StationError) as info:
        material.load(prompt=prompt)
    assert info.value is raised
    fragments = _secret_fragments(material.key, material.key_path.read_bytes())
    text = _station_frames_with_locals(info.value)
    assert not [f for f in fragments if f in text]
    assert "_load_key" not in text
