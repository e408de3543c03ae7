"""The allow-list item: how one unit looks in the DynamoDB table the hook reads.

This module is the station's only owner of that format: the table's key and index
names, the attribute names, the rules a serial, a batch and a product must follow for
the hook to accept them, the one encoder (an ``UpdateItem`` request), the one decoder
(a table item, in DynamoDB's wire format or as plain values, back to an
:class:`AllowlistItem`), the canonical bytes a station signs, table creation and the
batch query. ``cloud/hook.py`` keeps its own copy of the rules because it runs alone in
AWS Lambda; ``tests/contracts/test_allowlist_contract.py`` keeps the two copies equal.

The station owns (and signs) :data:`SIGNED_ATTRIBUTES`; the hook owns
:data:`HOOK_ATTRIBUTES`, which the station never writes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from station.errors import StationError

__all__ = [
    "BATCH_INDEX",
    "BATCH_RULE",
    "CANONICAL_PREFIX",
    "DEVICE_KEY_INDEX",
    "HOOK_ATTRIBUTES",
    "PRODUCT_RULE",
    "SERIAL_RULE",
    "SIGNATURE_ATTRIBUTES",
    "SIGNED_ATTRIBUTES",
    "STATIONS_KEY",
    "TABLE_KEY",
    "AllowlistItem",
    "ItemRuleError",
    "check_batch",
    "check_product",
    "check_serial",
    "create_allowlist_table",
    "create_stations_table",
    "decode_item",
    "key_id_of",
    "query_batch",
]

TABLE_KEY = "serial"
BATCH_INDEX = "batch-index"
DEVICE_KEY_INDEX = "device-key-index"
STATIONS_KEY = "key_id"
"""Partition key of the station registry table (the SHA-256 of a station's public key)."""

SIGNED_ATTRIBUTES = (
    "serial",
    "status",
    "batch",
    "product",
    "station_id",
    "device_key_sha256",
    "claim_cert_sha256",
    "factory_at",
    "rev",
)
"""What a station writes and signs (``rev`` is a number, the rest strings)."""

SIGNATURE_ATTRIBUTES = ("row_sig", "signer_key_id")
"""The station's signature over :meth:`AllowlistItem.canonical_bytes` and its key's id."""

HOOK_ATTRIBUTES = ("provisioned_at", "certificate_id", "thing_name")
"""What the pre-provisioning hook writes; the station never names them in a write."""

STATUSES = ("allowed", "revoked")
CANONICAL_PREFIX = b"station-row/1\n"

# The hook's rules (cloud/hook.py), narrowed where the station is stricter: a serial is
# also a thing name and the board protocol allows at most 64 characters; a batch and a
# product become thing attributes and the batch is the index key.
SERIAL_RULE = re.compile(r"[A-Za-z0-9:_-]{1,64}")
BATCH_RULE = re.compile(r"[A-Za-z0-9_.,@/:#=\[\]-]{1,128}")
PRODUCT_RULE = BATCH_RULE
RESERVED_CLIENT_PREFIX = "provision-"
"""MQTT client ids of the claim certificate (the claim policy allows only these)."""
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ALLOWED_BATCH_CHARS = "letters, digits and _ . , @ / : # = [ ] -"

MAX_ITEM_BYTES = 400 * 1024
HOOK_RESERVE_BYTES = 2 * 1024


class ItemRuleError(StationError):
    """A serial, batch or product the cloud would refuse."""

    code = "ITEM_INVALID"


def key_id_of(public_der: bytes) -> str:
    """A station key's id (``signer_key_id``, the registry's key): the hex SHA-256 of its
    DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_der).hexdigest()


def _check(value: object, rule: re.Pattern[str], *, what: str, code: str, hint: str) -> str:
    if isinstance(value, str) and rule.fullmatch(value):
        return value
    shown = value if isinstance(value, str) else type(value).__name__
    raise ItemRuleError(f"{what} {shown!r} would be refused by the cloud", code=code, hint=hint)


def check_serial(serial: object) -> str:
    """Return ``serial`` if the hook would accept it, else raise ``SERIAL_INVALID``.

    A serial becomes the thing name and the device's MQTT client id; client ids that begin
    with :data:`RESERVED_CLIENT_PREFIX` belong to the claim certificate, so no serial may."""
    hint = ("A serial is 1 to 64 letters, digits, ':', '_' or '-', not starting with "
            f"'{RESERVED_CLIENT_PREFIX}'. Set the board aside for engineering: its serial cannot "
            "be provisioned in AWS IoT.")
    checked = _check(serial, SERIAL_RULE, what="serial", code="SERIAL_INVALID", hint=hint)
    if checked.lower().startswith(RESERVED_CLIENT_PREFIX):
        raise ItemRuleError(f"serial {checked!r} begins with the reserved {RESERVED_CLIENT_PREFIX!r}",
                            code="SERIAL_INVALID", hint=hint)
    return checked


def check_batch(batch: object) -> str:
    """Return ``batch`` if the hook would accept it, else raise ``BATCH_INVALID``."""
    return _check(
        batch, BATCH_RULE, what="batch", code="BATCH_INVALID",
        hint=f"Name the batch with 1 to 128 of: {_ALLOWED_BATCH_CHARS} (no spaces).",
    )


def check_product(product: object) -> str:
    """Return ``product`` if the hook would accept it, else raise ``PRODUCT_INVALID``."""
    return _check(
        product, PRODUCT_RULE, what="product", code="PRODUCT_INVALID",
        hint=f"Name the product with 1 to 128 of: {_ALLOWED_BATCH_CHARS} (no spaces).",
    )


@dataclass(frozen=True)
class AllowlistItem:
    """One item of the table, with plain Python values."""

    serial: str
    status: str
    batch: str
    product: str
    station_id: str
    device_key_sha256: str
    claim_cert_sha256: str
    factory_at: str
    rev: int
    row_sig: str | None = None
    signer_key_id: str | None = None
    provisioned_at: str | None = None
    certificate_id: str | None = None
    thing_name: str | None = None

    @classmethod
    def from_unit(cls, unit: Any) -> AllowlistItem:
        """The item a :class:`records.Unit` becomes (``factory_at`` is its last PASS)."""
        return cls(
            serial=unit.serial, status=unit.status, batch=unit.batch, product=unit.product,
            station_id=unit.station_id, device_key_sha256=unit.device_key_sha256,
            claim_cert_sha256=unit.claim_cert_sha256, factory_at=unit.last_pass_at,
            rev=unit.rev,
        )

    def canonical_bytes(self) -> bytes:
        """The bytes a station signs: a fixed prefix and the signed attributes as compact
        JSON with sorted keys and ASCII escapes (``rev`` as a number)."""
        body = {name: getattr(self, name) for name in SIGNED_ATTRIBUTES}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return CANONICAL_PREFIX + text.encode("ascii")

    def signed(self, row_sig: str, signer_key_id: str) -> AllowlistItem:
        return replace(self, row_sig=row_sig, signer_key_id=signer_key_id)

    def same_content(self, other: AllowlistItem) -> bool:
        """Equal in everything the station writes except ``rev`` and the signature."""
        return all(
            getattr(self, name) == getattr(other, name)
            for name in SIGNED_ATTRIBUTES if name != "rev"
        )

    def problem(self) -> str | None:
        """Why this item cannot be written (DynamoDB's limits, the hook's rules), or None."""
        for name in SIGNED_ATTRIBUTES[:-1]:
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                return f"{name} is empty"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{name} is not valid UTF-8 text"
        for check in (check_serial, check_batch, check_product):
            try:
                check(getattr(self, check.__name__.removeprefix("check_")))
            except ItemRuleError as exc:
                return exc.message
        if self.status not in STATUSES:
            return f"status {self.status!r} is neither allowed nor revoked"
        for name in ("device_key_sha256", "claim_cert_sha256"):
            if not _SHA256_HEX.fullmatch(getattr(self, name)):
                return f"{name} is not a lowercase hex SHA-256"
        if isinstance(self.rev, bool) or not isinstance(self.rev, int) or self.rev < 1:
            return f"rev {self.rev!r} is not a positive whole number"
        size = len(self.canonical_bytes()) + len(self.row_sig or "") + 200
        if size > MAX_ITEM_BYTES - HOOK_RESERVE_BYTES:
            return f"the item would be {size} bytes; DynamoDB's limit is {MAX_ITEM_BYTES}"
        return None

    def update_request(self, table: str, condition: str, *, native: bool = False) -> dict[str, Any]:
        """The ``UpdateItem`` arguments that write this item's station attributes (and its
        signature, when signed) under ``condition``, which may use ``#station_id``,
        ``#rev``, ``#status``, ``#serial`` and ``:station_id``, ``:rev``, ``:status``.

        ``native`` gives plain values, as a boto3 resource's table expects."""
        names = {f"#{name}": name for name in SIGNED_ATTRIBUTES}
        values: dict[str, Any] = {f":{name}": _wire(getattr(self, name)) for name in SIGNED_ATTRIBUTES}
        sets = [f"#{name} = :{name}" for name in SIGNED_ATTRIBUTES if name != "serial"]
        for name in SIGNATURE_ATTRIBUTES:
            value = getattr(self, name)
            if value is not None:
                names[f"#{name}"] = name
                values[f":{name}"] = _wire(value)
                sets.append(f"#{name} = :{name}")
        values.pop(":serial")
        if "#serial" not in condition:
            names.pop("#serial")
        if native:
            values = {key: _plain(value) for key, value in values.items()}
        return {
            "TableName": table,
            "Key": {TABLE_KEY: self.serial if native else {"S": self.serial}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }


def _wire(value: str | int) -> dict[str, str]:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"N": str(value)}
    return {"S": str(value)}


def _plain(value: Any) -> Any:
    """One attribute value, wire format (``{"S": ..}``, ``{"N": ..}``) or plain, as str/int."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            return None
        ((kind, raw),) = value.items()
        if kind == "S" and isinstance(raw, str):
            return raw
        if kind == "N" and isinstance(raw, str):
            return _number(raw)
        return None
    if isinstance(value, Decimal | str):
        return _number(value) if isinstance(value, Decimal) else value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _number(raw: str | Decimal) -> int | None:
    try:
        number = Decimal(raw)
    except ArithmeticError:
        return None
    if number != number.to_integral_value():
        return None
    return int(number)


def decode_item(item: Mapping[str, Any] | None) -> AllowlistItem | None:
    """An item read from the table as an :class:`AllowlistItem`; None when it is missing or
    is not an item of the contract (a missing key attribute, a wrong type)."""
    if not item:
        return None
    values = {name: _plain(item.get(name)) for name in AllowlistItem.__dataclass_fields__}
    for name in SIGNED_ATTRIBUTES:
        expected = int if name == "rev" else str
        if not isinstance(values[name], expected):
            return None
    for name in SIGNATURE_ATTRIBUTES + HOOK_ATTRIBUTES:
        if not isinstance(values[name], str):
            values[name] = None
    return AllowlistItem(**values)


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Every attribute of a table item as a plain value (for showing a raw item)."""
    return {name: _plain(value) for name, value in item.items()}


# -- the tables -----------------------------------------------------------------------------


def _key_schema(name: str) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": "HASH"}]


ALLOWLIST_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": TABLE_KEY, "AttributeType": "S"},
        {"AttributeName": "batch", "AttributeType": "S"},
        {"AttributeName": "device_key_sha256", "AttributeType": "S"},
    ],
    "KeySchema": _key_schema(TABLE_KEY),
    "GlobalSecondaryIndexes": [
        {"IndexName": BATCH_INDEX, "KeySchema": _key_schema("batch"),
         "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": DEVICE_KEY_INDEX, "KeySchema": _key_schema("device_key_sha256"),
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
"""The allow-list table of the contract (cloud/template.yaml creates the same)."""

STATIONS_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": STATIONS_KEY, "AttributeType": "S"}],
    "KeySchema": _key_schema(STATIONS_KEY),
    "BillingMode": "PAY_PER_REQUEST",
}
"""The registry of station signing keys, written only by an administrator."""


def _schema_problems(table: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    problems = []
    key = [dict(k) for k in table.get("KeySchema", [])]
    if key != schema["KeySchema"]:
        problems.append(f"key schema is {key}, expected {schema['KeySchema']}")
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", []) or []}
    for wanted in schema.get("GlobalSecondaryIndexes", []):
        index = indexes.get(wanted["IndexName"])
        if index is None:
            problems.append(f"global secondary index {wanted['IndexName']!r} is missing")
        elif [dict(k) for k in index.get("KeySchema", [])] != wanted["KeySchema"]:
            problems.append(f"index {wanted['IndexName']!r} has another key")
    return problems


def _ready(table: Mapping[str, Any]) -> bool:
    indexes = table.get("GlobalSecondaryIndexes", []) or []
    return table.get("TableStatus") == "ACTIVE" and all(
        i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
    )


def _error_code(exc: BaseException) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "") or "")


def _create_table(client: Any, name: str, schema: Mapping[str, Any], timeout: float) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = getattr(getattr(client, "meta", None), "client", client)
    try:
        try:
            client.create_table(TableName=name, **schema)
        except ClientError as exc:
            if _error_code(exc) != "ResourceInUseException":
                raise
        deadline = time.monotonic() + timeout
        while True:
            table = client.describe_table(TableName=name)["Table"]
            problems = _schema_problems(table, schema)
            if problems:
                raise StationError(
                    f"DynamoDB table {name!r} exists with another schema: " + "; ".join(problems),
                    code="DYNAMO_TABLE_MISMATCH",
                    hint="Point the station at the table created by cloud/template.yaml, or "
                    "choose another table name.",
                )
            if _ready(table):
                return
            if time.monotonic() >= deadline:
                raise StationError(
                    f"DynamoDB table {name!r} did not become ACTIVE within {timeout:.0f} s",
                    code="DYNAMO_TABLE_NOT_READY",
                    hint="Check the table in the AWS console and try again.",
                )
            time.sleep(0.2)
    except (ClientError, BotoCoreError) as exc:
        raise StationError(
            f"could not create or check DynamoDB table {name!r}: {exc}",
            code="DYNAMO_UNAVAILABLE",
            hint="Check the DynamoDB endpoint, region and credentials.",
        ) from exc


def create_allowlist_table(client: Any, name: str, *, timeout: float = 120.0) -> None:
    """Create the allow-list table (or check an existing one) and wait until it is ACTIVE.
    Another schema is ``DYNAMO_TABLE_MISMATCH`` and changes nothing."""
    _create_table(client, name, ALLOWLIST_SCHEMA, timeout)


def create_stations_table(client: Any, name: str, *, timeout: float = 120.0) -> None:
    """Create the station registry table (or check an existing one)."""
    _create_table(client, name, STATIONS_SCHEMA, timeout)


def query_batch(
    client: Any, table: str, batch: str, *, page_size: int | None = None
) -> Iterator[tuple[AllowlistItem | None, Mapping[str, Any]]]:
    """Every item of ``batch`` from the batch index, page by page, each as
    ``(decoded item or None, raw item)``. botocore errors propagate to the caller."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": BATCH_INDEX,
        "KeyConditionExpression": "#batch = :batch",
        "ExpressionAttributeNames": {"#batch": "batch"},
        "ExpressionAttributeValues": {":batch": {"S": batch}},
    }
    if page_size:
        request["Limit"] = int(page_size)
    while True:
        page = client.query(**request)
        for raw in page.get("Items", []):
            yield decode_item(raw), raw
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def serials_holding_key(client: Any, table: str, device_key_sha256: str) -> set[str]:
    """Serials whose item carries ``device_key_sha256`` (the key index; eventually consistent)."""
    page = client.query(
        TableName=table,
        IndexName=DEVICE_KEY_INDEX,
        KeyConditionExpression="#key = :key",
        ExpressionAttributeNames={"#key": "device_key_sha256"},
        ExpressionAttributeValues={":key": {"S": device_key_sha256}},
    )
    found = {_plain(item.get(TABLE_KEY)) for item in page.get("Items", [])}
    return {serial for serial in found if isinstance(serial, str)}
