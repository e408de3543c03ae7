"""Accepting or refusing a board's CSR."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.errors import CsrRejected
from station.provisioning.csr_policy import (
    MAX_CSR_SIZE,
    CheckedCsr,
    CsrPolicy,
    check_csr,
    device_key_sha256,
    normalise_csr_der,
)

SERIAL = "SN-2025-000123"
DEFAULT = CsrPolicy()
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
SHA256 = hashes.SHA256()
EC_KEY = ec.generate_private_key(ec.SECP256R1())
"""One key for the whole module: EC key generation is cheap, but hypothesis runs many examples."""


def make_csr(
    key=EC_KEY,
    cn: str | None = SERIAL,
    *,
    extra: list[x509.NameAttribute] | None = None,
    algorithm: hashes.HashAlgorithm | None = SHA256,
    builder_hook=None,
) -> bytes:
    attributes = [] if cn is None else [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    attributes += extra or []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if builder_hook:
        builder = builder_hook(builder)
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _outer_body(der: bytes) -> bytes:
    """The content of the outer SEQUENCE (by hand, independently of the code under test)."""
    assert der[0] == 0x30
    if der[1] < 0x80:
        return der[2:]
    count = der[1] & 0x7F
    return der[2 + count :]


NORMAL_ALG = bytes.fromhex("300a06082a8648ce3d040302")
NULL_ALG = bytes.fromhex("300c06082a8648ce3d0403020500")


def to_explicit_null(der: bytes) -> bytes:
    """Rewrite an ecdsa-with-SHA256 CSR the way nRF91 modem firmware encodes it."""
    body = _outer_body(der)
    assert body.count(NORMAL_ALG) == 1
    body = body.replace(NORMAL_ALG, NULL_ALG)
    return b"\x30" + _der_length(len(body)) + body


def _reject(code: str, der: bytes, cn: str = SERIAL, policy: CsrPolicy = DEFAULT) -> CsrRejected:
    with pytest.raises(CsrRejected) as info:
        check_csr(der, cn, policy)
    assert info.value.code == code, str(info.value)
    assert info.value.hint and info.value.hint != CsrRejected.hint
    return info.value


# --- a good CSR -----------------------------------------------------------------------


def test_valid_p256_csr_is_accepted_with_its_key_hash() -> None:
    der = make_csr()
    checked = check_csr(der, SERIAL, DEFAULT)
    expected_der = EC_KEY.public_key().public_bytes(*SPKI)
    assert checked.common_name == SERIAL
    assert checked.key_type == "ec-p256"
    assert checked.public_key_der == expected_der
    assert checked.device_key_sha256 == hashlib.sha256(expected_der).hexdigest()
    assert checked.der == der


def test_device_key_sha256_is_sha256_of_spki_der() -> None:
    public_key = EC_KEY.public_key()
    expected = hashlib.sha256(public_key.public_bytes(*SPKI)).hexdigest()
    assert device_key_sha256(public_key) == expected


def test_device_key_sha256_agrees_with_check_csr() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    checked = check_csr(make_csr(key), SERIAL, CsrPolicy.from_names(["ec-p384"]))
    assert checked.device_key_sha256 == device_key_sha256(key.public_key())


def test_device_key_sha256_refuses_a_private_key() -> None:
    with pytest.raises(TypeError):
        device_key_sha256(EC_KEY)


def test_csr_given_as_bytearray_is_accepted() -> None:
    assert check_csr(bytearray(make_csr()), SERIAL, DEFAULT).common_name == SERIAL


# --- policy ---------------------------------------------------------------------------


def test_default_policy_allows_only_p256() -> None:
    assert CsrPolicy().allowed_key_types == frozenset({"ec-p256"})
    assert CsrPolicy().min_rsa_bits == 2048


def test_from_names_normalises_case_and_spaces() -> None:
    policy = CsrPolicy.from_names([" EC-P256", "rsa "], min_rsa_bits=3072)
    assert policy.allowed_key_types == frozenset({"ec-p256", "rsa"})
    assert policy.min_rsa_bits == 3072


def test_from_names_names_the_unknown_type() -> None:
    with pytest.raises(ValueError, match="ec-p521"):
        CsrPolicy.from_names(["ec-p256", "ec-p521"])


@pytest.mark.parametrize("names", [[], "ec-p256", [None]])
def test_from_names_refuses_no_types_a_bare_string_and_non_strings(names) -> None:
    with pytest.raises(ValueError):
        CsrPolicy.from_names(names)


def test_constructor_refuses_unknown_type_too() -> None:
    with pytest.raises(ValueError, match="dsa"):
        CsrPolicy(allowed_key_types=frozenset({"dsa"}))


def test_policy_refuses_rsa_minimum_below_2048() -> None:
    with pytest.raises(ValueError, match="1024"):
        CsrPolicy.from_names(["rsa"], min_rsa_bits=1024)


def test_p384_is_refused_by_default_naming_type_and_policy() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    error = _reject("CSR_KEY_TYPE", make_csr(key))
    assert "ec-p384" in error.message
    assert "ec-p256" in error.message


def test_p384_is_accepted_when_allowed() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    checked = check_csr(make_csr(key), SERIAL, CsrPolicy.from_names(["ec-p256", "ec-p384"]))
    assert checked.key_type == "ec-p384"


def test_p521_is_refused_even_though_it_is_ec() -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    policy = CsrPolicy.from_names(["ec-p256", "ec-p384", "rsa"])
    error = _reject("CSR_KEY_TYPE", make_csr(key), policy=policy)
    assert "secp521r1" in error.message


def test_ed25519_is_refused() -> None:
    error = _reject("CSR_KEY_TYPE", make_csr(ed25519.Ed25519PrivateKey.generate(), algorithm=None))
    assert "ed25519" in error.message


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rsa_is_refused_unless_allowed(rsa_2048) -> None:
    error = _reject("CSR_KEY_TYPE", make_csr(rsa_2048))
    assert "rsa" in error.message


def test_rsa_at_minimum_size_is_accepted_when_allowed(rsa_2048) -> None:
    checked = check_csr(make_csr(rsa_2048), SERIAL, CsrPolicy.from_names(["rsa"]))
    assert checked.key_type == "rsa"


def test_rsa_below_policy_minimum_is_refused_naming_sizes(rsa_2048) -> None:
    policy = CsrPolicy.from_names(["rsa"], min_rsa_bits=3072)
    error = _reject("CSR_KEY_TYPE", make_csr(rsa_2048), policy=policy)
    assert "2048" in error.message
    assert "3072" in error.message


def _csr_with_spki(key: ec.EllipticCurvePrivateKey, spki: bytes, cn: str = SERIAL) -> bytes:
    """A correctly signed CSR whose SubjectPublicKeyInfo bytes are ``spki``, built by hand."""
    standard = key.public_key().public_bytes(*SPKI)
    info = x509.load_der_x509_csr(make_csr(key, cn)).tbs_certrequest_bytes
    info_body = _outer_body(info).replace(standard, spki)
    info = b"\x30" + _der_length(len(info_body)) + info_body
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    bit_string = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    body = info + NORMAL_ALG + bit_string
    return b"\x30" + _der_length(len(body)) + body


def test_hand_built_csr_helper_makes_a_valid_csr() -> None:
    der = _csr_with_spki(EC_KEY, EC_KEY.public_key().public_bytes(*SPKI))
    assert check_csr(der, SERIAL, DEFAULT).device_key_sha256 == device_key_sha256(
        EC_KEY.public_key()
    )


def test_compressed_ec_point_is_refused_because_the_hook_could_not_match_it() -> None:
    point = EC_KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    algorithm = EC_KEY.public_key().public_bytes(*SPKI)[2:23]  # id-ecPublicKey, prime256v1
    bit_string = b"\x03" + _der_length(len(point) + 1) + b"\x00" + point
    compressed = b"\x30" + _der_length(len(algorithm) + len(bit_string)) + algorithm + bit_string
    der = _csr_with_spki(EC_KEY, compressed)
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid  # cryptography accepts it and re-encodes it uncompressed
    error = _reject("CSR_KEY_TYPE", der)
    assert "non-standard" in error.message


# --- common name ----------------------------------------------------------------------


def test_other_cn_is_refused_naming_both() -> None:
    error = _reject("CSR_CN_MISMATCH", make_csr(cn="SN-2025-999999"))
    assert "SN-2025-999999" in error.message
    assert SERIAL in error.message


def test_cn_comparison_is_exact() -> None:
    _reject("CSR_CN_MISMATCH", make_csr(cn=SERIAL.lower()))
    _reject("CSR_CN_MISMATCH", make_csr(cn=SERIAL + " "))


def test_subject_without_cn_is_refused() -> None:
    extra = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")]
    error = _reject("CSR_CN_MISMATCH", make_csr(cn=None, extra=extra))
    assert "0 common names" in error.message


def test_subject_with_two_cns_is_refused_even_if_one_matches() -> None:
    extra = [x509.NameAttribute(NameOID.COMMON_NAME, "other")]
    error = _reject("CSR_CN_MISMATCH", make_csr(extra=extra))
    assert "2 common names" in error.message


def test_cn_with_control_characters_is_shown_escaped() -> None:
    error = _reject("CSR_CN_MISMATCH", make_csr(cn="SN\x1b[2J"))
    assert "\x1b" not in error.message
    assert "\\x1b" in error.message


# --- signature and structure ----------------------------------------------------------


def test_tampered_request_info_is_bad_signature() -> None:
    der = make_csr(cn="SN-2025-000124")
    tampered = der.replace(b"SN-2025-000124", b"SN-2025-000123")
    assert tampered != der
    _reject("CSR_BAD_SIGNATURE", tampered)


def test_signature_is_checked_before_the_cn() -> None:
    der = make_csr(cn="SN-2025-000124")
    _reject("CSR_BAD_SIGNATURE", der.replace(b"SN-2025-000124", b"SN-2025-000125"))


@pytest.mark.parametrize(
    "der",
    [b"", b"\x00", b"\x30\x00", b"\x30\x80\x00\x00", b"not a csr at all", b"\x30" * 100],
)
def test_garbage_is_malformed(der: bytes) -> None:
    _reject("CSR_MALFORMED", der)


def test_pem_instead_of_der_is_malformed_and_says_so() -> None:
    pem = x509.load_der_x509_csr(make_csr()).public_bytes(serialization.Encoding.PEM)
    error = _reject("CSR_MALFORMED", pem)
    assert "PEM" in error.message


def test_text_instead_of_bytes_is_malformed() -> None:
    _reject("CSR_MALFORMED", "3081c6...")  # type: ignore[arg-type]


def test_truncated_csr_is_malformed() -> None:
    _reject("CSR_MALFORMED", make_csr()[:-1])


def test_trailing_bytes_are_malformed() -> None:
    _reject("CSR_MALFORMED", make_csr() + b"\x00")


def test_csr_over_8_kib_is_refused_even_if_valid() -> None:
    names = [x509.DNSName(f"host-{i:05d}.example.com") for i in range(400)]

    def add_san(builder):
        return builder.add_extension(x509.SubjectAlternativeName(names), critical=False)

    der = make_csr(builder_hook=add_san)
    assert len(der) > MAX_CSR_SIZE
    assert x509.load_der_x509_csr(der).is_signature_valid
    error = _reject("CSR_MALFORMED", der)
    assert str(MAX_CSR_SIZE) in error.message


# --- the nRF91 explicit-NULL form -----------------------------------------------------


def _strict_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make cryptography refuse the explicit-NULL form, as versions before 41 did and as a
    later one may again (its tolerance of this encoding is meant to be temporary)."""
    lenient = x509.load_der_x509_csr

    def strict(der: bytes):
        if NULL_ALG in der:
            raise ValueError("explicit NULL parameters in ecdsa-with-SHA256")
        return lenient(der)

    monkeypatch.setattr(x509, "load_der_x509_csr", strict)


def test_explicit_null_form_is_accepted_even_by_a_strict_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = make_csr()
    nrf = to_explicit_null(original)
    _strict_loader(monkeypatch)
    with pytest.raises(ValueError):
        x509.load_der_x509_csr(nrf)
    checked = check_csr(nrf, SERIAL, DEFAULT)
    assert checked.der == original
    assert checked.device_key_sha256 == device_key_sha256(EC_KEY.public_key())


def test_tampered_explicit_null_form_is_bad_signature_with_a_strict_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nrf = to_explicit_null(make_csr(cn="SN-2025-000124"))
    _strict_loader(monkeypatch)
    _reject("CSR_BAD_SIGNATURE", nrf.replace(b"SN-2025-000124", b"SN-2025-000123"))


def test_explicit_null_form_is_accepted_with_a_valid_signature() -> None:
    original = make_csr()
    checked = check_csr(to_explicit_null(original), SERIAL, DEFAULT)
    assert checked.common_name == SERIAL
    assert checked.device_key_sha256 == device_key_sha256(EC_KEY.public_key())
    assert checked.der == original
    assert x509.load_der_x509_csr(checked.der).is_signature_valid


def test_normalise_restores_exactly_the_rfc_form() -> None:
    original = make_csr()
    assert normalise_csr_der(to_explicit_null(original)) == original


def test_normalise_keeps_the_signed_bytes_and_the_signature_unchanged() -> None:
    original = make_csr()
    csr = x509.load_der_x509_csr(original)
    normalised = normalise_csr_der(to_explicit_null(original))
    assert csr.tbs_certrequest_bytes in normalised
    assert normalised.endswith(original[-len(csr.signature) :])


def _padding_extension(size: int):
    def add(builder):
        oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.2")
        return builder.add_extension(x509.UnrecognizedExtension(oid, b"P" * size), critical=False)

    return add


def test_normalise_reencodes_the_outer_length_when_its_size_changes() -> None:
    # A CSR whose outer length is 0x81 xx in RFC form but 0x82 01 xx in the nRF91 form.
    # ECDSA signatures vary in length by a byte or two, so try a few paddings and rounds.
    for size in [s for s in range(1, 120) for _ in range(3)]:
        original = make_csr(builder_hook=_padding_extension(size))
        if original[1] == 0x81 and original[2] in (0xFE, 0xFF):
            break
    else:
        raise AssertionError("no CSR at the 255/256 length boundary")
    nrf = to_explicit_null(original)
    assert nrf[1] == 0x82
    assert normalise_csr_der(nrf) == original
    assert check_csr(nrf, SERIAL, DEFAULT).der == original


def test_normalise_leaves_rfc_form_untouched() -> None:
    der = make_csr()
    assert normalise_csr_der(der) == der


def test_normalise_leaves_other_algorithms_with_null_untouched() -> None:
    # ecdsa-with-SHA384 with explicit NULL is not the nRF91 case: not rewritten.
    key = ec.generate_private_key(ec.SECP384R1())
    body = _outer_body(make_csr(key, algorithm=hashes.SHA384()))
    alg = bytes.fromhex("300a06082a8648ce3d040303")
    body = body.replace(alg, bytes.fromhex("300c06082a8648ce3d0403030500"))
    odd = b"\x30" + _der_length(len(body)) + body
    assert normalise_csr_der(odd) == odd


def test_normalise_leaves_null_form_with_non_minimal_length_untouched() -> None:
    nrf = to_explicit_null(make_csr())
    body = _outer_body(nrf)
    non_der = b"\x30\x82" + len(body).to_bytes(2, "big") + body  # 0x82 00 xx: not DER
    assert non_der[2] == 0
    assert normalise_csr_der(non_der) == non_der
    _reject("CSR_MALFORMED", non_der)


def test_normalise_only_touches_the_signature_algorithm_not_the_same_bytes_elsewhere() -> None:
    # The NULL form of the AlgorithmIdentifier, smuggled into the signed part, stays as it is.
    def add_extension(builder):
        oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
        return builder.add_extension(x509.UnrecognizedExtension(oid, NULL_ALG), critical=False)

    der = make_csr(builder_hook=add_extension)
    assert NULL_ALG in der
    assert normalise_csr_der(der) == der
    nrf = to_explicit_null(der)
    assert normalise_csr_der(nrf) == der


# --- nothing but CsrRejected ----------------------------------------------------------

VALID = make_csr()
VALID_NRF = to_explicit_null(VALID)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


CODES = {"CSR_MALFORMED", "CSR_BAD_SIGNATURE", "CSR_CN_MISMATCH", "CSR_KEY_TYPE"}


def _check_only_rejects(der: bytes) -> None:
    try:
        result = check_csr(der, SERIAL, DEFAULT)
    except CsrRejected as error:
        assert error.code in CODES
        return
    assert isinstance(result, CheckedCsr)
    assert result.common_name == SERIAL


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from([VALID, VALID_NRF])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if op == "insert":
            at = draw(st.integers(min_value=0, max_value=len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            at = draw(st.integers(min_value=0, max_value=len(data) - 1))
            if op == "flip":
                data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
            elif op == "delete":
                del data[at : at + draw(st.integers(min_value=1, max_value=4))]
            else:
                data[at] = draw(st.sampled_from([0x00, 0x05, 0x30, 0x80, 0x81, 0x82, 0xFF]))
    return bytes(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_give_only_csr_rejected(der: bytes) -> None:
    _check_only_rejects(der)


@FUZZ
@given(st.binary(min_size=1, max_size=40).map(lambda tail: b"\x30\x81\xc6" + tail))
def test_random_bytes_behind_a_sequence_header_give_only_csr_rejected(der: bytes) -> None:
    _check_only_rejects(der)


@FUZZ
@given(mutated())
def test_mutated_csrs_give_only_csr_rejected_or_a_valid_result(der: bytes) -> None:
    _check_only_rejects(der)


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated()))
def test_normalise_never_raises_and_is_idempotent(der: bytes) -> None:
    once = normalise_csr_der(der)
    assert normalise_csr_der(once) == once
    assert len(once) in (len(der), len(der) - 2, len(der) - 3)
