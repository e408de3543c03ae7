"""Signature verification in pure Python: ECDSA over P-256 and P-384, RSA PKCS#1 v1.5.

The hook must run in the Lambda Python runtime with the standard library and boto3 only,
so it cannot use ``cryptography``. Only verification is done here (no secret is ever
handled, so constant time does not matter), and only what the hook needs:

* ECDSA P-256 with SHA-256 and P-384 with SHA-384 (FIPS 186-4 6.4.2): the public point
  must lie on the curve and not be the point at infinity, ``r`` and ``s`` must be in
  ``[1, n-1]``; the signature is DER ``SEQUENCE { INTEGER r, INTEGER s }``, minimal;
* RSA PKCS#1 v1.5 with SHA-256 (RFC 8017 8.2.2): the encoded message is rebuilt and
  compared whole (``00 01 FF.. 00 DigestInfo``), never parsed, so no lax parser can be
  fooled by trailing garbage (Bleichenbacher's 2006 forgery).

:func:`verify` returns ``True`` or ``False`` for a well-formed key and signature, and
raises :class:`KeyFormatError` or :class:`SignatureFormatError` (both ``ValueError``)
for malformed input, never anything else.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .der import INTEGER, OID, SEQUENCE, DerError, expect, read_integer, split_spki

__all__ = [
    "P256",
    "P384",
    "KeyFormatError",
    "PublicKey",
    "SignatureFormatError",
    "VerifyError",
    "load_public_key",
    "verify",
]


class VerifyError(DerError):
    """Base of the typed errors of this module."""


class KeyFormatError(VerifyError):
    """The public key is malformed, or of a kind the hook does not verify."""


class SignatureFormatError(VerifyError):
    """The signature bytes are not a well-formed signature for the key."""


@dataclass(frozen=True)
class Curve:
    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    size: int  # field element length in bytes
    hash_name: str
    oid: bytes  # DER content of the named-curve OID


P256 = Curve(
    name="P-256",
    p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    a=-3 % 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    size=32,
    hash_name="sha256",
    oid=bytes.fromhex("2a8648ce3d030107"),  # 1.2.840.10045.3.1.7 prime256v1
)

_P384_P = int(
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"
    "ffffffff0000000000000000ffffffff",
    16,
)
P384 = Curve(
    name="P-384",
    p=_P384_P,
    a=-3 % _P384_P,
    b=int(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a"
        "c656398d8a2ed19d2a85c8edd3ec2aef",
        16,
    ),
    gx=int(
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38"
        "5502f25dbf55296c3a545e3872760ab7",
        16,
    ),
    gy=int(
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0"
        "0a60b1ce1d7e819d7a431d7c90ea0e5f",
        16,
    ),
    n=int(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
        "581a0db248b0a77aecec196accc52973",
        16,
    ),
    size=48,
    hash_name="sha384",
    oid=bytes.fromhex("2b81040022"),  # 1.3.132.0.34 secp384r1
)

_CURVES = {P256.oid: P256, P384.oid: P384}
_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1
_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
_NULL_TLV = b"\x05\x00"
# DigestInfo for SHA-256 (RFC 8017 9.2 note 1), followed by the 32-byte hash.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 8192


@dataclass(frozen=True)
class PublicKey:
    """A parsed public key: an EC point on a named curve, or an RSA modulus and exponent."""

    kind: str  # "ec" or "rsa"
    curve: Curve | None = None
    x: int = 0
    y: int = 0
    n: int = 0
    e: int = 0

    @property
    def algorithm(self) -> str:
        if self.curve is not None:
            return f"ECDSA-{self.curve.name}-{self.curve.hash_name.upper()}"
        return f"RSA{self.n.bit_length()}-PKCS1v15-SHA256"


# ----------------------------------------------------------------- keys


def load_public_key(spki_der: bytes) -> PublicKey:
    """Parse a DER SubjectPublicKeyInfo; raise KeyFormatError if it is not usable."""
    try:
        oid, params, key = split_spki(spki_der, KeyFormatError)
    except KeyFormatError:
        raise
    except DerError as exc:  # pragma: no cover - split_spki raises the class it is given
        raise KeyFormatError(str(exc)) from None
    if oid == _EC_PUBLIC_KEY:
        return _ec_key(params, key)
    if oid == _RSA_ENCRYPTION:
        if params not in (None, _NULL_TLV):
            raise KeyFormatError("rsaEncryption parameters must be NULL")
        return _rsa_key(key)
    raise KeyFormatError("unsupported public key algorithm")


def _ec_key(params: bytes | None, point: bytes) -> PublicKey:
    if params is None:
        raise KeyFormatError("EC key without a named curve")
    start, stop = expect(params, 0, len(params), OID, "named curve", KeyFormatError)
    if stop != len(params):
        raise KeyFormatError("EC parameters are not a single named curve")
    curve = _CURVES.get(params[start:stop])
    if curve is None:
        raise KeyFormatError("unsupported curve")
    x, y = _decode_point(curve, point)
    return PublicKey("ec", curve=curve, x=x, y=y)


def _decode_point(curve: Curve, data: bytes) -> tuple[int, int]:
    size, p = curve.size, curve.p
    if len(data) == 1 + 2 * size and data[0] == 4:
        x = int.from_bytes(data[1 : 1 + size], "big")
        y = int.from_bytes(data[1 + size :], "big")
    elif len(data) == 1 + size and data[0] in (2, 3):
        x = int.from_bytes(data[1:], "big")
        if x >= p:
            raise KeyFormatError("EC point coordinate out of range")
        # Both primes are 3 mod 4: the square root is a power.
        y = pow((x * x * x + curve.a * x + curve.b) % p, (p + 1) // 4, p)
        if y & 1 != data[0] & 1:
            y = p - y
    else:
        raise KeyFormatError("EC point encoding not recognised")
    if x >= p or y >= p:
        raise KeyFormatError("EC point coordinate out of range")
    if (y * y - (x * x * x + curve.a * x + curve.b)) % p:
        raise KeyFormatError("EC point is not on the curve")
    return x, y


def _rsa_key(key: bytes) -> PublicKey:
    start, stop = expect(key, 0, len(key), SEQUENCE, "RSAPublicKey", KeyFormatError)
    if stop != len(key):
        raise KeyFormatError("trailing bytes after RSAPublicKey")
    n_start, n_stop = expect(key, start, stop, INTEGER, "modulus", KeyFormatError)
    e_start, e_stop = expect(key, n_stop, stop, INTEGER, "publicExponent", KeyFormatError)
    if e_stop != stop:
        raise KeyFormatError("unexpected element in RSAPublicKey")
    n = read_integer(key, n_start, n_stop, KeyFormatError)
    e = read_integer(key, e_start, e_stop, KeyFormatError)
    if not RSA_MIN_BITS <= n.bit_length() <= RSA_MAX_BITS or not n & 1:
        raise KeyFormatError(f"RSA modulus must be odd and {RSA_MIN_BITS} to {RSA_MAX_BITS} bits")
    if e < 3 or not e & 1 or e >= n:
        raise KeyFormatError("bad RSA public exponent")
    return PublicKey("rsa", n=n, e=e)


# ----------------------------------------------------------------- verification


def verify(key: PublicKey | bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``message`` verifies with ``key`` (a PublicKey or DER SPKI).

    ECDSA keys hash with their curve's hash (P-256: SHA-256, P-384: SHA-384) and take a DER
    signature; RSA keys take a PKCS#1 v1.5 SHA-256 signature of exactly the modulus length.
    """
    if not isinstance(key, PublicKey):
        key = load_public_key(key)
    if not isinstance(message, bytes | bytearray) or not isinstance(signature, bytes | bytearray):
        raise SignatureFormatError("message and signature must be bytes")
    if key.curve is not None:
        r, s = _ecdsa_signature(key.curve, bytes(signature))
        digest = hashlib.new(key.curve.hash_name, bytes(message)).digest()
        return _ecdsa_verify(key.curve, key.x, key.y, digest, r, s)
    return _rsa_verify(key, bytes(message), bytes(signature))


def _ecdsa_signature(curve: Curve, sig: bytes) -> tuple[int, int]:
    err = SignatureFormatError
    if len(sig) > 2 * curve.size + 16:
        raise err("signature too long for the curve")
    start, stop = expect(sig, 0, len(sig), SEQUENCE, "ECDSA-Sig-Value", err)
    if stop != len(sig):
        raise err("trailing bytes after the signature")
    r_start, r_stop = expect(sig, start, stop, INTEGER, "r", err)
    s_start, s_stop = expect(sig, r_stop, stop, INTEGER, "s", err)
    if s_stop != stop:
        raise err("unexpected element in the signature")
    r = read_integer(sig, r_start, r_stop, err)
    s = read_integer(sig, s_start, s_stop, err)
    if not (0 < r < curve.n and 0 < s < curve.n):
        raise err("r or s out of range")
    return r, s


def _ecdsa_verify(curve: Curve, qx: int, qy: int, digest: bytes, r: int, s: int) -> bool:
    n = curve.n
    e = int.from_bytes(digest, "big")
    excess = len(digest) * 8 - n.bit_length()
    if excess > 0:
        e >>= excess
    w = pow(s, -1, n)
    u1, u2 = (e * w) % n, (r * w) % n
    point = _shamir(curve, u1, (curve.gx, curve.gy), u2, (qx, qy))
    if point is None:
        return False
    return point[0] % n == r


# Jacobian coordinates (X, Y, Z) for x = X/Z^2, y = Y/Z^3; None is the point at infinity.
_Jac = tuple[int, int, int]


def _double(curve: Curve, pt: _Jac | None) -> _Jac | None:
    if pt is None:
        return None
    x, y, z = pt
    p = curve.p
    if y == 0:
        return None
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = 3 * (x - zz) * (x + zz) % p  # a = -3
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    z3 = 2 * y * z % p
    return x3, y3, z3


def _add(curve: Curve, one: _Jac | None, two: _Jac | None) -> _Jac | None:
    if one is None:
        return two
    if two is None:
        return one
    p = curve.p
    x1, y1, z1 = one
    x2, y2, z2 = two
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        return _double(curve, one) if r == 0 else None
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = h * z1 * z2 % p
    return x3, y3, z3


def _shamir(
    curve: Curve, k1: int, p1: tuple[int, int], k2: int, p2: tuple[int, int]
) -> tuple[int, int] | None:
    """k1*P1 + k2*P2 in affine coordinates (None for infinity), one pass over the bits."""
    a: _Jac = (p1[0], p1[1], 1)
    b: _Jac = (p2[0], p2[1], 1)
    table: dict[tuple[int, int], _Jac | None] = {(1, 0): a, (0, 1): b, (1, 1): _add(curve, a, b)}
    acc: _Jac | None = None
    for i in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        acc = _double(curve, acc)
        bits = ((k1 >> i) & 1, (k2 >> i) & 1)
        if bits != (0, 0):
            acc = _add(curve, acc, table[bits])
    if acc is None:
        return None
    x, y, z = acc
    if z % curve.p == 0:
        return None
    zi = pow(z, -1, curve.p)
    zi2 = zi * zi % curve.p
    return x * zi2 % curve.p, y * zi2 * zi % curve.p


def _rsa_verify(key: PublicKey, message: bytes, signature: bytes) -> bool:
    k = (key.n.bit_length() + 7) // 8
    if len(signature) != k:
        raise SignatureFormatError("RSA signature length differs from the modulus length")
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        raise SignatureFormatError("RSA signature out of range")
    em = pow(s, key.e, key.n).to_bytes(k, "big")
    suffix = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    padding = k - len(suffix) - 3
    expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + suffix
    return hmac.compare_digest(em, expected)

