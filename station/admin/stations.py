"""The registry of station signing keys: the cloud administrator registers a station's
public key, and retires it when the station is stolen, scrapped or re-keyed.

The hook allows a row only when it is signed by a key whose registry entry is
``active`` and names the row's ``station_id``. Only an administrator's identity may
write this table (the station's own IAM policy cannot), so a stolen line PC cannot
register a key of its own.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from station.allowlist_item import STATIONS_KEY, key_id_of
from station.errors import StationError

__all__ = ["RegisteredStation", "list_stations", "public_der_from_pem", "register_station",
           "retire_station"]


@dataclass(frozen=True)
class RegisteredStation:
    key_id: str
    station_id: str
    status: str
    registered_at: str
    retired_at: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def public_der_from_pem(pem: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a PEM public key (what `station key show` prints)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise StationError("the file holds no PEM public key", code="STATION_KEY_INVALID",
                           hint="Give the file `station key show --pem` wrote on the station.") from None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _error_code(exc: BaseException) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "") or "")


def register_station(client: Any, table: str, station_id: str, public_der: bytes) -> RegisteredStation:
    """Register ``public_der`` as the active key of ``station_id``. A key that is already
    registered (active or retired) is refused: a retired key never comes back."""
    entry = RegisteredStation(key_id_of(public_der), station_id, "active", _now())
    try:
        client.put_item(
            TableName=table,
            Item={
                STATIONS_KEY: {"S": entry.key_id},
                "station_id": {"S": station_id},
                "public_key": {"S": base64.b64encode(public_der).decode("ascii")},
                "status": {"S": "active"},
                "registered_at": {"S": entry.registered_at},
            },
            ConditionExpression="attribute_not_exists(#key)",
            ExpressionAttributeNames={"#key": STATIONS_KEY},
        )
    except Exception as exc:
        if _error_code(exc) == "ConditionalCheckFailedException":
            raise StationError(
                f"station key {entry.key_id[:16]}… is already registered", code="STATION_KEY_EXISTS",
                hint="A key is registered once; a retired key cannot be registered again. "
                "Create a new key on the station (`station key create`).",
            ) from None
        raise
    return entry


def retire_station(client: Any, table: str, key_id: str) -> None:
    """Retire a station key: every row it signed is refused by the hook from now on."""
    try:
        client.update_item(
            TableName=table,
            Key={STATIONS_KEY: {"S": key_id}},
            UpdateExpression="SET #status = :retired, retired_at = :at",
            ConditionExpression="attribute_exists(#key)",
            ExpressionAttributeNames={"#status": "status", "#key": STATIONS_KEY},
            ExpressionAttributeValues={":retired": {"S": "retired"}, ":at": {"S": _now()}},
        )
    except Exception as exc:
        if _error_code(exc) == "ConditionalCheckFailedException":
            raise StationError(f"no station key {key_id} is registered", code="STATION_KEY_UNKNOWN",
                               hint="`station cloud stations` lists the registered keys.") from None
        raise


def list_stations(client: Any, table: str) -> list[RegisteredStation]:
    """Every registered key, active and retired."""
    found: list[RegisteredStation] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            text = {name: value.get("S") for name, value in item.items() if isinstance(value, dict)}
            found.append(RegisteredStation(
                key_id=text.get(STATIONS_KEY) or "", station_id=text.get("station_id") or "",
                status=text.get("status") or "", registered_at=text.get("registered_at") or "",
                retired_at=text.get("retired_at"),
            ))
        if not page.get("LastEvaluatedKey"):
            return sorted(found, key=lambda s: (s.station_id, s.registered_at))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
