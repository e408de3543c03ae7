"""cloud/sigverify.py (pure-Python verification) against cryptography, and fuzzed."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.sigverify import (
    P256,
    P384,
    KeyFormatError,
    SignatureFormatError,
    VerifyError,
    load_public_key,
    verify,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _spki(key, fmt=serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, fmt)


def _sign(key, message: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
    return key.sign(message, ec.ECDSA(digest))


@pytest.fixture(scope="module")
def keys():
    return {
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


KINDS = ["p256", "p384", "rsa2048"]


def _verdict(spki: bytes, message: bytes, signature: bytes) -> bool:
    """verify(), where a typed error counts as "does not verify"; anything else escapes."""
    try:
        return verify(spki, message, signature)
    except VerifyError:
        return False


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(message=st.binary(max_size=300))
def test_a_valid_signature_verifies(keys, kind, message):
    key = keys[kind]
    assert verify(_spki(key), message, _sign(key, message)) is True


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(message=st.binary(min_size=1, max_size=100), position=st.integers(0, 4095))
def test_any_bit_flip_in_the_signature_fails(keys, kind, message, position):
    key = keys[kind]
    signature = bytearray(_sign(key, message))  # ECDSA: a new length on every signing
    bit = position % (len(signature) * 8)
    signature[bit // 8] ^= 1 << (bit % 8)
    assert _verdict(_spki(key), message, bytes(signature)) is False


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(message=st.binary(max_size=100), other=st.binary(max_size=100))
def test_another_message_fails(keys, kind, message, other):
    key = keys[kind]
    if other == message:
        return
    assert _verdict(_spki(key), other, _sign(key, message)) is False


@pytest.mark.parametrize("kind", KINDS)
def test_another_key_fails(keys, kind):
    other = {"p256": ec.generate_private_key(ec.SECP256R1()),
             "p384": ec.generate_private_key(ec.SECP384R1()),
             "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048)}[kind]
    assert _verdict(_spki(other), b"m", _sign(keys[kind], b"m")) is False


def test_a_p256_signature_does_not_pass_for_a_p384_key(keys):
    assert _verdict(_spki(keys["p384"]), b"m", _sign(keys["p256"], b"m")) is False


@FAST
@given(blob=st.binary(max_size=600))
def test_malformed_signatures_are_typed_errors(keys, blob):
    for kind in KINDS:
        try:
            assert verify(_spki(keys[kind]), b"m", blob) is False
        except SignatureFormatError:
            pass


@FAST
@given(blob=st.binary(max_size=400))
def test_malformed_keys_are_typed_errors(blob):
    with pytest.raises(KeyFormatError):
        load_public_key(blob)


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(data=st.data())
def test_a_mutated_key_never_escapes_as_another_exception(keys, kind, data):
    spki = bytearray(_spki(keys[kind]))
    position = data.draw(st.integers(0, len(spki) - 1))
    spki[position] ^= data.draw(st.integers(1, 255))
    message = b"m"
    assert _verdict(bytes(spki), message, _sign(keys[kind], message)) is False


def test_compressed_points_load_as_the_same_point(keys):
    for kind in ("p256", "p384"):
        key = keys[kind]
        compressed = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        full = _spki(key)
        spki = _wrap_ec_spki(full, compressed)
        assert load_public_key(spki) == load_public_key(full)
        assert verify(spki, b"m", _sign(key, b"m"))


def _wrap_ec_spki(full: bytes, point: bytes) -> bytes:
    # SEQUENCE { SEQUENCE { OID, OID }, BIT STRING { 00 point } }
    alg_len = full[3]
    alg = full[2 : 4 + alg_len]
    bit = b"\x03" + bytes([len(point) + 1]) + b"\x00" + point
    body = alg + bit
    return b"\x30" + bytes([len(body)]) + body


def test_a_point_off_the_curve_is_refused(keys):
    spki = bytearray(_spki(keys["p256"]))
    spki[-1] ^= 1  # y changes: no longer on the curve
    with pytest.raises(KeyFormatError, match="not on the curve"):
        load_public_key(bytes(spki))


@pytest.mark.parametrize("curve", [P256, P384], ids=["p256", "p384"])
def test_r_and_s_outside_one_to_n_minus_one_are_refused(keys, curve):
    key = keys["p256" if curve is P256 else "p384"]
    for r, s in ((0, 1), (1, 0), (curve.n, 1), (1, curve.n), (curve.n + 5, 3)):
        with pytest.raises(SignatureFormatError):
            verify(_spki(key), b"m", encode_dss_signature(r, s))


def test_non_minimal_integers_in_a_signature_are_refused(keys):
    key = keys["p256"]
    good = _sign(key, b"m")
    # Re-encode r with a superfluous leading zero byte.
    r_len = good[3]
    r = good[4 : 4 + r_len]
    rest = good[4 + r_len :]
    padded_r = b"\x02" + bytes([r_len + 1]) + b"\x00" + r
    body = padded_r + rest
    bad = b"\x30" + bytes([len(body)]) + body
    if r[0] & 0x80 == 0:
        with pytest.raises(SignatureFormatError):
            verify(_spki(key), b"m", bad)


def test_rsa_garbage_after_the_digest_does_not_verify(keys):
    """Bleichenbacher 2006: a lax parser accepts short padding and trailing garbage."""
    key = keys["rsa2048"]
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    k = (n.bit_length() + 7) // 8
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"m").digest()
    garbage = b"\x42" * 100
    em = b"\x00\x01" + b"\xff" * 8 + b"\x00" + digest_info + garbage
    em += b"\x00" * (k - len(em))
    forged = pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
    assert verify(_spki(key), b"m", forged) is False
    honest = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    signed = pow(int.from_bytes(honest, "big"), d, n).to_bytes(k, "big")
    assert verify(_spki(key), b"m", signed) is True


def test_small_rsa_keys_are_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyFormatError):
        load_public_key(_spki(small))
