"""Pre-provisioning hook for AWS IoT fleet provisioning by claim.

AWS IoT calls this Lambda before ``RegisterThing`` goes ahead. The hook reads as three
steps: **parse** the event (:func:`parse_event`), **judge** the allow-list row against
the request (:func:`judge`, the one place the rules live), **claim** the serial with one
conditional ``UpdateItem``. A failed claim condition is judged again, by the same
function, on the item DynamoDB returned with the failure.

A request is allowed only when all of this holds (docs/cloud.md has the reason codes):

* the device proves it holds the key of the certificate being registered: parameter
  ``DeviceSignature`` is its signature over ``device-pop/1\\n<serial>\\n<certificateId>``
  (``REQUIRE_DEVICE_SIGNATURE``, on by default);
* the serial's row exists, is ``allowed`` and carries a valid signature by a registered,
  active station key whose station is the row's ``station_id`` (a ``revoked`` row always
  denies, signed or not);
* the SHA-256 of the certificate's SubjectPublicKeyInfo equals ``device_key_sha256``, and
  the claim certificate the board connected with is the row's ``claim_cert_sha256``;
* no other serial holds the same device key (the ``device-key-index`` GSI);
* the serial is not claimed yet, or is claimed by this very certificate (a retry after a
  lost answer), or ``ALLOW_REPROVISION`` lets the same key claim it again.

The handler never raises and logs exactly one JSON line per request, never the PEM.
Runs in the Lambda Python runtime with the standard library and boto3 only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .der import CertificateError, DerError, spki_from_der, spki_from_pem
from .sigverify import PublicKey, VerifyError, load_public_key, verify

__all__ = [
    "BATCH_RULE",
    "CLAIM_CLIENT_PREFIX",
    "DEVICE_KEY_INDEX",
    "DEVICE_SIGNATURE_PARAMETER",
    "POP_PREFIX",
    "PRODUCT_RULE",
    "ROW_PREFIX",
    "SERIAL_RULE",
    "SIGNED_ATTRIBUTES",
    "STATIONS_KEY",
    "CertificateError",
    "Decision",
    "Denied",
    "HookRequest",
    "HookSettings",
    "StationKey",
    "Verdict",
    "canonical_row_bytes",
    "check_possession",
    "decide",
    "device_key_sha256",
    "handler",
    "judge",
    "make_client",
    "parse_event",
    "pop_message",
    "reset_caches",
    "reset_client_cache",
    "spki_from_der",
    "spki_from_pem",
]

# ----------------------------------------------------------------- the rules (contract)

SERIAL_RULE = re.compile(r"[A-Za-z0-9:_-]{1,128}")
"""A serial becomes a thing name: AWS allows [a-zA-Z0-9:_-]{1,128}."""
BATCH_RULE = re.compile(r"[A-Za-z0-9_.,@/:#=\[\]-]{0,800}")
"""A batch becomes a thing attribute value: AWS allows [a-zA-Z0-9_.,@/:#=\\[\\]-]{0,800}."""
PRODUCT_RULE = BATCH_RULE
THING_PREFIX_RULE = re.compile(r"[A-Za-z0-9:_-]{0,127}")
SHA256_HEX_RULE = re.compile(r"[0-9a-f]{64}")

SIGNED_ATTRIBUTES = (
    "serial", "status", "batch", "product", "station_id",
    "device_key_sha256", "claim_cert_sha256", "factory_at", "rev",
)
"""What a station writes and signs; ``rev`` is a number, the rest strings."""
ROW_PREFIX = b"station-row/1\n"
POP_PREFIX = b"device-pop/1\n"
DEVICE_SIGNATURE_PARAMETER = "DeviceSignature"
DEVICE_KEY_INDEX = "device-key-index"
TABLE_KEY = "serial"
STATIONS_KEY = "key_id"
CLAIM_CLIENT_PREFIX = "provision-"
"""MQTT client IDs of this prefix belong to the claim certificate (the claim policy allows
no other); no thing may be named with it, so a claim connection can never take over a
provisioned device's session."""
STATION_ACTIVE = "active"

MAX_FIELD_CHARS = 64 * 1024
MAX_SIGNATURE_CHARS = 2048  # base64 of an 8192-bit RSA signature is 1368
DEFAULT_SERIAL_PARAMETER = "SerialNumber"

# Time. AWS IoT gives the hook 5 s; the whole hook, retries included, stays under 3 s.
# A call is only started when a full attempt (connect + read timeout) fits before the
# deadline, and botocore's own retries are off so that this module counts attempts.
CONNECT_TIMEOUT_S = 0.25
READ_TIMEOUT_S = 0.6
TIME_BUDGET_S = 2.4
MAX_ATTEMPTS = 3
ATTEMPT_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
REGISTRY_CACHE_MAX_S = 30.0

_CERT_ID_RE = re.compile(r"[0-9A-Fa-f]{64}")
_CLIENT_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
_B64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def canonical_row_bytes(values: Mapping[str, Any]) -> bytes:
    """The bytes a station signs for a row: ``station-row/1\\n`` and the nine signed
    attributes as compact JSON, sorted keys, ASCII escapes, ``rev`` an integer."""
    body = {name: values[name] for name in SIGNED_ATTRIBUTES}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return ROW_PREFIX + text.encode("ascii")


def pop_message(serial: str, certificate_id: str) -> bytes:
    """What a device signs to prove it holds the key of the certificate being registered."""
    return POP_PREFIX + serial.encode("ascii") + b"\n" + certificate_id.lower().encode("ascii")


def device_key_sha256(pem: str) -> str:
    """Lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_from_pem(pem)).hexdigest()


# ----------------------------------------------------------------- settings


@dataclass(frozen=True)
class HookSettings:
    """The hook's configuration (the Lambda environment, or explicit in the trust check)."""

    table_name: str
    stations_table_name: str
    serial_parameter: str = DEFAULT_SERIAL_PARAMETER
    thing_name_prefix: str = ""
    allow_reprovision: bool = False
    require_device_signature: bool = True
    registry_cache_seconds: float = REGISTRY_CACHE_MAX_S
    time_budget_seconds: float = TIME_BUDGET_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HookSettings:
        """Settings from environment variables; never raises (see :meth:`problem`)."""
        cache = env.get("REGISTRY_CACHE_SECONDS", "").strip()
        try:
            cache_s = float(cache) if cache else REGISTRY_CACHE_MAX_S
        except ValueError:
            cache_s = REGISTRY_CACHE_MAX_S
        return cls(
            table_name=env.get("TABLE_NAME", "").strip(),
            stations_table_name=env.get("STATIONS_TABLE_NAME", "").strip(),
            serial_parameter=env.get("SERIAL_PARAMETER", "").strip() or DEFAULT_SERIAL_PARAMETER,
            thing_name_prefix=env.get("THING_NAME_PREFIX", ""),
            allow_reprovision=env.get("ALLOW_REPROVISION", "").strip().lower() in _TRUE,
            # Anything but an explicit "off" keeps the check on: fail closed.
            require_device_signature=(
                env.get("REQUIRE_DEVICE_SIGNATURE", "").strip().lower() not in _FALSE
            ),
            registry_cache_seconds=cache_s,
        )

    def problem(self) -> str | None:
        """A reason code when the configuration cannot work (every request is denied)."""
        if not self.table_name:
            return "CONFIG_TABLE_NAME_MISSING"
        if not self.stations_table_name:
            return "CONFIG_STATIONS_TABLE_NAME_MISSING"
        if THING_PREFIX_RULE.fullmatch(self.thing_name_prefix) is None:
            return "CONFIG_THING_NAME_PREFIX_INVALID"
        return None

    @property
    def cache_seconds(self) -> float:
        return max(0.0, min(REGISTRY_CACHE_MAX_S, self.registry_cache_seconds))


# ----------------------------------------------------------------- parse


class Denied(Exception):
    """A deny with its reason code (and a short detail), raised while parsing or judging."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class HookRequest:
    """What the event asks, checked for shape (nothing in it is trusted yet)."""

    serial: str
    certificate_id: str  # lowercase hex
    certificate_pem: str
    spki: bytes
    key_sha256: str
    claim_certificate_id: str | None  # lowercase, when the event names one
    device_signature: Any  # the DeviceSignature parameter as sent (checked by check_possession)
    client_id: str | None = None


def _sane(value: Any, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_FIELD_CHARS and pattern.fullmatch(value):
        return value
    return None


def _field(container: Mapping[str, Any], name: str) -> Any:
    value = container.get(name)
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        raise Denied("FIELD_TOO_LARGE", name)
    return value


def _parameters(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise Denied("EVENT_NOT_OBJECT")
    # Two documented shapes: parameters/clientId/claimCertificateId and
    # incomingParameters/mqttClientId/claimId.
    params = event.get("parameters")
    if params is None:
        params = event.get("incomingParameters")
    if not isinstance(params, dict):
        raise Denied("PARAMETERS_MISSING" if params is None else "PARAMETERS_INVALID")
    return params


def _first_sane(event: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = _sane(event.get(name), _CLIENT_ID_RE)
        if value:
            return value
    return None


def _certificate(event: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[str, str, bytes]:
    """(certificateId, certificatePem, SPKI DER) of the certificate being registered."""
    cert_id = _field(event, "certificateId")
    if cert_id is None:
        cert_id = _field(params, "certificateId")
    if cert_id is None:
        raise Denied("CERT_ID_MISSING")
    if _sane(cert_id, _CERT_ID_RE) is None:
        raise Denied("CERT_ID_INVALID")
    # certificatePem: only the top-level field, which AWS IoT fills with the certificate
    # being registered. `parameters` is written by the device itself and never trusted.
    pem = _field(event, "certificatePem")
    if pem is None or pem == "":
        raise Denied("CERT_PEM_MISSING")
    param_pem = _field(params, "certificatePem")
    if param_pem is not None and param_pem != pem:
        raise Denied("CERT_PEM_CONFLICT")
    try:
        spki = spki_from_pem(pem)
    except DerError as exc:
        raise Denied("CERT_PEM_INVALID", str(exc)) from None
    return cert_id.lower(), pem, spki


def _decode_signature(raw: Any) -> bytes:
    if not isinstance(raw, str) or len(raw) > MAX_SIGNATURE_CHARS or not _B64_RE.fullmatch(raw):
        raise Denied("DEVICE_SIGNATURE_INVALID", "not base64")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise Denied("DEVICE_SIGNATURE_INVALID", "not base64") from None


def parse_event(event: Any, settings: HookSettings, log: dict[str, Any] | None = None) -> HookRequest:
    """Check the event's shape and return what it asks; raise ``Denied`` otherwise.

    ``log`` (when given) receives the fields worth logging as soon as they are known."""
    log = log if log is not None else {}
    params = _parameters(event)
    client_id = _first_sane(event, ("clientId", "mqttClientId"))
    claim_id = _first_sane(event, ("claimCertificateId", "claimId"))
    if client_id:
        log["clientId"] = client_id
    if claim_id:
        log["claimCertificateId"] = claim_id
    serial = _field(params, settings.serial_parameter)
    if serial is None:
        raise Denied("SERIAL_MISSING")
    if _sane(serial, SERIAL_RULE) is None:
        raise Denied("SERIAL_INVALID")
    log["serial"] = serial
    cert_id, pem, spki = _certificate(event, params)
    log["certificateId"] = cert_id
    thing_name = settings.thing_name_prefix + serial
    if len(thing_name) > 128:
        raise Denied("THING_NAME_TOO_LONG")
    if thing_name.lower().startswith(CLAIM_CLIENT_PREFIX):
        raise Denied("THING_NAME_RESERVED")
    return HookRequest(
        serial=serial,
        certificate_id=cert_id,
        certificate_pem=pem,
        spki=spki,
        key_sha256=hashlib.sha256(spki).hexdigest(),
        claim_certificate_id=claim_id.lower() if claim_id else None,
        device_signature=params.get(DEVICE_SIGNATURE_PARAMETER),
        client_id=client_id,
    )


def check_possession(request: HookRequest) -> None:
    """The device's proof that it holds the private key of the certificate being
    registered; raise ``Denied`` when it is missing or does not verify."""
    if request.device_signature is None or request.device_signature == "":
        raise Denied("DEVICE_SIGNATURE_MISSING")
    signature = _decode_signature(request.device_signature)
    try:
        key = load_public_key(request.spki)
    except VerifyError as exc:
        raise Denied("DEVICE_KEY_UNSUPPORTED", str(exc)) from None
    message = pop_message(request.serial, request.certificate_id)
    try:
        ok = verify(key, message, signature)
    except VerifyError as exc:
        raise Denied("DEVICE_SIGNATURE_INVALID", str(exc)) from None
    if not ok:
        raise Denied("DEVICE_SIGNATURE_INVALID")


# ----------------------------------------------------------------- judge


@dataclass(frozen=True)
class StationKey:
    """One entry of the station registry, as read (checked by :func:`judge`)."""

    key_id: str
    station_id: str | None
    public_key_b64: str | None
    status: str | None


@dataclass(frozen=True)
class Verdict:
    """What the row says about the request: ``deny`` (with a reason), ``claim`` (a fresh
    claim), ``reclaim`` (ALLOW_REPROVISION, same key) or ``same`` (already claimed by
    this very certificate: a retry after a lost answer, allowed without a write)."""

    action: str
    reason: str
    batch: str = ""
    detail: str | None = None


def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return value["S"]
    return None


def _row_values(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The signed attributes of a DynamoDB item, or None if one is missing or mistyped."""
    values: dict[str, Any] = {}
    for name in SIGNED_ATTRIBUTES:
        if name == "rev":
            raw = item.get("rev")
            number = raw.get("N") if isinstance(raw, dict) else None
            if not isinstance(number, str) or not re.fullmatch(r"-?[0-9]{1,20}", number):
                return None
            values["rev"] = int(number)
        else:
            text = _s(item, name)
            if text is None:
                return None
            values[name] = text
    return values


def _signature_problem(item: Mapping[str, Any], station: StationKey | None) -> Verdict | None:
    sig_b64, key_id = _s(item, "row_sig"), _s(item, "signer_key_id")
    if not sig_b64 or not key_id:
        return Verdict("deny", "ROW_UNSIGNED")
    values = _row_values(item)
    if values is None:
        return Verdict("deny", "ITEM_INVALID", detail="signed attributes")
    if station is None or station.key_id != key_id:
        return Verdict("deny", "STATION_UNKNOWN")
    if station.status != STATION_ACTIVE:
        reason = "STATION_RETIRED" if station.status == "retired" else "STATION_UNKNOWN"
        return Verdict("deny", reason)
    if station.station_id != values["station_id"]:
        return Verdict("deny", "STATION_MISMATCH")
    key = _station_public_key(station)
    if key is None:
        return Verdict("deny", "STATION_KEY_INVALID")
    try:
        signature = base64.b64decode(sig_b64, validate=True)
        ok = verify(key, canonical_row_bytes(values), signature)
    except (binascii.Error, ValueError):
        ok = False
    return None if ok else Verdict("deny", "ROW_SIGNATURE_INVALID")


def _station_public_key(station: StationKey) -> PublicKey | None:
    try:
        der = base64.b64decode(station.public_key_b64 or "", validate=True)
        if hashlib.sha256(der).hexdigest() != station.key_id:
            return None
        key = load_public_key(der)
    except (binascii.Error, ValueError):
        return None
    if key.curve is None or key.curve.name != "P-256":
        return None
    return key


def _row_problem(request: HookRequest, item: Mapping[str, Any]) -> Verdict | None:
    stored_key = _s(item, "device_key_sha256")
    if stored_key is None or not SHA256_HEX_RULE.fullmatch(stored_key):
        return Verdict("deny", "ITEM_INVALID", detail="device_key_sha256")
    if stored_key != request.key_sha256:
        return Verdict("deny", "KEY_MISMATCH")
    if request.claim_certificate_id is None:
        return Verdict("deny", "CLAIM_CERT_MISSING")
    if (_s(item, "claim_cert_sha256") or "").lower() != request.claim_certificate_id:
        return Verdict("deny", "CLAIM_CERT_MISMATCH")
    batch, product = _s(item, "batch"), _s(item, "product")
    if batch is None or not BATCH_RULE.fullmatch(batch):
        return Verdict("deny", "ITEM_INVALID", detail="batch")
    if product is None or not PRODUCT_RULE.fullmatch(product):
        return Verdict("deny", "ITEM_INVALID", detail="product")
    return None


def judge(
    request: HookRequest,
    item: Mapping[str, Any] | None,
    station: StationKey | None,
    settings: HookSettings,
) -> Verdict:
    """The rules, in one place: what ``item`` (a DynamoDB item as read, or as returned
    with a failed claim) and its signer's registry entry ``station`` say about ``request``."""
    if not item:
        return Verdict("deny", "UNKNOWN_SERIAL")
    status = _s(item, "status")
    if status == "revoked":
        return Verdict("deny", "REVOKED")
    if status != "allowed":
        return Verdict("deny", "NOT_ALLOWED")
    problem = _signature_problem(item, station) or _row_problem(request, item)
    if problem is not None:
        return problem
    batch = _s(item, "batch") or ""
    if "provisioned_at" not in item:
        return Verdict("claim", "PROVISIONED", batch)
    if (_s(item, "certificate_id") or "").lower() == request.certificate_id:
        return Verdict("same", "SAME_CERTIFICATE", batch)
    if settings.allow_reprovision:
        return Verdict("reclaim", "REPROVISIONED", batch)
    return Verdict("deny", "ALREADY_PROVISIONED")


# ----------------------------------------------------------------- DynamoDB calls

_RETRYABLE_CODES = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionConflictException",
}


def _error_name(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code[:100]
    return type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _error_name(exc) in _RETRYABLE_CODES or (isinstance(status, int) and status >= 500)
    return isinstance(exc, BotoCoreError)


def _call(operation: Callable[..., Any], deadline: float, **request: Any) -> Any:
    """One DynamoDB call, retried while a whole attempt still fits before ``deadline``.

    A ConditionalCheckFailedException is returned to the caller (as the exception)."""
    attempt = 0
    while True:
        if deadline - time.monotonic() < ATTEMPT_S:
            raise Denied("DEADLINE")
        attempt += 1
        try:
            return operation(**request)
        except ClientError as exc:
            if _error_name(exc) == "ConditionalCheckFailedException":
                raise
            if attempt >= MAX_ATTEMPTS or not _retryable(exc):
                raise Denied("DB_ERROR", _error_name(exc)) from None
        except Exception as exc:  # noqa: BLE001 - any failure to talk to the table is a deny
            if attempt >= MAX_ATTEMPTS or not _retryable(exc):
                raise Denied("DB_ERROR", _error_name(exc)) from None
        time.sleep(min(0.05 * attempt * (1 + random.random()), 0.2))


class _RegistryCache:
    """Registry entries per warm container, at most ``REGISTRY_CACHE_MAX_S`` old. Only
    found entries are kept: a station registered a moment ago is seen at once, a
    retirement within the cache time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, StationKey]] = {}

    def get(self, table: str, key_id: str, max_age: float) -> StationKey | None:
        with self._lock:
            hit = self._entries.get((table, key_id))
        if hit is not None and time.monotonic() - hit[0] <= max_age:
            return hit[1]
        return None

    def put(self, table: str, entry: StationKey) -> None:
        with self._lock:
            if len(self._entries) > 1024:
                self._entries.clear()
            self._entries[(table, entry.key_id)] = (time.monotonic(), entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_REGISTRY = _RegistryCache()


@dataclass
class _Table:
    """The tables of one decision: the client, the settings and the deadline."""

    client: Any
    settings: HookSettings
    deadline: float
    calls: list[str] = field(default_factory=list)

    def read_row(self, serial: str) -> dict[str, Any] | None:
        self.calls.append("GetItem")
        answer = _call(
            self.client.get_item, self.deadline,
            TableName=self.settings.table_name, Key={TABLE_KEY: {"S": serial}}, ConsistentRead=True,
        )
        return answer.get("Item")

    def station_for(self, item: Mapping[str, Any] | None) -> StationKey | None:
        """The registry entry of the row's signer; only an ``allowed`` row is checked."""
        key_id = _s(item or {}, "signer_key_id")
        if _s(item or {}, "status") != "allowed" or not key_id or not SHA256_HEX_RULE.fullmatch(key_id):
            return None
        table = self.settings.stations_table_name
        cached = _REGISTRY.get(table, key_id, self.settings.cache_seconds)
        if cached is not None:
            return cached
        self.calls.append("GetItem(registry)")
        found = _call(
            self.client.get_item, self.deadline,
            TableName=table, Key={STATIONS_KEY: {"S": key_id}}, ConsistentRead=True,
        ).get("Item")
        if not found:
            return None
        entry = StationKey(
            key_id=key_id, station_id=_s(found, "station_id"),
            public_key_b64=_s(found, "public_key"), status=_s(found, "status"),
        )
        _REGISTRY.put(table, entry)
        return entry

    def other_serial_with_key(self, serial: str, key_sha256: str) -> bool:
        self.calls.append("Query(device-key-index)")
        answer = _call(
            self.client.query, self.deadline,
            TableName=self.settings.table_name, IndexName=DEVICE_KEY_INDEX,
            KeyConditionExpression="device_key_sha256 = :key",
            ExpressionAttributeValues={":key": {"S": key_sha256}},
            Limit=10,
        )
        return any(_s(found, TABLE_KEY) != serial for found in answer.get("Items", []))

    def claim(self, request: HookRequest, item: Mapping[str, Any], verdict: Verdict, now: str) -> Any:
        """The conditional claim; returns None, or the failed condition's exception."""
        condition = (
            "#status = :allowed AND device_key_sha256 = :key AND claim_cert_sha256 = :claim"
            " AND row_sig = :sig AND signer_key_id = :signer"
        )
        values = {
            ":now": {"S": now},
            ":cert": {"S": request.certificate_id},
            ":thing": {"S": self.settings.thing_name_prefix + request.serial},
            ":allowed": {"S": "allowed"},
            ":key": {"S": request.key_sha256},
            ":claim": {"S": _s(item, "claim_cert_sha256") or ""},
            ":sig": {"S": _s(item, "row_sig") or ""},
            ":signer": {"S": _s(item, "signer_key_id") or ""},
        }
        if verdict.action == "claim":
            condition += " AND attribute_not_exists(provisioned_at)"
        else:
            condition += " AND certificate_id = :previous"
            values[":previous"] = {"S": _s(item, "certificate_id") or ""}
        self.calls.append("UpdateItem")
        try:
            _call(
                self.client.update_item, self.deadline,
                TableName=self.settings.table_name,
                Key={TABLE_KEY: {"S": request.serial}},
                UpdateExpression="SET provisioned_at = :now, certificate_id = :cert, thing_name = :thing",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            return exc
        return None


# ----------------------------------------------------------------- decide


@dataclass(frozen=True)
class Decision:
    """The hook's answer and what to log about it."""

    allow: bool
    reason: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    detail: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        """The Lambda response, a new dict on every call."""
        return {"allowProvisioning": self.allow, "parameterOverrides": dict(self.overrides)}

    def log_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {**self.fields, "decision": "allow" if self.allow else "deny"}
        record["reason"] = self.reason
        if self.detail:
            record["detail"] = self.detail[:200]
        return record


def _now_iso(now: _dt.datetime | None) -> str:
    stamp = now or _dt.datetime.now(_dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _note_row(fields: dict[str, Any], item: Mapping[str, Any] | None) -> None:
    """Who signed the row, for the log line (an investigation starts there)."""
    for attribute, name in (("station_id", "stationId"), ("signer_key_id", "signerKeyId")):
        value = _s(item or {}, attribute)
        if value is not None and _CLIENT_ID_RE.fullmatch(value):
            fields[name] = value


def _claim_and_settle(
    tables: _Table, request: HookRequest, item: Mapping[str, Any], verdict: Verdict, now: str
) -> Verdict:
    """Claim the serial; when the condition fails, judge the item as it then was."""
    if tables.other_serial_with_key(request.serial, request.key_sha256):
        return Verdict("deny", "DUPLICATE_DEVICE_KEY")
    failure = tables.claim(request, item, verdict, now)
    if failure is None:
        return verdict
    old = failure.response.get("Item")
    if not old:
        # An endpoint that does not return the item with the failure: read it again.
        old = tables.read_row(request.serial)
    again = judge(request, old, tables.station_for(old), tables.settings)
    if again.action == "same" or again.action == "deny":
        return again
    return Verdict("deny", "CLAIM_CONFLICT")


def decide(
    event: Any,
    settings: HookSettings,
    *,
    dynamodb: Any,
    now: _dt.datetime | None = None,
    deadline: float | None = None,
) -> Decision:
    """Judge one pre-provisioning event with explicit settings and DynamoDB client.

    Never raises. ``deadline`` is a ``time.monotonic()`` instant (default: now plus
    ``settings.time_budget_seconds``); ``now`` stamps ``provisioned_at``."""
    fields: dict[str, Any] = {}
    if deadline is None:
        deadline = time.monotonic() + settings.time_budget_seconds
    try:
        problem = settings.problem()
        if problem:
            raise Denied(problem)
        request = parse_event(event, settings, fields)
        if settings.require_device_signature:
            check_possession(request)
        tables = _Table(dynamodb, settings, deadline)
        item = tables.read_row(request.serial)
        _note_row(fields, item)
        verdict = judge(request, item, tables.station_for(item), settings)
        if verdict.action in ("claim", "reclaim"):
            verdict = _claim_and_settle(tables, request, item or {}, verdict, _now_iso(now))
    except Denied as deny:
        return Decision(False, deny.reason, detail=deny.detail, fields=fields)
    except Exception as exc:  # noqa: BLE001 - the hook denies instead of crashing
        return Decision(False, "INTERNAL_ERROR", detail=type(exc).__name__, fields=fields)
    if verdict.action == "deny":
        return Decision(False, verdict.reason, detail=verdict.detail, fields=fields)
    thing_name = settings.thing_name_prefix + request.serial
    fields["thingName"] = thing_name
    overrides = {"ThingName": thing_name, "Batch": verdict.batch}
    return Decision(True, verdict.reason, overrides=overrides, fields=fields)


# ----------------------------------------------------------------- Lambda entry

_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str | None, ...], Any] = {}
_BOTO_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    retries={"total_max_attempts": 1, "mode": "standard"},
    max_pool_connections=16,
)


def _client(env: Mapping[str, str]) -> Any:
    """One DynamoDB client per container (per endpoint and region), created lazily."""
    key = (
        env.get("AWS_ENDPOINT_URL_DYNAMODB"),
        env.get("AWS_ENDPOINT_URL"),
        env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
    )
    client = _CLIENTS.get(key)
    if client is None:
        with _CLIENT_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                session = boto3.session.Session()  # the default session is not thread-safe
                client = session.client(
                    "dynamodb", region_name=key[2] or session.region_name, config=_BOTO_CONFIG
                )
                _CLIENTS[key] = client
    return client


class _LazyClient:
    """The container's client, built on first use: a request denied before any table
    access never needs (nor fails on) a client."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(_client(self._env), name)


def make_client(**kwargs: Any) -> Any:
    """A DynamoDB client with the hook's timeouts and retry policy (for :func:`decide`)."""
    return boto3.session.Session().client("dynamodb", config=_BOTO_CONFIG, **kwargs)


def reset_client_cache() -> None:
    """Forget cached clients and registry entries (tests; a new endpoint or table)."""
    with _CLIENT_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    _REGISTRY.clear()
    for client in clients:
        close = getattr(client, "close", None)
        if close is not None:
            close()


reset_caches = reset_client_cache


def _deadline(context: Any, started: float, budget: float) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            budget = min(budget, float(remaining()) / 1000.0 - 0.3)
        except (TypeError, ValueError):
            pass
    return started + budget


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point: settings from the environment. Never raises."""
    started = time.monotonic()
    try:
        settings = HookSettings.from_env(os.environ)
        deadline = _deadline(context, started, settings.time_budget_seconds)
        decision = decide(event, settings, dynamodb=_LazyClient(os.environ), deadline=deadline)
    except Exception as exc:  # noqa: BLE001 - the hook denies instead of crashing
        decision = Decision(False, "INTERNAL_ERROR", detail=type(exc).__name__)
    record = decision.log_record()
    record["ms"] = round((time.monotonic() - started) * 1000.0, 1)
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and len(request_id) <= 128:
        record["requestId"] = request_id
    _emit(record)
    return decision.response()


def _emit(record: dict[str, Any]) -> None:
    try:
        print(json.dumps({"event": "preprovision", **record}, sort_keys=True), flush=True)
    except Exception:  # noqa: BLE001 - logging must never turn an answer into a crash
        pass


# AWS's samples name the entry point this way; both work as the Lambda handler.
lambda_handler = handler
