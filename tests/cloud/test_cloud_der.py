"""The hook's stdlib DER walker against cryptography, and fuzzed."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.hook import (
    CertificateError,
    device_key_sha256,
    spki_from_der,
    spki_from_pem,
)

KINDS = ["p256", "p384", "rsa2048"]


@pytest.fixture(scope="module")
def certs(ca):
    return {kind: ca.issue(f"SN-{kind}", ca.new_key(kind)) for kind in KINDS}


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("kind", KINDS)
def test_spki_matches_cryptography(certs, kind):
    cert = certs[kind]
    expected = (
        x509.load_pem_x509_certificate(cert.pem.encode())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert spki_from_der(cert.der) == expected == cert.spki_der
    assert spki_from_pem(cert.pem) == expected
    assert device_key_sha256(cert.pem) == hashlib.sha256(expected).hexdigest() == cert.key_sha256


def test_version1_certificate_without_explicit_version(ca):
    # No extensions: cryptography still writes v3, so drop the [0] version by hand
    # and re-wrap; the walker must not depend on the optional version field.
    cert = ca.issue("SN-V1", version1=True)
    der = cert.der
    assert der[0] == 0x30

    # Parse outer and TBS headers generically.
    def header(data, pos):
        first = data[pos + 1]
        if first < 0x80:
            return pos + 2, first
        n = first & 0x7F
        return pos + 2 + n, int.from_bytes(data[pos + 2 : pos + 2 + n], "big")

    def encode(tag, content):
        n = len(content)
        if n < 0x80:
            return bytes([tag, n]) + content
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([tag, 0x80 | len(raw)]) + raw + content

    body_start, body_len = header(der, 0)
    tbs_start, tbs_len = header(der, body_start)
    tbs_content = der[tbs_start : tbs_start + tbs_len]
    assert tbs_content[0] == 0xA0
    version_start, version_len = header(tbs_content, 0)
    tbs_v1 = encode(0x30, tbs_content[version_start + version_len :])
    rest = der[tbs_start + tbs_len : body_start + body_len]
    der_v1 = encode(0x30, tbs_v1 + rest)
    assert spki_from_der(der_v1) == cert.spki_der


def test_pem_with_chain_and_crlf_uses_first_certificate(certs):
    first, second = certs["p256"], certs["rsa2048"]
    pem = ("garbage before\r\n" + first.pem + second.pem).replace("\n", "\r\n")
    assert device_key_sha256(pem) == first.key_sha256


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
        "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n\u00e9\u00e9\u00e9\u00e9\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nZm9v=YmFy\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\nZm9v\n-----END PUBLIC KEY-----\n",
    ],
)
def test_bad_pem_raises_certificate_error(pem):
    with pytest.raises(CertificateError):
        spki_from_pem(pem)


def test_certificate_error_is_a_value_error():
    assert issubclass(CertificateError, ValueError)


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30",
        b"\x30\x80\x00\x00",  # indefinite length (BER, not DER)
        b"\x30\x81\x05\x02\x01\x00\x30\x00",  # non-minimal length
        b"\x30\x84\xff\xff\xff\xff",  # length past the end
        b"\x1f\x01\x00",  # high tag number
        b"\x30\x00",  # empty certificate
        b"\x30\x02\x30\x00",  # empty TBS, no signature
    ],
)
def test_bad_der_raises_certificate_error(der):
    with pytest.raises(CertificateError):
        spki_from_der(der)


def test_public_key_bit_string_with_unused_bits_is_rejected(certs):
    cert = certs["p256"]
    position = cert.der.find(cert.spki_der)
    key_bits = position + cert.spki_der.rfind(b"\x03\x42\x00") + 2
    assert cert.der[key_bits] == 0
    mutated = bytearray(cert.der)
    mutated[key_bits] = 1
    with pytest.raises(CertificateError):
        spki_from_der(bytes(mutated))


def test_trailing_bytes_are_rejected(certs):
    with pytest.raises(CertificateError):
        spki_from_der(certs["p256"].der + b"\x00")


def _check(data: bytes) -> None:
    try:
        spki = spki_from_der(data)
    except CertificateError:
        return
    assert isinstance(spki, bytes) and spki[0] == 0x30


_FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data):
    _check(data)


@_FUZZ
@given(
    kind=st.sampled_from(KINDS),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_fuzz_mutated_certificates(certs, kind, edits, cut):
    data = bytearray(certs[kind].der)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % len(data) :]
    _check(bytes(data))


@_FUZZ
@given(
    kind=st.sampled_from(KINDS),
    position=st.integers(min_value=0),
    insert=st.binary(min_size=1, max_size=16),
)
def test_fuzz_inserted_bytes(certs, kind, position, insert):
    data = certs[kind].der
    position %= len(data)
    _check(data[:position] + insert + data[position:])


@_FUZZ
@given(st.text(max_size=3000))
def test_fuzz_random_text_as_pem(text):
    for candidate in (text, "-----BEGIN CERTIFICATE-----\n" + text + "\n-----END CERTIFICATE-----"):
        try:
            device_key_sha256(candidate)
        except CertificateError:
            pass


@_FUZZ
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_fuzz_mutated_pem(certs, kind, data):
    pem = certs[kind].pem
    position = data.draw(st.integers(min_value=0, max_value=len(pem) - 1))
    replacement = data.draw(st.text(max_size=4))
    mutated = pem[:position] + replacement + pem[position + 1 :]
    try:
        digest = device_key_sha256(mutated)
    except CertificateError:
        return
    assert len(digest) == 64


@_FUZZ
@given(st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.binary()))
def test_non_string_pem_raises_certificate_error(value):
    with pytest.raises(CertificateError):
        spki_from_pem(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_every_single_bit_flip_agrees_with_cryptography(certs, kind):
    """Where the walker accepts a mutated certificate that cryptography also parses,
    both must agree on the public key bytes."""
    der = bytearray(certs[kind].der)
    agreed = 0
    for position in range(len(der)):
        mutated = bytearray(der)
        mutated[position] ^= 0x01
        try:
            ours = spki_from_der(bytes(mutated))
        except CertificateError:
            continue
        try:
            theirs = x509.load_der_x509_certificate(bytes(mutated)).public_key()
            theirs_der = theirs.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
            continue
        assert ours == theirs_der
        agreed += 1
    assert agreed > 0
