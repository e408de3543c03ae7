"""A strict DER reader for the few structures the hook reads: X.509 certificates down
to their SubjectPublicKeyInfo, public keys, and signature values.

Standard library only (the hook runs in the Lambda Python runtime with boto3 alone).
Anything malformed raises a subclass of :class:`DerError` (a ``ValueError``), never
another exception.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "MAX_PEM_CHARS",
    "CertificateError",
    "DerError",
    "pem_to_der",
    "read_integer",
    "read_tlv",
    "spki_from_der",
    "spki_from_pem",
    "split_spki",
]

MAX_PEM_CHARS = 64 * 1024

SEQUENCE, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x30, 0x02, 0x03, 0x04, 0x05, 0x06
_VERSION = 0xA0


class DerError(ValueError):
    """Bytes that are not the DER structure expected."""


class CertificateError(DerError):
    """certificatePem is not a well-formed X.509 certificate."""


def read_tlv(data: bytes, pos: int, end: int, error: type[DerError] = DerError) -> tuple[int, int, int]:
    """Read one DER TLV at ``pos``; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise error("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise error("high-tag-number form is not used here")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise error("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise error("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise error("non-minimal DER length")
        pos += count
    if pos + length > end:
        raise error("DER element runs past its container")
    return tag, pos, pos + length


def expect(
    data: bytes, pos: int, end: int, tag: int, what: str, error: type[DerError] = DerError
) -> tuple[int, int]:
    """Read one TLV that must carry ``tag``; return (content_start, content_end)."""
    got, start, stop = read_tlv(data, pos, end, error)
    if got != tag:
        raise error(f"expected {what} (tag 0x{tag:02x}), found tag 0x{got:02x}")
    return start, stop


def read_integer(data: bytes, start: int, stop: int, error: type[DerError] = DerError) -> int:
    """A non-negative DER INTEGER's value from its content bytes (minimal encoding only)."""
    if stop <= start:
        raise error("empty INTEGER")
    if data[start] & 0x80:
        raise error("negative INTEGER")
    if stop - start > 1 and data[start] == 0 and not data[start + 1] & 0x80:
        raise error("non-minimal INTEGER")
    return int.from_bytes(data[start:stop], "big")


def _as_bytes(der: object, error: type[DerError]) -> bytes:
    if not isinstance(der, bytes | bytearray | memoryview):
        raise error("DER must be bytes")
    return bytes(der)


def spki_from_der(der: bytes) -> bytes:
    """Return the DER SubjectPublicKeyInfo (whole TLV) of a DER X.509 certificate.

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber,
        signature, issuer, validity, subject, subjectPublicKeyInfo, ... }
    Raises CertificateError (a ValueError) on anything malformed.
    """
    err = CertificateError
    data = _as_bytes(der, err)
    n = len(data)
    cert_start, cert_end = expect(data, 0, n, SEQUENCE, "Certificate", err)
    if cert_end != n:
        raise err("trailing bytes after the certificate")
    tbs_start, tbs_end = expect(data, cert_start, cert_end, SEQUENCE, "TBSCertificate", err)
    _, alg_end = expect(data, tbs_end, cert_end, SEQUENCE, "signatureAlgorithm", err)
    _, sig_end = expect(data, alg_end, cert_end, BIT_STRING, "signatureValue", err)
    if sig_end != cert_end:
        raise err("unexpected element after signatureValue")

    pos = tbs_start
    tag, _, stop = read_tlv(data, pos, tbs_end, err)
    if tag == _VERSION:
        pos = stop
    for tag, what in (
        (INTEGER, "serialNumber"),
        (SEQUENCE, "signature"),
        (SEQUENCE, "issuer"),
        (SEQUENCE, "validity"),
        (SEQUENCE, "subject"),
    ):
        _, pos = expect(data, pos, tbs_end, tag, what, err)
    spki_pos = pos
    _, spki_end = expect(data, pos, tbs_end, SEQUENCE, "subjectPublicKeyInfo", err)
    split_spki(data[spki_pos:spki_end], err)
    return data[spki_pos:spki_end]


def split_spki(spki: bytes, error: type[DerError] = DerError) -> tuple[bytes, bytes | None, bytes]:
    """A DER SubjectPublicKeyInfo as (algorithm OID content, parameters TLV or None, key bytes).

    SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
    """
    data = _as_bytes(spki, error)
    start, end = expect(data, 0, len(data), SEQUENCE, "subjectPublicKeyInfo", error)
    if end != len(data):
        raise error("trailing bytes after subjectPublicKeyInfo")
    alg_start, alg_end = expect(data, start, end, SEQUENCE, "SPKI algorithm", error)
    oid_start, oid_end = expect(data, alg_start, alg_end, OID, "algorithm OID", error)
    params: bytes | None = None
    if oid_end < alg_end:
        _, _, params_end = read_tlv(data, oid_end, alg_end, error)
        if params_end != alg_end:
            raise error("unexpected element in AlgorithmIdentifier")
        params = data[oid_end:params_end]
    key_start, key_end = expect(data, alg_end, end, BIT_STRING, "SPKI subjectPublicKey", error)
    if key_end != end:
        raise error("unexpected element in subjectPublicKeyInfo")
    # Public keys (EC points, RSA, EdDSA) are whole octets: "unused bits" must be 0.
    if key_end - key_start < 2 or data[key_start] != 0:
        raise error("bad BIT STRING in subjectPublicKeyInfo")
    return data[oid_start:oid_end], params, data[key_start + 1 : key_end]


_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_B64_RE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def pem_to_der(pem: str) -> bytes:
    """The DER bytes of the first ``CERTIFICATE`` block of a PEM string (RFC 7468, strict)."""
    if not isinstance(pem, str):
        raise CertificateError("certificatePem must be a string")
    if len(pem) > MAX_PEM_CHARS:
        raise CertificateError("certificatePem is too large")
    begin = pem.find(_PEM_BEGIN)
    if begin < 0:
        raise CertificateError("no PEM certificate")
    body_start = begin + len(_PEM_BEGIN)
    end = pem.find(_PEM_END, body_start)
    if end < 0:
        raise CertificateError("PEM certificate has no END line")
    # ASCII first, then drop RFC 7468 whitespace (bytes.split: SP HT LF CR VT FF). Splitting
    # the str would also drop Unicode spaces (NBSP, U+2028...) and \x1c-\x1f unseen.
    try:
        raw = pem[body_start:end].encode("ascii")
    except UnicodeEncodeError as exc:
        raise CertificateError("non-ASCII text in PEM body") from exc
    body = b"".join(raw.split())
    if not body or len(body) % 4 or not _B64_RE.fullmatch(body):
        raise CertificateError("PEM body is not base64")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CertificateError("PEM body is not base64") from exc


def spki_from_pem(pem: str) -> bytes:
    """DER SubjectPublicKeyInfo of the first certificate in a PEM string."""
    return spki_from_der(pem_to_der(pem))
