"""Throwaway claim material for ``station demo``."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.demo.material import (
    DEMO_MARKER,
    DemoClaimFiles,
    make_demo_claim_material,
    sign_csr_as_demo_ca,
)
from station.errors import CsrRejected, StationError
from station.provisioning.claim import load_claim_credentials
from station.provisioning.csr_policy import CsrPolicy, check_csr, device_key_sha256

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


@pytest.fixture
def demo(tmp_path: Path) -> DemoClaimFiles:
    return make_demo_claim_material(tmp_path / "demo", now=NOW)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _all_bytes(files: DemoClaimFiles) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes() for name in DemoClaimFiles.__dataclass_fields__}


def _csr(key, cn: str = "SN-DEMO-0001") -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


# --- what is made ---------------------------------------------------------------------


def test_creates_the_four_files_in_the_directory(demo: DemoClaimFiles, tmp_path: Path) -> None:
    for path in (demo.root_ca, demo.claim_cert, demo.claim_key, demo.ca_key):
        assert path.is_file()
        assert path.parent == tmp_path / "demo"
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(
        p.name for p in (demo.root_ca, demo.claim_cert, demo.claim_key, demo.ca_key)
    )


def test_ca_is_self_signed_p256_and_says_demo_only_in_cn_and_o(demo: DemoClaimFiles) -> None:
    ca = _cert(demo.root_ca)
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    org = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert DEMO_MARKER in cn
    assert DEMO_MARKER in org
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_marker_says_demo_only_not_for_production() -> None:
    assert DEMO_MARKER == "DEMO ONLY - not for production"


def test_claim_cert_is_issued_by_the_ca_for_client_auth(demo: DemoClaimFiles) -> None:
    claim = _cert(demo.claim_cert)
    claim.verify_directly_issued_by(_cert(demo.root_ca))
    cn = claim.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "DEMO claim certificate"
    eku = claim.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert claim.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_keys_match_their_certificates(demo: DemoClaimFiles) -> None:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for cert_path, key_path in ((demo.root_ca, demo.ca_key), (demo.claim_cert, demo.claim_key)):
        assert _cert(cert_path).public_key().public_bytes(*spki) == _key(
            key_path
        ).public_key().public_bytes(*spki)


def test_loads_as_claim_credentials_marked_demo(demo: DemoClaimFiles) -> None:
    creds = load_claim_credentials(demo.claim_cert, demo.claim_key, demo.root_ca, now=NOW)
    assert creds.is_demo is True
    assert creds.not_after > NOW + timedelta(days=365)


def test_certificates_are_valid_from_a_little_before_now(demo: DemoClaimFiles) -> None:
    for path in (demo.root_ca, demo.claim_cert):
        cert = _cert(path)
        assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
        assert NOW - cert.not_valid_before_utc <= timedelta(hours=1)


# --- file modes -----------------------------------------------------------------------


@posix_only
def test_keys_are_0600_and_certificates_0644(demo: DemoClaimFiles) -> None:
    assert stat.S_IMODE(demo.claim_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(demo.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(demo.root_ca.stat().st_mode) == 0o644
    assert stat.S_IMODE(demo.claim_cert.stat().st_mode) == 0o644


@posix_only
def test_modes_hold_under_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        files = make_demo_claim_material(tmp_path / "demo", now=NOW)
    finally:
        os.umask(old)
    assert stat.S_IMODE(files.root_ca.stat().st_mode) == 0o644
    assert stat.S_IMODE(files.claim_key.stat().st_mode) == 0o600


def test_key_files_are_created_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    files = make_demo_claim_material(tmp_path / "demo", now=NOW)
    monkeypatch.undo()

    for key in (files.claim_key, files.ca_key):
        calls = [c for c in opened if Path(c[0]).parent == key.parent and key.name in c[0]]
        assert calls, f"{key.name} was not created with os.open"
        for _, flags, mode in calls:
            assert mode == 0o600
            assert flags & os.O_CREAT and flags & os.O_EXCL


def test_no_temporary_files_are_left(demo: DemoClaimFiles) -> None:
    assert not [p for p in demo.root_ca.parent.iterdir() if p.name.endswith(".tmp")]


# --- idempotence ----------------------------------------------------------------------


def test_second_call_keeps_existing_material(demo: DemoClaimFiles, tmp_path: Path) -> None:
    before = _all_bytes(demo)
    again = make_demo_claim_material(tmp_path / "demo", now=NOW + timedelta(days=30))
    assert again == demo
    assert _all_bytes(again) == before


@posix_only
def test_keeping_material_restores_the_key_mode(demo: DemoClaimFiles, tmp_path: Path) -> None:
    before = _all_bytes(demo)
    os.chmod(demo.claim_key, 0o644)
    make_demo_claim_material(tmp_path / "demo", now=NOW)
    assert _all_bytes(demo) == before
    assert stat.S_IMODE(demo.claim_key.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["root_ca", "claim_cert", "claim_key", "ca_key"])
def test_missing_file_means_all_are_made_afresh(
    demo: DemoClaimFiles, tmp_path: Path, name: str
) -> None:
    before = _all_bytes(demo)
    getattr(demo, name).unlink()
    make_demo_claim_material(tmp_path / "demo", now=NOW)
    after = _all_bytes(demo)
    assert all(after[n] != before[n] for n in after)
    load_claim_credentials(demo.claim_cert, demo.claim_key, demo.root_ca, now=NOW)


def test_damaged_file_means_all_are_made_afresh(demo: DemoClaimFiles, tmp_path: Path) -> None:
    before = _all_bytes(demo)
    demo.root_ca.write_bytes(b"damaged")
    make_demo_claim_material(tmp_path / "demo", now=NOW)
    assert _all_bytes(demo)["claim_key"] != before["claim_key"]
    _cert(demo.claim_cert).verify_directly_issued_by(_cert(demo.root_ca))


def test_key_of_another_pair_means_all_are_made_afresh(
    demo: DemoClaimFiles, tmp_path: Path
) -> None:
    demo.claim_key.write_bytes(demo.ca_key.read_bytes())
    make_demo_claim_material(tmp_path / "demo", now=NOW)
    load_claim_credentials(demo.claim_cert, demo.claim_key, demo.root_ca, now=NOW)


def test_expired_material_is_made_afresh(demo: DemoClaimFiles, tmp_path: Path) -> None:
    later = NOW + timedelta(days=4000)
    make_demo_claim_material(tmp_path / "demo", now=later)
    creds = load_claim_credentials(demo.claim_cert, demo.claim_key, demo.root_ca, now=later)
    assert creds.not_after > later


# --- signing device CSRs as AWS would -------------------------------------------------


def test_signs_a_device_csr_with_its_subject_and_public_key(demo: DemoClaimFiles) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    pem = sign_csr_as_demo_ca(_csr(device_key), demo.root_ca, demo.ca_key, now=NOW)
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(_cert(demo.root_ca))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-DEMO-0001"
    assert device_key_sha256(cert.public_key()) == device_key_sha256(device_key.public_key())
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_device_cert_key_hash_equals_what_check_csr_recorded(demo: DemoClaimFiles) -> None:
    # The chain the hook relies on: hash recorded at the station == hash of the issued cert.
    device_key = ec.generate_private_key(ec.SECP256R1())
    checked = check_csr(_csr(device_key), "SN-DEMO-0001", CsrPolicy())
    pem = sign_csr_as_demo_ca(checked.der, demo.root_ca, demo.ca_key, now=NOW)
    issued = x509.load_pem_x509_certificate(pem)
    assert device_key_sha256(issued.public_key()) == checked.device_key_sha256


def test_device_cert_validity_is_days_from_now(demo: DemoClaimFiles) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    pem = sign_csr_as_demo_ca(_csr(device_key), demo.root_ca, demo.ca_key, days=30, now=NOW)
    assert x509.load_pem_x509_certificate(pem).not_valid_after_utc == NOW + timedelta(days=30)


@pytest.mark.parametrize("days", [0, -1, True])
def test_days_must_be_a_positive_integer(demo: DemoClaimFiles, days) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError):
        sign_csr_as_demo_ca(_csr(device_key), demo.root_ca, demo.ca_key, days=days)


def test_tampered_csr_is_refused(demo: DemoClaimFiles) -> None:
    der = _csr(ec.generate_private_key(ec.SECP256R1()), cn="SN-DEMO-0002")
    with pytest.raises(CsrRejected) as info:
        sign_csr_as_demo_ca(
            der.replace(b"SN-DEMO-0002", b"SN-DEMO-0003"), demo.root_ca, demo.ca_key
        )
    assert info.value.code == "CSR_BAD_SIGNATURE"


def test_garbage_csr_is_refused(demo: DemoClaimFiles) -> None:
    with pytest.raises(CsrRejected) as info:
        sign_csr_as_demo_ca(b"\x30\x03\x02\x01\x00", demo.root_ca, demo.ca_key)
    assert info.value.code == "CSR_MALFORMED"


def test_ca_files_that_do_not_belong_together_are_demo_ca_invalid(demo: DemoClaimFiles) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(StationError) as info:
        sign_csr_as_demo_ca(_csr(device_key), demo.root_ca, demo.claim_key)
    assert info.value.code == "DEMO_CA_INVALID"
    assert str(demo.claim_key) in info.value.message


def test_missing_ca_key_is_demo_ca_invalid(demo: DemoClaimFiles) -> None:
    demo.ca_key.unlink()
    with pytest.raises(StationError) as info:
        sign_csr_as_demo_ca(
            _csr(ec.generate_private_key(ec.SECP256R1())), demo.root_ca, demo.ca_key
        )
    assert info.value.code == "DEMO_CA_INVALID"


def test_demo_module_writes_nothing_outside_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "demo"
    make_demo_claim_material(target, now=NOW)
    assert {p.name for p in tmp_path.iterdir()} == {"nested"}
    assert {p.name for p in (tmp_path / "nested").iterdir()} == {"demo"}
