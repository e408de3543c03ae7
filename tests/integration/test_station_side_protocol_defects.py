"""Host defects an independent board implementation found (issue: protocol 1.1): the
station refuses them itself instead of blaming the board."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from station.config import load_config
from station.doctor import FAIL, diagnose
from station.errors import ClaimError, CsrRejected
from station.provisioning.csr_policy import CsrPolicy, check_csr
from station.provisioning.pipeline import Provisioner, ProvisionRequest, ReprovisionOverride


def grow_root_ca(config, extra_bytes: int) -> None:
    """A root CA bundle: the configured CA followed by comment text, past the limit."""
    path = config.claim.root_ca
    path.write_bytes(path.read_bytes() + b"# bundle padding\n" * (extra_bytes // 17 + 1))


def test_a_claim_object_over_the_protocol_limit_is_refused_before_any_board(station):
    grow_root_ca(station.config, 16_400)
    with pytest.raises(ClaimError) as caught:
        Provisioner(station.config, station.records, station.claim())
    assert caught.value.code == "CLAIM_OBJECT_TOO_LARGE"
    assert "16384" in caught.value.message and "root CA" in caught.value.message


def test_doctor_names_a_claim_object_over_the_limit(station_folder):
    config = load_config(station_folder / "station.ini")
    grow_root_ca(config, 16_400)
    checks = [c for c in diagnose(str(config.path)) if c.area == "claim certificate"]
    assert checks and checks[0].status == FAIL and "16384" in checks[0].finding


def test_a_reprovision_that_brings_back_the_same_key_fails(station, boards):
    sim = boards(1, faults={0: ["reuse-key"]})[0]
    provisioner = Provisioner(station.config, station.records, station.claim())
    assert provisioner.provision(ProvisionRequest(port=sim.port, operator="op", batch="B1")).passed
    before = station.records.get_unit(sim.serial)

    again = provisioner.provision(ProvisionRequest(
        port=sim.port, operator="op", batch="B1", override=ReprovisionOverride("sup", "rework")))

    assert not again.passed and again.code == "DEVICE_KEY_REPEATED"
    assert station.records.get_unit(sim.serial) == before


def test_the_agent_rule_allows_no_subject_attribute_but_the_cn():
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SN0001"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME")])
    der = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER)
    assert check_csr(der, "SN0001", CsrPolicy()).common_name == "SN0001"  # nRF91 may add O=
    with pytest.raises(CsrRejected) as caught:
        check_csr(der, "SN0001", CsrPolicy(only_common_name=True))
    assert caught.value.code == "CSR_SUBJECT_INVALID"
