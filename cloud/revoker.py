"""The allow-list's stream consumer: an audit line for every change, and revocation.

Fed by the allow-list table's DynamoDB stream (``NEW_AND_OLD_IMAGES``). For every record
it prints one JSON line (``"event": "allowlist-change"``): what changed, the row's
station attributes and signer before and after, the hook's claim. When a row *becomes*
``revoked`` (or a revoked row gets a ``certificate_id``) it sets that certificate
INACTIVE in AWS IoT, so a revoke also cuts off a board that already provisioned: its
certificate can no longer connect.

A record whose deactivation fails for a reason worth retrying is reported back in
``batchItemFailures`` (the event source mapping uses ``ReportBatchItemFailures``), so the
stream delivers it again; a certificate that no longer exists is logged and skipped.

Standard library and boto3 only.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["audit_record", "handler", "revocation_target"]

_CERT_ID_RE = re.compile(r"[0-9a-fA-F]{64}")
_LOGGED = (
    "status", "batch", "product", "station_id", "device_key_sha256", "claim_cert_sha256",
    "factory_at", "rev", "signer_key_id", "provisioned_at", "certificate_id", "thing_name",
)
_GONE = {"ResourceNotFoundException"}
_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str | None, ...], Any] = {}


def _plain(image: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (image or {}).items():
        if isinstance(value, dict) and len(value) == 1:
            out[name] = next(iter(value.values()))
    return out


def audit_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The audit line of one stream record (no secrets: rows hold none)."""
    change = record.get("dynamodb") or {}
    old, new = _plain(change.get("OldImage")), _plain(change.get("NewImage"))
    keys = _plain(change.get("Keys"))
    changed = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return {
        "event": "allowlist-change",
        "change": record.get("eventName"),
        "serial": keys.get("serial") or new.get("serial") or old.get("serial"),
        "changed": changed,
        "old": {k: old[k] for k in _LOGGED if k in old},
        "new": {k: new[k] for k in _LOGGED if k in new},
        "sequence": change.get("SequenceNumber"),
        "at": change.get("ApproximateCreationDateTime"),
        "source": record.get("eventSourceARN"),
        "principal": (record.get("userIdentity") or {}).get("principalId"),
    }


def revocation_target(record: Mapping[str, Any]) -> str | None:
    """The certificate to deactivate for this record, if any: the row is revoked now,
    carries a certificate_id, and was not already revoked with that same certificate."""
    change = record.get("dynamodb") or {}
    old, new = _plain(change.get("OldImage")), _plain(change.get("NewImage"))
    cert = new.get("certificate_id")
    if new.get("status") != "revoked" or not isinstance(cert, str) or not _CERT_ID_RE.fullmatch(cert):
        return None
    if old.get("status") == "revoked" and old.get("certificate_id") == cert:
        return None
    return cert.lower()


def _iot() -> Any:
    key = (os.environ.get("AWS_ENDPOINT_URL_IOT"), os.environ.get("AWS_REGION"))
    with _CLIENT_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = boto3.session.Session().client(
                "iot",
                config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3}),
            )
            _CLIENTS[key] = client
    return client


def reset_client_cache() -> None:
    with _CLIENT_LOCK:
        _CLIENTS.clear()


def _deactivate(iot: Any, certificate_id: str) -> str:
    """``deactivated``, ``gone`` (no such certificate) or ``failed:<code>`` (retry)."""
    try:
        iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        return "gone" if code in _GONE else f"failed:{code}"
    except BotoCoreError as exc:
        return f"failed:{type(exc).__name__}"
    return "deactivated"


def handler(event: Any, context: Any = None, *, iot: Any = None) -> dict[str, Any]:
    """Lambda entry point for the stream: audit every record, deactivate on revoke."""
    failures: list[dict[str, str]] = []
    records = event.get("Records") if isinstance(event, dict) else None
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict):
            continue
        line = audit_record(record)
        target = revocation_target(record)
        if target is not None:
            outcome = _deactivate(iot or _iot(), target)
            line["revocation"] = {"certificateId": target, "outcome": outcome}
            sequence = line.get("sequence")
            if outcome.startswith("failed") and isinstance(sequence, str):
                failures.append({"itemIdentifier": sequence})
        print(json.dumps(line, sort_keys=True, default=str), flush=True)
    return {"batchItemFailures": failures}
