"""Accept or refuse the certificate signing request a board made for itself.

:func:`check_csr` is the station's gate between "the board says it has a key
pair" and "this public key goes into the allow-list". Anything that goes
wrong, however the bytes are broken, comes out as :class:`CsrRejected` with a
stable code; nothing else escapes.

The hash recorded for the cloud is :func:`device_key_sha256`: SHA-256 of the
public key's DER SubjectPublicKeyInfo. The pre-provisioning hook hashes the
SubjectPublicKeyInfo bytes of the certificate being registered, so
:func:`check_csr` only accepts a key whose bytes, as the board signed them, are
already the standard encoding (named curve, uncompressed EC point): then the
board's bytes, cryptography's re-encoding and the issued certificate agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from station.errors import CsrRejected

__all__ = [
    "KEY_TYPES",
    "MAX_CSR_SIZE",
    "CheckedCsr",
    "CsrPolicy",
    "check_csr",
    "device_key_sha256",
    "key_type_of",
    "load_csr",
    "normalise_csr_der",
]

MAX_CSR_SIZE = 8 * 1024
"""A CSR larger than this is refused before any parsing."""

KEY_TYPES = frozenset({"ec-p256", "ec-p384", "rsa"})
"""Key type names a policy may allow."""

MIN_RSA_BITS_FLOOR = 2048
"""No policy may allow RSA keys shorter than this (AWS IoT refuses them too)."""

_HINT_MALFORMED = (
    "The board sent a certificate request the station cannot read. Re-test the board once; "
    "if it fails again, set it aside and report it to engineering (firmware or storage fault)."
)
_HINT_BAD_SIGNATURE = (
    "The board's certificate request is not signed by its own key: the board's key storage or "
    "firmware is faulty, or the request was altered. Set the board aside and report it to "
    "engineering; do not re-test it."
)
_HINT_CN_MISMATCH = (
    "The board put a different serial in its certificate request than it reported. Check the "
    "board's serial programming, then re-test; if it fails again, set it aside and report it "
    "to engineering."
)
_HINT_KEY_TYPE = (
    "The board made a key of a type this station does not accept. Check the board's firmware "
    "version and the key types allowed in station.ini; set the board aside until engineering "
    "says which one to change."
)


@dataclass(frozen=True)
class CsrPolicy:
    """Which board key types the station accepts."""

    allowed_key_types: frozenset[str] = frozenset({"ec-p256"})
    """Names from :data:`KEY_TYPES`. ``"rsa"`` allows RSA keys of at least ``min_rsa_bits``."""
    min_rsa_bits: int = MIN_RSA_BITS_FLOOR
    only_common_name: bool = False
    """The subject must be exactly one attribute, the CN (the agent protocol's board rule);
    other drivers may add configured attributes (O=, C=...)."""

    def __post_init__(self) -> None:
        names = frozenset(self.allowed_key_types)
        object.__setattr__(self, "allowed_key_types", names)
        for name in sorted(names):
            if name not in KEY_TYPES:
                raise ValueError(
                    f"unknown key type {name!r}; known key types: {', '.join(sorted(KEY_TYPES))}"
                )
        if not names:
            raise ValueError("a CSR policy must allow at least one key type")
        if isinstance(self.min_rsa_bits, bool) or not isinstance(self.min_rsa_bits, int):
            raise ValueError(f"min_rsa_bits must be an integer, not {self.min_rsa_bits!r}")
        if self.min_rsa_bits < MIN_RSA_BITS_FLOOR:
            raise ValueError(
                f"min_rsa_bits {self.min_rsa_bits} is below the floor of {MIN_RSA_BITS_FLOOR}"
            )

    @classmethod
    def from_names(cls, names: Iterable[str], min_rsa_bits: int = MIN_RSA_BITS_FLOOR) -> CsrPolicy:
        """Build a policy from names as written in station.ini (case and spaces ignored).

        Raises ``ValueError`` naming the first unknown name.
        """
        if isinstance(names, str):
            raise ValueError(f"key type names must be a list of names, not the string {names!r}")
        cleaned = []
        for name in names:
            if not isinstance(name, str):
                raise ValueError(f"key type name {name!r} is not a string")
            key_type = name.strip().lower()
            if key_type not in KEY_TYPES:
                raise ValueError(
                    f"unknown key type {name!r}; known key types: {', '.join(sorted(KEY_TYPES))}"
                )
            cleaned.append(key_type)
        return cls(allowed_key_types=frozenset(cleaned), min_rsa_bits=min_rsa_bits)

    def describe(self) -> str:
        """The allowed key types in words, e.g. ``ec-p256, rsa (>= 2048 bits)``."""
        parts = [
            f"rsa (>= {self.min_rsa_bits} bits)" if name == "rsa" else name
            for name in sorted(self.allowed_key_types)
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class CheckedCsr:
    """A CSR that passed every check."""

    der: bytes
    """The CSR as DER (after :func:`normalise_csr_der`): what is sent to the cloud CA."""
    common_name: str
    key_type: str
    """One of :data:`KEY_TYPES`."""
    public_key_der: bytes
    """The board's public key as DER SubjectPublicKeyInfo."""
    device_key_sha256: str
    """Hex SHA-256 of ``public_key_der``: the value the pre-provisioning hook compares."""


def device_key_sha256(public_key: object) -> str:
    """Hex SHA-256 of a cryptography public key's DER SubjectPublicKeyInfo."""
    public_bytes = getattr(public_key, "public_bytes", None)
    if public_bytes is None or hasattr(public_key, "private_bytes"):
        raise TypeError(f"expected a cryptography public key, got {type(public_key).__name__}")
    der = public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def key_type_of(public_key: object) -> str:
    """The policy name of a public key's type: ``ec-p256``, ``ec-p384``, ``rsa``, or a
    descriptive name outside :data:`KEY_TYPES` (``ec-secp521r1``, ``ed25519``, ...)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(
            public_key.curve.name, f"ec-{public_key.curve.name}"
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa"
    return type(public_key).__name__.removesuffix("PublicKey").removeprefix("_").lower()


# --- the check ------------------------------------------------------------------------


def load_csr(csr_der: bytes) -> x509.CertificateSigningRequest:
    """Parse a DER CSR (normalised first), or raise CsrRejected CSR_MALFORMED.

    Only the outer structure is parsed here; the signature is not checked.
    """
    if not isinstance(csr_der, bytes | bytearray | memoryview):
        raise _malformed(f"the certificate request is {type(csr_der).__name__}, not bytes")
    der = bytes(csr_der)
    if not der:
        raise _malformed("the certificate request is empty")
    if len(der) > MAX_CSR_SIZE:
        raise _malformed(
            f"the certificate request is {len(der)} bytes, more than the {MAX_CSR_SIZE} allowed"
        )
    if der.startswith(b"-----BEGIN"):
        raise _malformed("the certificate request is PEM text; DER bytes were expected")
    der = normalise_csr_der(der)
    try:
        return x509.load_der_x509_csr(der)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):
        raise _malformed("the certificate request is not a readable DER CSR") from None


def check_csr(csr_der: bytes, expected_cn: str, policy: CsrPolicy) -> CheckedCsr:
    """Check a board's DER CSR against the expected serial and the key policy.

    Checks, in order: size and DER structure (CSR_MALFORMED), signature by the
    request's own key (CSR_BAD_SIGNATURE), exactly one subject CN equal to
    ``expected_cn`` (CSR_CN_MISMATCH), key type allowed by ``policy``, then the
    key encoded the standard way, so that the hash recorded here equals the hash
    the hook computes from the issued certificate (CSR_KEY_TYPE). Raises
    :class:`CsrRejected` and nothing else for bad input.
    """
    csr = load_csr(csr_der)
    der = csr.public_bytes(serialization.Encoding.DER)

    try:
        public_key = csr.public_key()
    except UnsupportedAlgorithm:
        raise CsrRejected(
            "the certificate request's public key is of a type the station cannot read; "
            f"the policy allows {policy.describe()}",
            code="CSR_KEY_TYPE",
            hint=_HINT_KEY_TYPE,
        ) from None
    except (ValueError, TypeError):
        raise _malformed("the certificate request's public key cannot be read") from None

    try:
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CsrRejected(
            "the certificate request's signature cannot be checked "
            "(unsupported or malformed signature algorithm)",
            code="CSR_BAD_SIGNATURE",
            hint=_HINT_BAD_SIGNATURE,
        ) from None
    if not signature_ok:
        raise CsrRejected(
            "the certificate request's signature does not verify with its own public key",
            code="CSR_BAD_SIGNATURE",
            hint=_HINT_BAD_SIGNATURE,
        )

    common_name = _single_common_name(csr, expected_cn)
    if policy.only_common_name and len(csr.subject) != 1:
        raise CsrRejected(
            f"the certificate request's subject has {len(csr.subject)} attributes "
            f"({_quote(csr.subject.rfc4514_string())}); the board protocol allows exactly one, "
            f"CN={_quote(expected_cn)}",
            code="CSR_SUBJECT_INVALID",
            hint=_HINT_CN_MISMATCH,
        )

    key_type = key_type_of(public_key)
    if key_type not in policy.allowed_key_types:
        raise CsrRejected(
            f"the board's key is {key_type}; the policy allows {policy.describe()}",
            code="CSR_KEY_TYPE",
            hint=_HINT_KEY_TYPE,
        )
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < policy.min_rsa_bits:
        raise CsrRejected(
            f"the board's key is rsa of {public_key.key_size} bits; the policy allows "
            f"{policy.describe()}",
            code="CSR_KEY_TYPE",
            hint=_HINT_KEY_TYPE,
        )

    public_key_der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if _signed_spki(csr) != public_key_der:
        # The hook hashes the key as it appears in the issued certificate. Only when the
        # board's encoding is already the standard one can both sides agree on the hash.
        raise CsrRejected(
            f"the board's {key_type} key is encoded in a non-standard form (for example a "
            "compressed EC point, or RSA parameters without NULL); the cloud could not match "
            f"its hash. The policy allows {policy.describe()}, in standard encoding",
            code="CSR_KEY_TYPE",
            hint=_HINT_KEY_TYPE,
        )
    return CheckedCsr(
        der=der,
        common_name=common_name,
        key_type=key_type,
        public_key_der=public_key_der,
        device_key_sha256=hashlib.sha256(public_key_der).hexdigest(),
    )


def _single_common_name(csr: x509.CertificateSigningRequest, expected_cn: str) -> str:
    try:
        attributes = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _malformed("the certificate request's subject cannot be read") from None
    if len(attributes) != 1:
        raise CsrRejected(
            f"the certificate request's subject has {len(attributes)} common names; exactly one "
            f"(the serial {_quote(expected_cn)}) is required",
            code="CSR_CN_MISMATCH",
            hint=_HINT_CN_MISMATCH,
        )
    value = attributes[0].value
    if not isinstance(value, str):
        raise _malformed("the certificate request's common name is not text")
    if value != expected_cn:
        raise CsrRejected(
            f"the certificate request is for CN {_quote(value)} but the board's serial is "
            f"{_quote(expected_cn)}",
            code="CSR_CN_MISMATCH",
            hint=_HINT_CN_MISMATCH,
        )
    return value


def _signed_spki(csr: x509.CertificateSigningRequest) -> bytes:
    """The SubjectPublicKeyInfo TLV exactly as the board put it in CertificationRequestInfo.

    CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name,
        subjectPKInfo SubjectPublicKeyInfo, attributes [0] ... }
    """
    info = csr.tbs_certrequest_bytes
    try:
        tag, start, end = _read_tlv(info, 0, len(info))
        version_tag, _, position = _read_tlv(info, start, end)
        subject_tag, _, position = _read_tlv(info, position, end)
        spki_tag, _, spki_end = _read_tlv(info, position, end)
    except _DerError:
        raise _malformed("the certificate request's public key cannot be located") from None
    if (tag, version_tag, subject_tag, spki_tag) != (0x30, 0x02, 0x30, 0x30):
        raise _malformed("the certificate request's public key cannot be located")
    return info[position:spki_end]


def _quote(text: str, limit: int = 80) -> str:
    """repr() of text from a board, shortened: safe to show on an operator's screen."""
    shown = repr(text[:limit])
    return shown + "..." if len(text) > limit else shown


def _malformed(message: str) -> CsrRejected:
    return CsrRejected(message, code="CSR_MALFORMED", hint=_HINT_MALFORMED)


# --- the nRF91 explicit-NULL signature algorithm --------------------------------------

# ecdsa-with-SHA256 (1.2.840.10045.4.3.2): RFC 5758 says the parameters are absent.
_ECDSA_SHA256_ALG_ID = bytes.fromhex("300a06082a8648ce3d040302")
# The same with explicit NULL parameters, as Nordic nRF91 modem firmware encodes it.
_ECDSA_SHA256_ALG_ID_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")


class _DerError(Exception):
    pass


def _read_tlv(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """Read one DER TLV at ``offset``; return (tag, value_start, value_end).

    Only single-byte tags and definite, minimally encoded lengths (DER) are
    accepted; the value must end at or before ``end``.
    """
    if offset + 2 > end:
        raise _DerError("truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise _DerError("multi-byte tag")
    first = data[offset + 1]
    position = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise _DerError("indefinite or oversized length")
        if position + count > end:
            raise _DerError("truncated length")
        length = int.from_bytes(data[position : position + count], "big")
        if data[position] == 0 or length < 0x80:
            raise _DerError("length not minimally encoded")
        position += count
    if position + length > end:
        raise _DerError("value runs past its container")
    return tag, position, position + length


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def normalise_csr_der(der: bytes) -> bytes:
    """Rewrite the nRF91's explicit-NULL ecdsa-with-SHA256 AlgorithmIdentifier to RFC form.

    Only this case is touched: an outer SEQUENCE holding exactly a SEQUENCE
    (CertificationRequestInfo), the AlgorithmIdentifier
    ``30 0c 06 08 2a 86 48 ce 3d 04 03 02 05 00`` and a BIT STRING. That
    AlgorithmIdentifier becomes ``30 0a 06 08 2a 86 48 ce 3d 04 03 02`` and the
    outer length is re-encoded. The CertificationRequestInfo (the bytes the
    board signed) and the signature are copied unchanged, so the signature
    still has to verify over exactly what the board signed. Anything else,
    including anything unparseable, is returned unchanged.
    """
    data = bytes(der)
    try:
        tag, start, end = _read_tlv(data, 0, len(data))
        if tag != 0x30 or end != len(data):
            return data
        info_tag, _, info_end = _read_tlv(data, start, end)
        alg_tag, _, alg_end = _read_tlv(data, info_end, end)
        sig_tag, _, sig_end = _read_tlv(data, alg_end, end)
    except _DerError:
        return data
    if info_tag != 0x30 or alg_tag != 0x30 or sig_tag != 0x03 or sig_end != end:
        return data
    if data[info_end:alg_end] != _ECDSA_SHA256_ALG_ID_NULL:
        return data
    # CertificationRequestInfo TLV, unchanged | fixed AlgorithmIdentifier | signature, unchanged
    body = data[start:info_end] + _ECDSA_SHA256_ALG_ID + data[alg_end:end]
    return b"\x30" + _encode_length(len(body)) + body
