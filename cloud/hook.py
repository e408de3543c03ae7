"""Pre-provisioning hook for AWS IoT fleet provisioning by claim.

AWS IoT calls this Lambda before ``RegisterThing`` goes ahead. It allows the request
only when the board was made on a station:

1. the serial (the ``SerialNumber`` parameter, or ``SERIAL_PARAMETER``) has an item in
   the allow-list table (strongly consistent read);
2. the item's ``status`` is ``allowed``;
3. the SHA-256 of the DER SubjectPublicKeyInfo of the certificate being registered
   (``certificatePem``) equals the item's ``device_key_sha256``, so a clone that carries
   the stolen claim key and a valid serial but its own key pair is refused;
4. the serial has not been provisioned before. The serial is claimed with one
   conditional ``UpdateItem`` (``provisioned_at``, ``certificate_id``, ``thing_name``)
   whose condition repeats 2 and 3 and requires ``attribute_not_exists(provisioned_at)``,
   so of two racing requests exactly one wins. With ``ALLOW_REPROVISION=true`` a claimed
   serial may be provisioned again, but only with the same device key (a new
   certificate for the same key pair); the claim then records the new certificate.

On allow it returns ``parameterOverrides`` ``ThingName`` (``THING_NAME_PREFIX`` + serial)
and ``Batch`` (the item's batch). Anything else (unknown serial, malformed event, bad
certificate, DynamoDB error or timeout, missing configuration) is a deny; the handler
never raises. Every invocation logs exactly one JSON line (decision, reason code,
serial if well-formed, certificateId), never the certificate PEM or credentials.

Runs in the Lambda Python runtime with the standard library and boto3 only.

Environment:
  TABLE_NAME          the allow-list table (required; without it every request is denied)
  SERIAL_PARAMETER    name of the template parameter carrying the serial (SerialNumber)
  THING_NAME_PREFIX   prepended to the serial to form the thing name ("")
  ALLOW_REPROVISION   "true" lets a provisioned serial provision again with the same key
  AWS_ENDPOINT_URL_DYNAMODB  boto3's standard override, for a local DynamoDB in tests
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import re
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "CertificateError",
    "device_key_sha256",
    "handler",
    "reset_client_cache",
    "spki_from_der",
    "spki_from_pem",
]

MAX_FIELD_CHARS = 64 * 1024
DEFAULT_SERIAL_PARAMETER = "SerialNumber"
# DynamoDB answers in milliseconds; these bound a sick network. Worst case for one call:
# 2 attempts x (connect + read) + a backoff below 1 s.
CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 1.0
# AWS IoT gives the hook 5 s. GetItem plus UpdateItem must finish well inside it.
TIME_BUDGET_S = 4.0
# Do not start the claim unless one full UpdateItem attempt still fits in the budget.
MIN_TIME_FOR_UPDATE_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S + 0.2

# Thing names: [a-zA-Z0-9:_-]{1,128}. The serial must fit in one.
_SERIAL_RE = re.compile(r"[A-Za-z0-9:_-]{1,128}")
_PREFIX_RE = re.compile(r"[A-Za-z0-9:_-]{0,127}")
_CERT_ID_RE = re.compile(r"[0-9A-Fa-f]{64}")
_CLIENT_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
_KEY_SHA_RE = re.compile(r"[0-9a-f]{64}")
# Thing attribute values: [a-zA-Z0-9_.,@/:#=\[\]-]{0,800}. The batch becomes one.
_BATCH_RE = re.compile(r"[A-Za-z0-9_.,@/:#=\[\]-]{0,800}")
_TRUE = {"1", "true", "yes", "on"}


# ----------------------------------------------------------------- DER / PEM


class CertificateError(ValueError):
    """certificatePem is not a well-formed X.509 certificate."""


_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_B64_RE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one DER TLV at ``pos``; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise CertificateError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CertificateError("high-tag-number form is not used in certificates")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise CertificateError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise CertificateError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise CertificateError("non-minimal DER length")
        pos += count
    if pos + length > end:
        raise CertificateError("DER element runs past its container")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _tlv(data, pos, end)
    if got != tag:
        raise CertificateError(f"expected {what} (tag 0x{tag:02x}), found tag 0x{got:02x}")
    return start, stop


_SEQUENCE, _INTEGER, _BIT_STRING, _VERSION = 0x30, 0x02, 0x03, 0xA0


def spki_from_der(der: bytes) -> bytes:
    """Return the DER SubjectPublicKeyInfo (whole TLV) of a DER X.509 certificate.

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber,
        signature, issuer, validity, subject, subjectPublicKeyInfo, ... }
    Raises CertificateError (a ValueError) on anything malformed.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise CertificateError("DER must be bytes")
    data = bytes(der)
    n = len(data)
    cert_start, cert_end = _expect(data, 0, n, _SEQUENCE, "Certificate")
    if cert_end != n:
        raise CertificateError("trailing bytes after the certificate")
    tbs_start, tbs_end = _expect(data, cert_start, cert_end, _SEQUENCE, "TBSCertificate")
    # signatureAlgorithm and signatureValue must follow, and nothing else.
    _, alg_end = _expect(data, tbs_end, cert_end, _SEQUENCE, "signatureAlgorithm")
    _, sig_end = _expect(data, alg_end, cert_end, _BIT_STRING, "signatureValue")
    if sig_end != cert_end:
        raise CertificateError("unexpected element after signatureValue")

    pos = tbs_start
    tag, _, stop = _tlv(data, pos, tbs_end)
    if tag == _VERSION:
        pos = stop
    for tag, what in (
        (_INTEGER, "serialNumber"),
        (_SEQUENCE, "signature"),
        (_SEQUENCE, "issuer"),
        (_SEQUENCE, "validity"),
        (_SEQUENCE, "subject"),
    ):
        _, pos = _expect(data, pos, tbs_end, tag, what)
    spki_pos = pos
    spki_start, spki_end = _expect(data, pos, tbs_end, _SEQUENCE, "subjectPublicKeyInfo")
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    _, alg_end = _expect(data, spki_start, spki_end, _SEQUENCE, "SPKI algorithm")
    key_start, key_end = _expect(data, alg_end, spki_end, _BIT_STRING, "SPKI subjectPublicKey")
    if key_end != spki_end:
        raise CertificateError("unexpected element in subjectPublicKeyInfo")
    # Public keys (EC points, RSA, EdDSA) are whole octets: "unused bits" must be 0.
    if key_end - key_start < 2 or data[key_start] != 0:
        raise CertificateError("bad BIT STRING in subjectPublicKeyInfo")
    return data[spki_pos:spki_end]


def _pem_to_der(pem: str) -> bytes:
    if not isinstance(pem, str):
        raise CertificateError("certificatePem must be a string")
    if len(pem) > MAX_FIELD_CHARS:
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
    return spki_from_der(_pem_to_der(pem))


def device_key_sha256(pem: str) -> str:
    """Lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_from_pem(pem)).hexdigest()


# ----------------------------------------------------------------- DynamoDB client

_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str | None, ...], Any] = {}
_BOTO_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    retries={"total_max_attempts": 2, "mode": "standard"},
    max_pool_connections=16,
)


def _client(table_name: str) -> Any:
    """One DynamoDB client per container (per table and endpoint), created lazily."""
    key = (
        table_name,
        os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )
    client = _CLIENTS.get(key)
    if client is None:
        with _CLIENT_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                # A session per client: the default session is not thread-safe to build.
                session = boto3.session.Session()
                region = key[3] or session.region_name
                client = session.client("dynamodb", region_name=region, config=_BOTO_CONFIG)
                _CLIENTS[key] = client
    return client


def reset_client_cache() -> None:
    """Forget cached clients (tests; a new endpoint or table)."""
    with _CLIENT_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        close = getattr(client, "close", None)
        if close is not None:
            close()


# ----------------------------------------------------------------- decision


class _Deny(Exception):
    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _sane(value: Any, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_FIELD_CHARS and pattern.fullmatch(value):
        return value
    return None


def _field(container: dict[str, Any], name: str) -> Any:
    value = container.get(name)
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        raise _Deny("FIELD_TOO_LARGE", name)
    return value


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return value["S"]
    return None


def _error_name(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code[:100]
    return type(exc).__name__


def _why_claim_failed(old: dict[str, Any] | None, key_sha: str, cert_id: str) -> str:
    """Reason for a failed conditional claim, from the item as it was (ALL_OLD).

    ``SAME_CLAIM`` means the item already carries exactly this claim: botocore retried an
    UpdateItem whose first attempt was applied but whose answer was lost.
    """
    if not old:
        return "UNKNOWN_SERIAL"
    if _s(old, "status") != "allowed":
        return "REVOKED" if _s(old, "status") == "revoked" else "NOT_ALLOWED"
    if _s(old, "device_key_sha256") != key_sha:
        return "KEY_MISMATCH"
    if "provisioned_at" in old:
        if _s(old, "certificate_id") == cert_id:
            return "SAME_CLAIM"
        return "ALREADY_PROVISIONED"
    return "CLAIM_CONFLICT"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _deadline(context: Any, started: float) -> float:
    budget = TIME_BUDGET_S
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            budget = min(budget, float(remaining()) / 1000.0 - 0.3)
        except (TypeError, ValueError):
            pass
    return started + budget


def _decide(event: Any, context: Any, log: dict[str, Any], started: float) -> dict[str, str]:
    """Return parameterOverrides on allow; raise _Deny otherwise."""
    # Configuration first: when it is wrong, every request is denied for that reason.
    table_name = os.environ.get("TABLE_NAME", "").strip()
    if not table_name:
        raise _Deny("CONFIG_TABLE_NAME_MISSING")
    prefix = os.environ.get("THING_NAME_PREFIX", "")
    if _PREFIX_RE.fullmatch(prefix) is None:
        raise _Deny("CONFIG_THING_NAME_PREFIX_INVALID")
    serial_param = os.environ.get("SERIAL_PARAMETER", "").strip() or DEFAULT_SERIAL_PARAMETER
    reprovision = os.environ.get("ALLOW_REPROVISION", "").strip().lower() in _TRUE

    if not isinstance(event, dict):
        raise _Deny("EVENT_NOT_OBJECT")

    # Two documented shapes: parameters/clientId/claimCertificateId and
    # incomingParameters/mqttClientId/claimId.
    params = event.get("parameters")
    if params is None:
        params = event.get("incomingParameters")
    if not isinstance(params, dict):
        raise _Deny("PARAMETERS_MISSING" if params is None else "PARAMETERS_INVALID")

    for name in ("clientId", "mqttClientId"):
        client_id = _sane(event.get(name), _CLIENT_ID_RE)
        if client_id:
            log["clientId"] = client_id
            break
    for name in ("claimCertificateId", "claimId"):
        claim_id = _sane(event.get(name), _CLIENT_ID_RE)
        if claim_id:
            log["claimCertificateId"] = claim_id
            break

    serial = _field(params, serial_param)
    if serial is None:
        raise _Deny("SERIAL_MISSING")
    if _sane(serial, _SERIAL_RE) is None:
        raise _Deny("SERIAL_INVALID")
    log["serial"] = serial

    # certificateId: where AWS puts it (top level); tolerate it in parameters.
    cert_id = _field(event, "certificateId")
    if cert_id is None:
        cert_id = _field(params, "certificateId")
    if cert_id is None:
        raise _Deny("CERT_ID_MISSING")
    if _sane(cert_id, _CERT_ID_RE) is None:
        raise _Deny("CERT_ID_INVALID")
    log["certificateId"] = cert_id

    # certificatePem: only the top-level field, which AWS IoT fills with the certificate
    # being registered. `parameters` is written by the device itself; a clone could put
    # the genuine board's certificate there, so it is never used as the key to check.
    pem = _field(event, "certificatePem")
    if pem is None or pem == "":
        raise _Deny("CERT_PEM_MISSING")
    param_pem = _field(params, "certificatePem")
    if param_pem is not None and param_pem != pem:
        raise _Deny("CERT_PEM_CONFLICT")
    try:
        key_sha = device_key_sha256(pem)
    except CertificateError as exc:
        raise _Deny("CERT_PEM_INVALID", str(exc)) from None

    thing_name = prefix + serial
    if len(thing_name) > 128:
        raise _Deny("THING_NAME_TOO_LONG")

    deadline = _deadline(context, started)
    client = _client(table_name)
    try:
        item = client.get_item(
            TableName=table_name,
            Key={"serial": {"S": serial}},
            ConsistentRead=True,
        ).get("Item")
    except Exception as exc:  # noqa: BLE001 - any failure to read is a deny
        raise _Deny("DB_ERROR", _error_name(exc)) from None

    if not item:
        raise _Deny("UNKNOWN_SERIAL")
    status = _s(item, "status")
    if status != "allowed":
        raise _Deny("REVOKED" if status == "revoked" else "NOT_ALLOWED")
    stored_sha = _s(item, "device_key_sha256")
    if stored_sha is None or not _KEY_SHA_RE.fullmatch(stored_sha):
        raise _Deny("ITEM_INVALID", "device_key_sha256")
    if stored_sha != key_sha:
        raise _Deny("KEY_MISMATCH")
    already = "provisioned_at" in item
    if already and not reprovision:
        raise _Deny("ALREADY_PROVISIONED")
    batch = _s(item, "batch")
    if batch is None or not _BATCH_RE.fullmatch(batch):
        raise _Deny("ITEM_INVALID", "batch")

    if deadline - time.monotonic() < MIN_TIME_FOR_UPDATE_S:
        raise _Deny("DEADLINE")

    condition = "attribute_exists(serial) AND #status = :allowed AND device_key_sha256 = :key"
    if not reprovision:
        condition += " AND attribute_not_exists(provisioned_at)"
    try:
        updated = client.update_item(
            TableName=table_name,
            Key={"serial": {"S": serial}},
            UpdateExpression=(
                "SET provisioned_at = :now, certificate_id = :cert, thing_name = :thing"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": {"S": _now_iso()},
                ":cert": {"S": cert_id},
                ":thing": {"S": thing_name},
                ":allowed": {"S": "allowed"},
                ":key": {"S": key_sha},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:  # noqa: BLE001 - any failure to claim is a deny
        if _error_name(exc) != "ConditionalCheckFailedException":
            raise _Deny("DB_ERROR", _error_name(exc)) from None
        old = getattr(exc, "response", {}).get("Item")
        reason = _why_claim_failed(old, key_sha, cert_id)
        if reason != "SAME_CLAIM":
            raise _Deny(reason) from None
        updated = {"Attributes": old}

    new_batch = _s(updated.get("Attributes") or {}, "batch")
    if new_batch is not None and _BATCH_RE.fullmatch(new_batch):
        batch = new_batch
    log["reason"] = "REPROVISIONED" if already else "PROVISIONED"
    log["thingName"] = thing_name
    return {"ThingName": thing_name, "Batch": batch}


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point. Never raises; a fresh response on every call."""
    started = time.monotonic()
    response: dict[str, Any] = {"allowProvisioning": False, "parameterOverrides": {}}
    log: dict[str, Any] = {"decision": "deny", "reason": "INTERNAL_ERROR"}
    try:
        overrides = _decide(event, context, log, started)
    except _Deny as deny:
        log["reason"] = deny.reason
        if deny.detail:
            log["detail"] = deny.detail[:200]
    except Exception as exc:  # noqa: BLE001 - the hook denies instead of crashing
        log["reason"] = "INTERNAL_ERROR"
        log["detail"] = type(exc).__name__
    else:
        response = {"allowProvisioning": True, "parameterOverrides": overrides}
        log["decision"] = "allow"
    log["ms"] = round((time.monotonic() - started) * 1000.0, 1)
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and len(request_id) <= 128:
        log["requestId"] = request_id
    _emit(log)
    return response


def _emit(record: dict[str, Any]) -> None:
    try:
        print(json.dumps({"event": "preprovision", **record}, sort_keys=True), flush=True)
    except Exception:  # noqa: BLE001 - logging must never turn an answer into a crash
        pass


# AWS's samples name the entry point this way; both work as the Lambda handler.
lambda_handler = handler
