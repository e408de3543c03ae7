"""PIN hashing for station users.

A PIN is short, so a fast hash of it can be brute-forced in moments. It is stored as
``scrypt$<n>$<r>$<p>$<salt hex>$<digest hex>``: scrypt (memory-hard, in the standard
library) with a random per-user salt, and the cost parameters kept next to the digest so
they can be raised later without breaking stored PINs. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
DIGEST_BYTES = 32
MIN_PIN_LENGTH = 4
_MAXMEM = 64 * 1024 * 1024


def hash_pin(pin: str) -> str:
    """A new salted hash of ``pin``; the PIN itself cannot be read back from it."""
    if not isinstance(pin, str) or len(pin) < MIN_PIN_LENGTH:
        raise ValueError(f"a PIN needs at least {MIN_PIN_LENGTH} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True if ``pin`` hashes to ``stored``. A malformed ``stored`` never matches."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest_hex)
        actual = _scrypt(pin, bytes.fromhex(salt_hex), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def burn_time(pin: str) -> None:
    """Spend as long as a real check, so an unknown user name is not told apart by timing."""
    _scrypt(pin, b"\0" * SALT_BYTES, SCRYPT_N, SCRYPT_R, SCRYPT_P)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, length: int = DIGEST_BYTES) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length
    )
