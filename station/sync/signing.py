"""The station's signing key: every row a station writes to the allow-list is signed.

Each station has its own ECDSA P-256 key pair, made on the station
(``station key create``). The private key is kept like the claim key: a PEM file only
its owner can read (0600), optionally encrypted with a passphrase from an environment
variable; it is never written to the database, a log, a report or an error message. The
public key is registered in the cloud by an administrator
(``station cloud register-station``); the hook allows a row only when its signature
verifies against a registered, active station key. A stolen AWS credential alone can
therefore not forge a row, and a retired station's rows stop working at once.

The signature is ECDSA with SHA-256 over :meth:`AllowlistItem.canonical_bytes`, DER
encoded and base64'd into ``row_sig``; ``signer_key_id`` is the hex SHA-256 of the
public key's DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from station.allowlist_item import AllowlistItem, key_id_of
from station.errors import StationError

__all__ = ["RowSigner", "SigningKeyError", "create_signing_key", "load_signing_key", "verify_row"]

CHECKS_KEY_MODE = os.name != "nt"


class SigningKeyError(StationError):
    code = "SIGNING_KEY_INVALID"
    hint = "Create the station's signing key with `station key create` and have it registered."


@dataclass(frozen=True)
class RowSigner:
    """Signs allow-list rows with one station's private key (never shown in a repr)."""

    station_id: str
    public_der: bytes
    _key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_der)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_der).decode("ascii")

    def public_pem(self) -> str:
        key = serialization.load_der_public_key(self.public_der)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, item: AllowlistItem) -> AllowlistItem:
        signature = self._key.sign(item.canonical_bytes(), ec.ECDSA(hashes.SHA256()))
        return item.signed(base64.b64encode(signature).decode("ascii"), self.key_id)

    def __repr__(self) -> str:
        return f"RowSigner(station_id={self.station_id!r}, key_id={self.key_id!r})"


def verify_row(item: AllowlistItem, public_der: bytes) -> bool:
    """Whether ``item`` carries a valid signature by the key ``public_der``."""
    if not item.row_sig or item.signer_key_id != key_id_of(public_der):
        return False
    try:
        key = serialization.load_der_public_key(public_der)
        signature = base64.b64decode(item.row_sig, validate=True)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(signature, item.canonical_bytes(), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _passphrase(passphrase_env: str | None) -> bytes | None:
    if not passphrase_env:
        return None
    value = os.environ.get(passphrase_env)
    return value.encode("utf-8") if value else None


def create_signing_key(path: Path, station_id: str, *, passphrase_env: str | None = None) -> RowSigner:
    """Make a new P-256 key pair and write the private key to ``path`` (0600, encrypted
    when ``passphrase_env`` names a set variable). Refuses to replace an existing file."""
    if path.exists():
        raise SigningKeyError(
            f"a signing key already exists at {path}", code="SIGNING_KEY_EXISTS",
            hint="Keep it (`station key show` prints its public key), or retire it in the cloud "
            "and move the file away before creating a new one.",
        )
    key = ec.generate_private_key(ec.SECP256R1())
    secret = _passphrase(passphrase_env)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RowSigner(station_id, public_der, key)


def load_signing_key(path: Path, station_id: str, *, passphrase_env: str | None = None) -> RowSigner:
    """The station's signer from its key file; a typed error names what is wrong."""
    if not path.is_file():
        raise SigningKeyError(
            f"the station signing key {path} does not exist", code="SIGNING_KEY_MISSING",
            hint="Run `station key create` on this station, then have the cloud administrator "
            "register it (`station cloud register-station`).",
        )
    if CHECKS_KEY_MODE and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SigningKeyError(
            f"the station signing key {path} can be read by other users",
            code="SIGNING_KEY_PERMISSIONS", hint=f"Run: chmod 600 {path}",
        )
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=_passphrase(passphrase_env))
    except TypeError:
        key = None
        problem = (f"the station signing key {path} is encrypted and no passphrase was given",
                   "SIGNING_KEY_PASSPHRASE_NEEDED")
    except (ValueError, UnsupportedAlgorithm):
        key = None
        problem = (f"the station signing key {path} is not a readable PEM private key "
                   "(or the passphrase is wrong)", "SIGNING_KEY_INVALID")
    del data
    if key is None:
        raise SigningKeyError(problem[0], code=problem[1])
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningKeyError(f"the station signing key {path} is not an EC P-256 key")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return RowSigner(station_id, public_der, key)
