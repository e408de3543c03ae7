"""Signed allow-list rows and the station registry, for the cloud tests.

Signs a row the way a station does (docs/cloud.md, "Signed rows"), with ``cryptography``
and independently of ``cloud/``: ``station-row/1\\n`` + compact sorted JSON of the nine
station attributes, ECDSA P-256 SHA-256, DER, base64.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SIGNED = (
    "serial", "status", "batch", "product", "station_id",
    "device_key_sha256", "claim_cert_sha256", "factory_at", "rev",
)
CLAIM_CERT = "c" * 64  # the claimCertificateId of the test events


def canonical(values: dict[str, Any]) -> bytes:
    body = {name: values[name] for name in SIGNED}
    body["rev"] = int(body["rev"])
    return b"station-row/1\n" + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


@dataclass
class StationKey:
    """A station's signing key pair (what `station key create` makes)."""

    station_id: str
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False)

    @property
    def public_der(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public_der).hexdigest()

    def sign(self, values: dict[str, Any]) -> dict[str, str]:
        """``row_sig`` and ``signer_key_id`` for a row's station attributes."""
        signature = self.key.sign(canonical(values), ec.ECDSA(hashes.SHA256()))
        return {"row_sig": base64.b64encode(signature).decode("ascii"), "signer_key_id": self.key_id}

    def register(self, ddb: Any, stations_table: str, *, status: str = "active") -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        item = {
            "key_id": {"S": self.key_id},
            "station_id": {"S": self.station_id},
            "public_key": {"S": base64.b64encode(self.public_der).decode("ascii")},
            "status": {"S": status},
            "registered_at": {"S": now},
        }
        if status == "retired":
            item["retired_at"] = {"S": now}
        ddb.put_item(TableName=stations_table, Item=item)


def row_item(values: dict[str, Any], signer: StationKey | None, **extra: str) -> dict[str, Any]:
    """A DynamoDB item for ``values`` (station attributes), signed by ``signer`` if given."""
    item: dict[str, Any] = {
        name: ({"N": str(values[name])} if name == "rev" else {"S": values[name]})
        for name in SIGNED
    }
    if signer is not None:
        item.update({k: {"S": v} for k, v in signer.sign(values).items()})
    item.update({k: {"S": v} for k, v in extra.items()})
    return item


def pop_signature(key: Any, serial: str, certificate_id: str) -> str:
    """The device's proof of possession, as ``DeviceSignature`` (base64)."""
    message = b"device-pop/1\n" + serial.encode("ascii") + b"\n" + certificate_id.lower().encode("ascii")
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        signature = key.sign(message, ec.ECDSA(digest))
    return base64.b64encode(signature).decode("ascii")


def unit_values(serial: str, key_sha256: str, *, status: str = "allowed",
                batch: str = "B-2024-001", station_id: str = "line1-st3",
                claim_cert: str = CLAIM_CERT, rev: int = 1) -> dict[str, Any]:
    return {
        "serial": serial,
        "status": status,
        "batch": batch,
        "product": "sensor-v2",
        "station_id": station_id,
        "device_key_sha256": key_sha256,
        "claim_cert_sha256": claim_cert,
        "factory_at": "2024-05-01T10:00:00Z",
        "rev": rev,
    }


def make_event(
    serial: Any,
    cert: Any,
    *,
    shape: str = "parameters",
    serial_parameter: str = "SerialNumber",
    pop: bool = True,
    claim_cert: str = CLAIM_CERT,
) -> dict[str, Any]:
    """An AWS IoT pre-provisioning hook event, in either documented shape, with the
    device's proof of possession (``DeviceSignature``) unless ``pop`` is false."""
    params: dict[str, Any] = {serial_parameter: serial}
    if pop and cert is not None and cert.key is not None and isinstance(serial, str):
        params["DeviceSignature"] = pop_signature(cert.key, serial, cert.certificate_id)
    event: dict[str, Any] = {
        "certificateId": cert.certificate_id if cert else "0" * 64,
        "certificatePem": cert.pem if cert else "",
        "templateArn": "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/StationFleet",
    }
    if shape == "parameters":
        event.update(
            claimCertificateId=claim_cert,
            clientId="221a6d10-9c7f-42f1-9153-e52e6fc869c1",
            parameters=params,
        )
    elif shape == "incomingParameters":
        event.update(
            claimId=claim_cert,
            mqttClientId="221a6d10-9c7f-42f1-9153-e52e6fc869c1",
            incomingParameters=params,
        )
    else:
        raise ValueError(shape)
    return event
