"""The adversarial-input campaign for the pre-provisioning hook (issue 9, part 4).

Used by ``tests/campaign_cloud/test_cloudcampaign_hook.py`` (short and long runs) and,
imported by path, by ``bench/campaign_hook.py`` (prints the figures).

The real ``cloud.hook.handler`` is called with thousands of generated events against a
real table on the DynamoDB-compatible loopback server, holding a known set of items:
allowed boards (with the SHA-256 of their key), revoked ones, ones claimed already, one
with a status that is neither, items the hook must refuse to use (fingerprint not lowercase
hex, a batch that is no valid thing attribute), a 128-character serial. Boards are made
as needed (a key pair, a certificate from a local CA standing in for
CreateCertificateFromCsr, an item), so allows keep coming.

**The oracle** decides every event independently of the hook's code: allow iff the
event is well formed (the checks of docs/cloud.md, restated here), the device's proof of
possession verifies (with ``cryptography``; unless ``REQUIRE_DEVICE_SIGNATURE`` is off),
the serial's item exists, its status is ``allowed``, the item is usable, the SHA-256 of
the certificate's SubjectPublicKeyInfo equals ``device_key_sha256``, the claim
certificate is the row's, and it is not claimed yet (or claimed by this very
certificate, or ``ALLOW_REPROVISION`` lets the same key claim again) and no other serial
holds the key. Every row is signed by a registered station key, as stations do. The PEM text is read by
RFC 7468's rules (the first ``CERTIFICATE`` block, ASCII, whitespace SP HT CR LF VT FF,
strict base64) and the DER by ``cryptography`` (``load_der_x509_certificate``, then the
public key re-encoded as SubjectPublicKeyInfo), not by the hook's DER walker. It keeps its
own picture of the table (which serials are claimed, by which certificate) and, at the
end, the table must match it.

Every call is also checked for what must always hold: the handler returns (never raises)
a **fresh** dict with exactly ``allowProvisioning`` (a bool) and ``parameterOverrides``
(``ThingName`` and ``Batch`` on allow, empty on deny; the driver then scribbles on it to
prove the next answer is new); it prints exactly one JSON line whose decision matches,
never the PEM and never a huge field; it does not change the event.

Events come from hand-written generators (categories below; warm-container sequences
allow → unknown → allow another → replay) and from Hypothesis strategies (a valid event
of some kind, then up to three mutations: a field removed or replaced by any JSON-like
value, huge strings, unicode and control characters, other boards' PEMs). Both run under
changing hook configurations: default, ``ALLOW_REPROVISION``, ``THING_NAME_PREFIX``,
``SERIAL_PARAMETER``, an invalid prefix and no ``TABLE_NAME`` (every event denied).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

SEED_ENV = "HOOK_CAMPAIGN_SEED"
MAX_FIELD = 64 * 1024
SERIAL_ALPHABET = frozenset(string.ascii_letters + string.digits + ":_-")
HEX = frozenset("0123456789abcdefABCDEF")
LOWER_HEX = frozenset("0123456789abcdef")
BATCH_ALPHABET = frozenset(string.ascii_letters + string.digits + "_.,@/:#=[]-")
PEM_WHITESPACE = frozenset(" \t\r\n\x0b\x0c")  # RFC 7468 "W"
BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
TEMPLATE_ARN = "arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/StationFleet"
CLAIM_CERT = "c" * 64
ALLOW_REASONS = ("PROVISIONED", "REPROVISIONED", "SAME_CERTIFICATE")
SANE_ID = re.compile(r"[\x21-\x7e]{1,128}")
B64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]+={0,2}")

MALFORMED = "MALFORMED"
MALFORMED_REASONS = frozenset({
    "EVENT_NOT_OBJECT", "PARAMETERS_MISSING", "PARAMETERS_INVALID", "SERIAL_MISSING",
    "SERIAL_INVALID", "FIELD_TOO_LARGE", "CERT_ID_MISSING", "CERT_ID_INVALID",
    "CERT_PEM_MISSING", "CERT_PEM_INVALID", "CERT_PEM_CONFLICT", "THING_NAME_TOO_LONG",
})
# The table did not answer in time: a deny the contract asks for ("DynamoDB error or
# timeout"), which no oracle can foresee. Counted apart; any other DB_ERROR is wrong.
UNAVAILABLE_DETAILS = frozenset({
    "ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError",
    "ConnectionClosedError", "ConnectionError", "ProvisionedThroughputExceededException",
    "ThrottlingException", "RequestLimitExceeded", "InternalServerError",
})
DB_REASONS = frozenset({
    "PROVISIONED", "REPROVISIONED", "UNKNOWN_SERIAL", "REVOKED", "NOT_ALLOWED",
    "KEY_MISMATCH", "ALREADY_PROVISIONED", "ITEM_INVALID", "CLAIM_CONFLICT", "DB_ERROR",
    "DEADLINE", "SAME_CERTIFICATE", "CLAIM_CERT_MISSING", "CLAIM_CERT_MISMATCH",
    "DUPLICATE_DEVICE_KEY", "ROW_UNSIGNED", "ROW_SIGNATURE_INVALID", "STATION_UNKNOWN",
    "STATION_RETIRED", "STATION_MISMATCH", "STATION_KEY_INVALID",
})


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class HookEnv:
    """One configuration of the hook's Lambda environment."""

    name: str
    reprovision: bool = False
    prefix: str = ""
    serial_parameter: str = "SerialNumber"
    table: bool = True
    pop: bool = True  # REQUIRE_DEVICE_SIGNATURE

    def variables(self, table: str) -> dict[str, str | None]:
        return {
            "TABLE_NAME": table if self.table else None,
            "REQUIRE_DEVICE_SIGNATURE": None if self.pop else "false",
            "ALLOW_REPROVISION": "true" if self.reprovision else None,
            "THING_NAME_PREFIX": self.prefix or None,
            "SERIAL_PARAMETER": None if self.serial_parameter == "SerialNumber"
            else self.serial_parameter,
        }


ENVS = {
    "default": HookEnv("default"),
    "reprovision": HookEnv("reprovision", reprovision=True),
    "prefix": HookEnv("prefix", prefix="fleet-"),
    "serial-parameter": HookEnv("serial-parameter", serial_parameter="DeviceSerial"),
    "bad-prefix": HookEnv("bad-prefix", prefix="bad prefix!"),
    "no-table": HookEnv("no-table", table=False),
    "no-pop": HookEnv("no-pop", pop=False),
}
ENV_WEIGHTS = {"default": 50, "reprovision": 20, "prefix": 10, "serial-parameter": 12,
               "bad-prefix": 4, "no-table": 4, "no-pop": 8}


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def hook_phase(env: HookEnv, table: str) -> contextlib.AbstractContextManager[None]:
    """Set the phase's variables (the rest of the hook's environment is the caller's)."""
    return environment(env.variables(table))


# ----------------------------------------------------------------------------- PKI


def spki_sha256(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Cert:
    pem: str
    der: bytes
    certificate_id: str  # as AWS IoT names it: SHA-256 of the DER certificate
    key: Any = field(default=None, compare=False, repr=False)  # the device key it certifies


def pop_message(serial: str, certificate_id: str) -> bytes:
    return b"device-pop/1\n" + serial.encode("ascii") + b"\n" + certificate_id.lower().encode("ascii")


def device_signature(key: Any, serial: str, certificate_id: str) -> str:
    """The device's proof of possession (``DeviceSignature``); Ed25519 devices cannot make
    one the hook accepts, so they send a well-formed ECDSA-looking value."""
    message = pop_message(serial, certificate_id)
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        raw = key.sign(message, ec.ECDSA(digest))
    else:
        raw = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    return base64.b64encode(raw).decode("ascii")


class StationSigner:
    """A station's signing key, registered in the station registry: signs rows as
    stations do (docs/cloud.md, "Signed rows")."""

    FIELDS = ("serial", "status", "batch", "product", "station_id", "device_key_sha256",
              "claim_cert_sha256", "factory_at", "rev")

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = hashlib.sha256(self.public_der).hexdigest()

    def sign(self, item: dict[str, Any]) -> dict[str, Any]:
        body = {name: (int(item[name]["N"]) if name == "rev" else item[name]["S"])
                for name in self.FIELDS}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        signature = self.key.sign(b"station-row/1\n" + text.encode("ascii"),
                                  ec.ECDSA(hashes.SHA256()))
        return {**item, "row_sig": {"S": base64.b64encode(signature).decode("ascii")},
                "signer_key_id": {"S": self.key_id}}

    def register(self, client: Any, table: str) -> None:
        client.put_item(TableName=table, Item={
            "key_id": {"S": self.key_id}, "station_id": {"S": self.station_id},
            "public_key": {"S": base64.b64encode(self.public_der).decode("ascii")},
            "status": {"S": "active"}, "registered_at": {"S": "2026-01-01T00:00:00Z"},
        })


@dataclass
class Board:
    serial: str
    key: Any
    key_sha: str
    cert: Cert


class CampaignCA:
    """Stands in for AWS IoT's CreateCertificateFromCsr: signs device certificates."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campaign-ca")])
        self._rsa: list[Any] = [rsa.generate_private_key(public_exponent=65537, key_size=2048)
                                for _ in range(3)]

    def new_key(self) -> Any:
        roll = self.rng.random()
        if roll < 0.02 and self._rsa:
            return self._rsa.pop()
        if roll < 0.09:
            return ec.generate_private_key(ec.SECP384R1())
        if roll < 0.16:
            return ed25519.Ed25519PrivateKey.generate()
        return ec.generate_private_key(ec.SECP256R1())

    def issue(self, serial: str, key: Any) -> Cert:
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial[:64])]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        return Cert(cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), der,
                    hashlib.sha256(der).hexdigest(), key)


def pem_of(der: bytes, label: str = "CERTIFICATE") -> str:
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


# ----------------------------------------------------------------------------- the world


@dataclass
class ItemModel:
    """The oracle's picture of one item of the table."""

    status: str
    key_sha: str
    batch: str
    claimed: bool = False
    cert_id: str | None = None
    thing_name: str | None = None


class HookWorld:
    """The table's known items, and the boards behind them."""

    def __init__(self, client: Any, table: str, rng: random.Random) -> None:
        self.client = client
        self.table = table
        self.rng = rng
        self.signer = StationSigner("line1-st3")
        self.ca = CampaignCA(rng)
        self.items: dict[str, ItemModel] = {}
        self.boards: dict[str, Board] = {}
        self.fresh: list[str] = []  # allowed, unclaimed (as far as the oracle knows)
        self.by_status: dict[str, list[str]] = {"revoked": [], "claimed": [], "not_allowed": [],
                                                "item_invalid": [], "special": []}
        self._number = 0

    def serial(self, prefix: str = "HK") -> str:
        self._number += 1
        return f"{prefix}-{self._number:06d}"

    def board(self, serial: str | None = None) -> Board:
        serial = serial or self.serial()
        key = self.ca.new_key()
        return Board(serial, key, spki_sha256(key.public_key()), self.ca.issue(serial, key))

    def put(self, board: Board, *, status: str = "allowed", batch: str | None = None,
            key_sha: str | None = None, claimed: bool = False) -> ItemModel:
        batch = batch if batch is not None else self.rng.choice(("B-2026-01", "B-2026-02",
                                                                  "lot_7.a", "L1:W2#3"))
        model = ItemModel(status, key_sha or board.key_sha, batch)
        item = {
            "serial": {"S": board.serial}, "status": {"S": status}, "batch": {"S": batch},
            "product": {"S": "sensor-v2"}, "station_id": {"S": "line1-st3"},
            "device_key_sha256": {"S": model.key_sha}, "claim_cert_sha256": {"S": CLAIM_CERT},
            "factory_at": {"S": "2026-01-05T08:00:00.000Z"}, "rev": {"N": "1"},
        }
        if claimed:
            model.claimed, model.cert_id, model.thing_name = True, board.cert.certificate_id, \
                board.serial
            item.update(provisioned_at={"S": "2026-01-06T09:00:00.000Z"},
                        certificate_id={"S": model.cert_id}, thing_name={"S": board.serial})
        self.client.put_item(TableName=self.table, Item=self.signer.sign(item))
        self.items[board.serial] = model
        self.boards[board.serial] = board
        return model

    def populate(self) -> None:
        for _ in range(20):
            board = self.board()
            self.put(board)
            self.fresh.append(board.serial)
        for _ in range(8):
            board = self.board()
            self.put(board, status="revoked")
            self.by_status["revoked"].append(board.serial)
        for _ in range(8):
            board = self.board()
            self.put(board, claimed=True)
            self.by_status["claimed"].append(board.serial)
        for status in ("pending", "REVOKED", "allowed "):
            board = self.board()
            self.put(board, status=status)
            self.by_status["not_allowed"].append(board.serial)
        for kind in ("upper", "short", "batch-space", "batch-long", "batch-unicode"):
            board = self.board()
            key_sha = {"upper": board.key_sha.upper(), "short": board.key_sha[:63]}.get(kind)
            batch = {"batch-space": "B 1", "batch-long": "B" * 801,
                     "batch-unicode": "B-\u00e9"}.get(kind)
            self.put(board, key_sha=key_sha, batch=batch)
            self.by_status["item_invalid"].append(board.serial)
        for serial in ("X" * 128, "a:b_c-D:9", "0", "fleet_-:" + "9" * 120):
            board = self.board(serial)
            self.put(board)
            self.fresh.append(serial)
            self.by_status["special"].append(serial)

    def take_fresh(self) -> Board:
        """An allowed board that is not claimed yet (made if none is left)."""
        while self.fresh:
            serial = self.fresh.pop(self.rng.randrange(len(self.fresh)))
            model = self.items[serial]
            if model.status == "allowed" and not model.claimed:
                return self.boards[serial]
        board = self.board()
        self.put(board)
        return board

    def give_back(self, board: Board) -> None:
        model = self.items.get(board.serial)
        if model is not None and not model.claimed and board.serial not in self.fresh:
            self.fresh.append(board.serial)

    def pick(self, kind: str) -> Board:
        if kind == "fresh":
            return self.take_fresh()
        if kind == "claimed":
            claimed = [s for s, m in self.items.items() if m.claimed]
            return self.boards[self.rng.choice(claimed)]
        return self.boards[self.rng.choice(self.by_status[kind])]

    def resync(self, serial: str) -> None:
        """Take the item's claim as the table has it (after a timeout mid-claim)."""
        model = self.items.get(serial)
        if model is None:
            return
        raw = self.client.get_item(TableName=self.table, Key={"serial": {"S": serial}},
                                   ConsistentRead=True).get("Item") or {}
        item = {k: next(iter(v.values())) for k, v in raw.items()}
        model.claimed = "provisioned_at" in item
        model.cert_id = item.get("certificate_id")
        model.thing_name = item.get("thing_name")

    def read_table(self) -> dict[str, dict[str, str]]:
        items: dict[str, dict[str, str]] = {}
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            for raw in page["Items"]:
                item = {k: next(iter(v.values())) for k, v in raw.items()}
                items[item["serial"]] = item
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def table_problems(self) -> list[str]:
        """The table must be exactly the oracle's picture of it."""
        problems = []
        table = self.read_table()
        if set(table) != set(self.items):
            problems.append(f"serials differ: extra {sorted(set(table) - set(self.items))[:5]}, "
                            f"missing {sorted(set(self.items) - set(table))[:5]}")
        for serial, model in self.items.items():
            item = table.get(serial)
            if item is None:
                continue
            got = (item.get("status"), item.get("device_key_sha256"), item.get("batch"),
                   "provisioned_at" in item, item.get("certificate_id"), item.get("thing_name"))
            want = (model.status, model.key_sha, model.batch, model.claimed, model.cert_id,
                    model.thing_name)
            if got != want:
                problems.append(f"{serial}: table {got} != oracle {want}")
        return problems


# ----------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class Expected:
    allow: bool
    reason: str
    serial: str | None = None
    cert_id: str | None = None
    thing_name: str | None = None
    batch: str | None = None


def oracle_key_sha(pem: str) -> str | None:
    """SHA-256 of the SubjectPublicKeyInfo of the first CERTIFICATE block of ``pem``, or
    None when there is no well-formed certificate there. Text by RFC 7468; DER and key by
    ``cryptography``."""
    key = oracle_public_key(pem)
    return None if key is None else spki_sha256(key)


def oracle_public_key(pem: str) -> Any:
    """The public key of the first CERTIFICATE block of ``pem`` (or None), as above."""
    begin = pem.find(BEGIN)
    if begin < 0:
        return None
    start = begin + len(BEGIN)
    end = pem.find(END, start)
    if end < 0:
        return None
    body = pem[start:end]
    if not body.isascii():
        return None
    text = "".join(ch for ch in body if ch not in PEM_WHITESPACE)
    if not text or len(text) % 4:
        return None
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        return x509.load_der_x509_certificate(der).public_key()
    except Exception:  # noqa: BLE001 - anything cryptography refuses is not a certificate
        return None


def _is_serial(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128 and set(value) <= SERIAL_ALPHABET


def _is_cert_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX


def _usable_batch(batch: str) -> bool:
    return len(batch) <= 800 and set(batch) <= BATCH_ALPHABET


def _first_sane(event: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = event.get(name)
        if isinstance(value, str) and SANE_ID.fullmatch(value):
            return value
    return None


def oracle_possession(params: dict[str, Any], pem: str, serial: str, cert_id: str) -> str | None:
    """The deny reason of the device's proof of possession, or None when it verifies
    (``cryptography`` verifies; only P-256, P-384 and RSA 2048-8192 keys are accepted)."""
    raw = params.get("DeviceSignature")
    if raw is None or raw == "":
        return "DEVICE_SIGNATURE_MISSING"
    if not isinstance(raw, str) or len(raw) > 2048 or not B64_SIGNATURE.fullmatch(raw):
        return "DEVICE_SIGNATURE_INVALID"
    try:
        signature = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return "DEVICE_SIGNATURE_INVALID"
    key = oracle_public_key(pem)
    message = pop_message(serial, cert_id)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1",
                                                                             "secp384r1"):
            digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
            key.verify(signature, message, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey) and 2048 <= key.key_size <= 8192:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            return "DEVICE_KEY_UNSUPPORTED"
    except (InvalidSignature, ValueError):
        return "DEVICE_SIGNATURE_INVALID"
    return None


@dataclass(frozen=True)
class Parsed:
    serial: str
    cert_id: str
    key_sha: str
    claim_id: str | None
    thing_name: str


class Oracle:
    def __init__(self, world: HookWorld) -> None:
        self.world = world

    def parse(self, event: Any, env: HookEnv) -> Parsed | Expected:
        if not env.table:
            return Expected(False, "CONFIG_TABLE_NAME_MISSING")
        if not (len(env.prefix) <= 127 and set(env.prefix) <= SERIAL_ALPHABET):
            return Expected(False, "CONFIG_THING_NAME_PREFIX_INVALID")
        if not isinstance(event, dict):
            return Expected(False, MALFORMED)
        params = event.get("parameters")
        if params is None:
            params = event.get("incomingParameters")
        if not isinstance(params, dict):
            return Expected(False, MALFORMED)
        serial = params.get(env.serial_parameter)
        if not _is_serial(serial):
            return Expected(False, MALFORMED)
        cert_id = event.get("certificateId")
        if cert_id is None:
            cert_id = params.get("certificateId")
        if not _is_cert_id(cert_id):
            return Expected(False, MALFORMED)
        pem = event.get("certificatePem")
        if not isinstance(pem, str) or not pem or len(pem) > MAX_FIELD:
            return Expected(False, MALFORMED)
        claimed_pem = params.get("certificatePem")
        if claimed_pem is not None and claimed_pem != pem:
            return Expected(False, MALFORMED)
        key_sha = oracle_key_sha(pem)
        if key_sha is None:
            return Expected(False, MALFORMED)
        thing_name = env.prefix + serial
        if len(thing_name) > 128:
            return Expected(False, "THING_NAME_TOO_LONG")
        if thing_name.lower().startswith("provision-"):
            return Expected(False, "THING_NAME_RESERVED")
        if env.pop:
            problem = oracle_possession(params, pem, serial, cert_id)
            if problem:
                return Expected(False, problem, serial)
        claim_id = _first_sane(event, ("claimCertificateId", "claimId"))
        return Parsed(serial, cert_id.lower(), key_sha, claim_id and claim_id.lower(), thing_name)

    def decide(self, event: Any, env: HookEnv) -> Expected:
        parsed = self.parse(event, env)
        if isinstance(parsed, Expected):
            return parsed
        serial = parsed.serial
        model = self.world.items.get(serial)
        if model is None:
            return Expected(False, "UNKNOWN_SERIAL", serial)
        if model.status != "allowed":
            return Expected(False, "REVOKED" if model.status == "revoked" else "NOT_ALLOWED",
                            serial)
        if len(model.key_sha) != 64 or not set(model.key_sha) <= LOWER_HEX:
            return Expected(False, "ITEM_INVALID", serial)
        if model.key_sha != parsed.key_sha:
            return Expected(False, "KEY_MISMATCH", serial)
        if parsed.claim_id is None:
            return Expected(False, "CLAIM_CERT_MISSING", serial)
        if parsed.claim_id != CLAIM_CERT:
            return Expected(False, "CLAIM_CERT_MISMATCH", serial)
        if not _usable_batch(model.batch):
            return Expected(False, "ITEM_INVALID", serial)
        allow = Expected(True, "PROVISIONED", serial, parsed.cert_id, parsed.thing_name,
                         model.batch)
        if model.claimed:
            if model.cert_id == parsed.cert_id:
                return replace(allow, reason="SAME_CERTIFICATE")
            if not env.reprovision:
                return Expected(False, "ALREADY_PROVISIONED", serial)
            allow = replace(allow, reason="REPROVISIONED")
        if any(other != serial and m.key_sha == parsed.key_sha
               for other, m in self.world.items.items()):
            return Expected(False, "DUPLICATE_DEVICE_KEY", serial)
        return allow

    def commit(self, expected: Expected) -> None:
        if expected.allow and expected.serial is not None and expected.reason != "SAME_CERTIFICATE":
            model = self.world.items[expected.serial]
            model.claimed, model.cert_id = True, expected.cert_id
            model.thing_name = expected.thing_name


# ----------------------------------------------------------------------------- calling the hook


@dataclass
class Tally:
    events: int = 0
    allows: int = 0
    reasons: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    phases: Counter = field(default_factory=Counter)
    wrong: int = 0
    exceptions: int = 0
    broken: int = 0  # responses or log lines that break the handler's promises
    reason_mismatch: int = 0  # right decision, another reason than the oracle's
    unavailable: int = 0  # denied because the table did not answer in time (see above)
    problems: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    db_latencies_ms: list[float] = field(default_factory=list)
    hypothesis_events: int = 0

    @property
    def denies(self) -> int:
        return self.events - self.allows

    @staticmethod
    def percentile(values: list[float], fraction: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]

    def lines(self) -> list[str]:
        denies = sorted(((r, n) for r, n in self.reasons.items()
                         if r not in ALLOW_REASONS), key=lambda x: -x[1])
        allows = {r: n for r, n in self.reasons.items() if r in ALLOW_REASONS}
        p = self.percentile
        out = [
            f"events               {self.events} ({self.hypothesis_events} from Hypothesis, "
            f"{self.events - self.hypothesis_events} hand-written)",
            f"allows               {self.allows} ("
            + ", ".join(f"{r} {n}" for r, n in sorted(allows.items())) + ")",
            f"denies               {self.denies}",
        ]
        out += [f"  {reason:<26} {count}" for reason, count in denies]
        out += [
            f"wrong decisions      {self.wrong}",
            f"exceptions           {self.exceptions}",
            f"reason mismatches    {self.reason_mismatch} (right decision, other reason code)",
            f"table unavailable    {self.unavailable} (denied on a timeout of the loopback "
            "server: right by contract, not foreseeable)",
            f"broken answers/logs  {self.broken}",
            f"latency (all)        p50 {p(self.latencies_ms, 0.5):.2f} ms, "
            f"p99 {p(self.latencies_ms, 0.99):.2f} ms, max {max(self.latencies_ms or [0]):.1f} ms",
            f"latency (table)      p50 {p(self.db_latencies_ms, 0.5):.2f} ms, "
            f"p99 {p(self.db_latencies_ms, 0.99):.2f} ms ({len(self.db_latencies_ms)} events "
            "that read the table)",
            "phases               " + ", ".join(f"{k} {v}" for k, v in sorted(self.phases.items())),
            "categories           " + ", ".join(f"{k} {v}" for k, v in
                                                sorted(self.categories.items())),
        ]
        return out


def _describe(event: Any) -> str:
    def short(value: Any) -> Any:
        if isinstance(value, str) and len(value) > 80:
            return f"<str len {len(value)}: {value[:40]!r}...>"
        if isinstance(value, dict):
            return {k: short(v) for k, v in list(value.items())[:12]}
        if isinstance(value, list):
            return [short(v) for v in value[:6]]
        return value
    return repr(short(event))[:600]


class HookCampaign:
    """Calls the hook, judges each answer against the oracle, keeps the tally."""

    def __init__(self, hook: Any, world: HookWorld) -> None:
        self.hook = hook
        self.world = world
        self.oracle = Oracle(world)
        self.tally = Tally()
        self._last_response: Any = None

    def step(self, category: str, event: Any, env: HookEnv, *, from_hypothesis: bool = False
             ) -> list[str]:
        """One event: the oracle's decision, the hook's, every check. Returns the problems
        found (also kept in the tally)."""
        expected = self.oracle.decide(event, env)
        before = copy.deepcopy(event)
        out = io.StringIO()
        started = time.perf_counter()
        raised = None
        try:
            with contextlib.redirect_stdout(out):
                response = self.hook.handler(event, None)
        except BaseException as exc:  # noqa: BLE001 - counted: the handler must never raise
            raised, response = exc, None
        ms = (time.perf_counter() - started) * 1000.0
        tally = self.tally
        tally.events += 1
        tally.categories[category] += 1
        tally.phases[env.name] += 1
        tally.hypothesis_events += from_hypothesis
        tally.latencies_ms.append(ms)
        problems: list[str] = []
        where = f"[{env.name}/{category}] {_describe(event)}"
        if raised is not None:
            tally.exceptions += 1
            problems.append(f"{where}: the handler raised {raised!r}")
            tally.problems.extend(problems)
            return problems
        problems += self._check_response(response, expected)
        record = self._check_log(out.getvalue(), response, problems)
        reason = record.get("reason") if record else None
        tally.reasons[reason or "?"] += 1
        if reason in DB_REASONS:
            tally.db_latencies_ms.append(ms)
        allowed = isinstance(response, dict) and response.get("allowProvisioning") is True
        tally.allows += allowed
        if not allowed and expected.serial is not None and (
            reason == "DEADLINE"
            or (reason == "DB_ERROR" and (record or {}).get("detail") in UNAVAILABLE_DETAILS)
        ):
            # The table was too slow to answer: the deny is right; whether the claim was
            # written is only known by reading the item back.
            tally.unavailable += 1
            self.world.resync(expected.serial)
            tally.problems.extend(problems)
            self._last_response = response
            return problems
        if allowed != expected.allow:
            tally.wrong += 1
            problems.append(f"{where}: WRONG DECISION: hook {'allow' if allowed else 'deny'} "
                            f"({reason}), oracle {'allow' if expected.allow else 'deny'} "
                            f"({expected.reason})")
        elif reason is not None and not (
            reason == expected.reason
            or (expected.reason == MALFORMED and reason in MALFORMED_REASONS)
        ):
            tally.reason_mismatch += 1
            problems.append(f"{where}: reason {reason}, oracle {expected.reason}")
        if not (event is before or event == before):
            problems.append(f"{where}: the handler changed the event")
        broken_count = len([p for p in problems if "WRONG DECISION" not in p
                            and ": reason " not in p])
        if broken_count:
            tally.broken += 1
        self.oracle.commit(expected)
        if isinstance(response, dict):  # scribble on it: the next answer must be new
            response["allowProvisioning"] = "scribbled"
            overrides = response.get("parameterOverrides")
            if isinstance(overrides, dict):
                overrides["ThingName"] = "scribbled"
        self._last_response = response
        tally.problems.extend(problems)
        return problems

    def _check_response(self, response: Any, expected: Expected) -> list[str]:
        problems = []
        if not isinstance(response, dict) or set(response) != {"allowProvisioning",
                                                               "parameterOverrides"}:
            return [f"response is not the documented dict: {response!r}"]
        if response is self._last_response:
            problems.append("the same response object twice")
        allow = response["allowProvisioning"]
        overrides = response["parameterOverrides"]
        if not isinstance(allow, bool):
            problems.append(f"allowProvisioning is {type(allow).__name__}, not bool")
        if not isinstance(overrides, dict):
            return [*problems, f"parameterOverrides is {overrides!r}"]
        if allow is True and expected.allow:
            want = {"ThingName": expected.thing_name, "Batch": expected.batch}
            if overrides != want:
                problems.append(f"overrides {overrides} != {want}")
        elif allow is False and overrides != {}:
            problems.append(f"a deny with overrides {overrides}")
        return problems

    def _check_log(self, text: str, response: Any, problems: list[str]) -> dict[str, Any] | None:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) != 1:
            problems.append(f"{len(lines)} log lines, not 1")
            if not lines:
                return None
        line = lines[-1]
        if "BEGIN CERTIFICATE" in line or len(line) > 2000:
            problems.append(f"the log line leaks the PEM or a huge field ({len(line)} chars)")
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"the log line is not JSON: {line[:200]!r}")
            return None
        decision = "allow" if isinstance(response, dict) and response.get(
            "allowProvisioning") is True else "deny"
        if record.get("event") != "preprovision" or record.get("decision") != decision:
            problems.append(f"log says {record.get('decision')}, answer says {decision}")
        return record


# ----------------------------------------------------------------------------- hand-written events


def valid_event(board: Board, cert: Cert | None = None, *, shape: str = "parameters",
                serial_parameter: str = "SerialNumber", serial: Any = None) -> dict[str, Any]:
    cert = cert or board.cert
    params = {serial_parameter: board.serial if serial is None else serial}
    if isinstance(params[serial_parameter], str) and params[serial_parameter].isascii():
        params["DeviceSignature"] = device_signature(
            cert.key if cert.key is not None else board.key, params[serial_parameter],
            cert.certificate_id)
    event: dict[str, Any] = {"certificateId": cert.certificate_id, "certificatePem": cert.pem,
                             "templateArn": TEMPLATE_ARN}
    if shape == "parameters":
        event.update(claimCertificateId=CLAIM_CERT, clientId=f"client-{secrets.token_hex(4)}",
                     parameters=params)
    else:
        event.update(claimId=CLAIM_CERT, mqttClientId=f"client-{secrets.token_hex(4)}",
                     incomingParameters=params)
    return event


def params_of(event: dict[str, Any]) -> dict[str, Any]:
    return event["parameters"] if "parameters" in event else event["incomingParameters"]


WRONG_TYPES: tuple[Any, ...] = (
    0, 1, -7, 2**70, 1.5, float("nan"), float("inf"), True, False, None, [], ["x"], {},
    {"S": "SN-1"}, [None], b"bytes", ("tuple",), "",
)
UNICODE_SERIAL_TWISTS = (
    lambda s: s + "\n", lambda s: " " + s, lambda s: s.lower() if s.lower() != s else s + "é",
    lambda s: s.replace("-", "\u2010"), lambda s: s + "\u200b", lambda s: "\u202e" + s,
    lambda s: s[:-1] + "\uff10", lambda s: s.replace("H", "\u041d"), lambda s: s + "\x00",
    lambda s: s + "\t", lambda s: s + "\U0001f600", lambda s: s + "\ud800",
)


class HandGenerator:
    """Events by category, written by hand; lazy, because which boards are still fresh
    depends on what was allowed before."""

    CATEGORIES = {
        "valid": 14, "replay": 5, "same-key-new-cert": 4, "revoked": 4, "not-allowed": 2,
        "item-invalid": 3, "unknown-serial": 5, "other-key": 6, "missing-field": 8,
        "wrong-type": 9, "huge": 6, "unicode": 8, "bad-pem": 12, "two-certs": 3,
        "mixed-shape": 6, "serial-edge": 3, "warm-sequence": 2,
    }

    def __init__(self, world: HookWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.allowed_events: list[dict[str, Any]] = []
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HK-1")]))
               .sign(key, hashes.SHA256()))
        self.csr_der = csr.public_bytes(serialization.Encoding.DER)
        self.csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        self.key_pem = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
        self.pub_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.pub_pem = pem_of(self.pub_der, "PUBLIC KEY")
        self._huge_cache: dict[tuple[str, int], str] = {}

    # -- helpers ----------------------------------------------------------------------------

    def shape(self) -> str:
        return self.rng.choice(("parameters", "incomingParameters"))

    def huge(self, fill: str, size: int) -> str:
        key = (fill, size)
        if key not in self._huge_cache:
            self._huge_cache[key] = (fill * (size // len(fill) + 1))[:size]
        return self._huge_cache[key]

    def huge_size(self) -> int:
        return self.rng.choice((MAX_FIELD + 1, MAX_FIELD + 1 + self.rng.randrange(4096),
                                1 << 20, 8 << 20))

    def base(self, env: HookEnv, kind: str = "fresh") -> tuple[Board, dict[str, Any]]:
        board = self.world.pick(kind)
        return board, valid_event(board, shape=self.shape(),
                                  serial_parameter=env.serial_parameter)

    # -- the stream ---------------------------------------------------------------------------

    def events(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        """An endless stream of (category, event) for ``env``."""
        names = list(self.CATEGORIES)
        weights = list(self.CATEGORIES.values())
        while True:
            category = self.rng.choices(names, weights)[0]
            yield from getattr(self, "_" + category.replace("-", "_"))(env)

    def _valid(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        self.allowed_events.append(event)
        yield "valid", event
        self.world.give_back(board)

    def _replay(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        if self.allowed_events:
            yield "replay", self.rng.choice(self.allowed_events[-50:])
        else:
            _, event = self.base(env, "claimed")
            yield "replay", event

    def _same_key_new_cert(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board = self.world.pick("claimed")
        cert = self.world.ca.issue(board.serial, board.key)
        yield "same-key-new-cert", valid_event(board, cert, shape=self.shape(),
                                               serial_parameter=env.serial_parameter)

    def _revoked(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        yield "revoked", self.base(env, "revoked")[1]

    def _not_allowed(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        yield "not-allowed", self.base(env, "not_allowed")[1]

    def _item_invalid(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        yield "item-invalid", self.base(env, "item_invalid")[1]

    def _unknown_serial(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board = self.world.board(self.world.serial("NEVER"))
        yield "unknown-serial", valid_event(board, shape=self.shape(),
                                            serial_parameter=env.serial_parameter)

    def _other_key(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        kind = self.rng.choice(("fresh", "claimed", "revoked"))
        board = self.world.pick(kind)
        clone = self.world.board(board.serial)  # right serial, its own key pair
        yield "other-key", valid_event(board, clone.cert, shape=self.shape(),
                                       serial_parameter=env.serial_parameter)
        self.world.give_back(board)

    def _missing_field(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        params = params_of(event)
        choice = self.rng.randrange(7)
        if choice == 0:
            event.pop("parameters", None)
            event.pop("incomingParameters", None)
        elif choice == 1:
            params.pop(env.serial_parameter)
        elif choice == 2:
            event.pop("certificateId")
        elif choice == 3:
            event.pop("certificatePem")
        elif choice == 4:  # the template's default name when SERIAL_PARAMETER is another
            params["SerialNumber" if env.serial_parameter != "SerialNumber"
                   else "serialNumber"] = params.pop(env.serial_parameter)
        elif choice == 5:
            event = {}
        else:
            event = {k: v for k, v in event.items() if k in ("templateArn", "clientId")}
        yield "missing-field", event
        self.world.give_back(board)

    def _wrong_type(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        params = params_of(event)
        value = copy.deepcopy(self.rng.choice(WRONG_TYPES))
        target = self.rng.randrange(9)
        if target == 0:
            event = value
        elif target == 1:
            event["parameters" if "parameters" in event else "incomingParameters"] = value
        elif target == 2:
            params[env.serial_parameter] = value
        elif target == 3:
            event["certificateId"] = value
        elif target == 4:
            event["certificatePem"] = value
        elif target == 5:
            params["certificatePem"] = value
        elif target == 6:
            event["clientId" if "clientId" in event else "mqttClientId"] = value
        elif target == 7:
            event["templateArn"] = value
        else:  # the whole event as a list of its items, or wrapped
            event = self.rng.choice(([event], list(event.items()), json.dumps(event)))
        yield "wrong-type", event
        self.world.give_back(board)

    def _huge(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        params = params_of(event)
        size = self.huge_size()
        target = self.rng.randrange(9)
        if target == 0:
            params[env.serial_parameter] = self.huge("A", size)
        elif target == 1:
            event["certificateId"] = self.huge("ab", size)
        elif target == 2:  # the certificate followed by a long explanatory text
            event["certificatePem"] = event["certificatePem"] + self.huge("\n", size)
        elif target == 3:
            params["certificatePem"] = self.huge("-", size)
        elif target == 4:  # ignored fields: the decision must not change
            event["clientId" if "clientId" in event else "mqttClientId"] = self.huge("c", size)
        elif target == 5:
            event["templateArn"] = self.huge("arn", size)
        elif target == 6:
            params["Extra"] = self.huge("e", size)
        else:  # exactly at the limit (allowed) and one over (denied)
            pem = event["certificatePem"]
            pad = MAX_FIELD - len(pem) + (target == 8)
            event["certificatePem"] = pem + "#" * pad
        yield "huge", event
        self.world.give_back(board)

    def _unicode(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        params = params_of(event)
        pem = event["certificatePem"]
        lines = pem.splitlines(keepends=True)
        target = self.rng.randrange(12)
        if target == 0:
            params[env.serial_parameter] = self.rng.choice(UNICODE_SERIAL_TWISTS)(board.serial)
        elif target == 1:  # lookalike digits, a newline, or just upper case (allowed)
            cid = event["certificateId"]
            event["certificateId"] = self.rng.choice(
                (cid.upper(), cid[:-1] + "\uff10", cid + "\n", cid[:-1] + "g", " " + cid[1:]))
        elif target in (2, 3):  # non-ASCII or control characters inside the base64
            line = self.rng.randrange(1, len(lines) - 1)
            ch = self.rng.choice(("\u00a0", "\u2028", "\u3000", "\x1c", "\x1f", "\x00", "\x85",
                                  "\u200b", "é", "\x7f"))
            pos = self.rng.randrange(len(lines[line]))
            lines[line] = lines[line][:pos] + ch + lines[line][pos:]
            event["certificatePem"] = "".join(lines)
        elif target == 4:  # RFC 7468 whitespace inside the base64: still the certificate
            line = self.rng.randrange(1, len(lines) - 1)
            ch = self.rng.choice((" ", "\t", "\x0b", "\x0c", "\r"))
            pos = self.rng.randrange(len(lines[line]))
            lines[line] = lines[line][:pos] + ch + lines[line][pos:]
            event["certificatePem"] = "".join(lines)
        elif target == 5:  # text around the block: explanatory text is allowed
            event["certificatePem"] = self.rng.choice(("\ufeff", "Zertifikat für 🚀\n",
                                                       "\x00\x01", "subject=CN=x\n")) + pem + \
                self.rng.choice(("", "ende ✓", "\r\n\r\n", "\x00"))
        elif target == 6:
            event["certificatePem"] = pem.replace("\n", "\r\n")
        elif target == 7:
            event["clientId" if "clientId" in event else "mqttClientId"] = "ç\x00\u202e" * 9
        elif target == 8:
            params["Note"] = "\ud83d\ude00 \u0000 \uffff"
        elif target == 9:
            event["certificatePem"] = pem.replace("CERTIFICATE", "CERTIFICATE\u200b", 1)
        elif target == 10:
            event["certificatePem"] = pem.replace("-----BEGIN", "\u2013\u2013\u2013\u2013\u2013BEGIN")
        else:
            event[self.rng.choice(("ÜberFeld", "\x00", ""))] = "x"
        yield "unicode", event
        self.world.give_back(board)

    def _bad_pem(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board, event = self.base(env)
        pem, der = board.cert.pem, board.cert.der
        body_at = pem.index("\n") + 1
        target = self.rng.randrange(17)
        if target == 0:
            bad = pem[: self.rng.randrange(len(pem))]  # truncated anywhere
        elif target == 1:  # a character base64 does not have
            pos = self.rng.randrange(body_at, pem.index(END) - 1)
            bad = pem[:pos] + self.rng.choice("!*.@_~$%&") + pem[pos + 1:]
        elif target == 2:  # one character less / more
            pos = self.rng.randrange(body_at, pem.index(END) - 2)
            if pem[pos] == "\n":
                pos += 1
            bad = pem[:pos] + pem[pos + 1:] if self.rng.random() < 0.5 \
                else pem[:pos] + "A" + pem[pos:]
        elif target == 3:  # padding in the middle
            pos = self.rng.randrange(body_at, pem.index(END) - 10)
            bad = pem[:pos] + "==" + pem[pos + 2:]
        elif target == 4:
            bad = self.csr_pem
        elif target == 5:
            bad = self.key_pem
        elif target == 6:
            bad = self.pub_pem
        elif target == 7:
            bad = pem_of(self.csr_der)  # a CSR under a CERTIFICATE label
        elif target == 8:
            bad = pem_of(self.pub_der)
        elif target == 9:
            bad = pem_of(der[: self.rng.randrange(1, len(der))])
        elif target == 10:
            bad = pem_of(der + self.rng.choice((b"\x00", b"\x30\x00", b"junk")))
        elif target == 11:
            bad = pem_of(bytes([0x31]) + der[1:])
        elif target == 12:
            bad = pem_of(der[:2] + bytes([(der[2] + 1) % 256]) + der[3:])
        elif target == 13:
            bad = pem.replace(END, "-----END CERTIFICATE REQUEST-----")
        elif target == 14:
            bad = pem.replace(BEGIN, "-----BEGIN X509 CERTIFICATE-----")
        elif target == 15:
            bad = pem.lower()
        else:
            bad = BEGIN + "\n" + END + "\n"
        event["certificatePem"] = bad
        yield "bad-pem", event
        self.world.give_back(board)

    def _two_certs(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        """A chain: the first certificate is the one checked (docs/cloud.md, as the hook's
        tests state); a key pair before the certificate is explanatory text."""
        board, event = self.base(env)
        other = self.world.board(board.serial).cert.pem
        order = self.rng.randrange(4)
        event["certificatePem"] = (
            board.cert.pem + other, other + board.cert.pem,
            self.csr_pem + board.cert.pem, board.cert.pem + self.key_pem,
        )[order]
        yield "two-certs", event
        self.world.give_back(board)

    def _mixed_shape(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        board = self.world.take_fresh()
        other = self.world.pick(self.rng.choice(("revoked", "claimed")))
        sp = env.serial_parameter
        good = valid_event(board, shape="parameters", serial_parameter=sp)
        variant = self.rng.randrange(8)
        if variant == 0:  # both shapes: parameters is read
            good["incomingParameters"] = {sp: other.serial}
            event = good
        elif variant == 1:
            event = valid_event(other, shape="parameters", serial_parameter=sp)
            event["incomingParameters"] = {sp: board.serial}
            event.update(certificateId=board.cert.certificate_id,
                         certificatePem=board.cert.pem)
        elif variant == 2:  # parameters null: incomingParameters is read
            event = valid_event(board, shape="incomingParameters", serial_parameter=sp)
            event["parameters"] = None
        elif variant == 3:  # parameters of the wrong type: no fallback
            event = valid_event(board, shape="incomingParameters", serial_parameter=sp)
            event["parameters"] = self.rng.choice(([], "", 0, [{sp: board.serial}]))
        elif variant == 4:  # certificateId only inside the parameters (tolerated)
            event = good
            params_of(event)["certificateId"] = event.pop("certificateId")
        elif variant == 5:  # certificateId null at the top: the parameters' one
            event = good
            params_of(event)["certificateId"] = event["certificateId"]
            event["certificateId"] = None
        elif variant == 6:  # the device's own certificatePem copy: equal or not
            event = good
            params_of(event)["certificatePem"] = self.rng.choice(
                (event["certificatePem"], other.cert.pem, event["certificatePem"] + "\n"))
        else:  # both client id fields and both claim ids
            event = good
            event.update(mqttClientId=["x"], claimId=7, clientId=None)
        yield "mixed-shape", event
        self.world.give_back(board)

    def _serial_edge(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        specials = [s for s in self.world.by_status["special"]
                    if not self.world.items[s].claimed]
        variant = self.rng.randrange(4)
        if variant == 0 and specials:
            board = self.world.boards[self.rng.choice(specials)]
            yield "serial-edge", valid_event(board, shape=self.shape(),
                                             serial_parameter=env.serial_parameter)
            return
        board, event = self.base(env)
        params_of(event)[env.serial_parameter] = ("Y" * 129, "", "A" * 128, ":")[variant]
        yield "serial-edge", event
        self.world.give_back(board)

    def _warm_sequence(self, env: HookEnv) -> Iterator[tuple[str, Any]]:
        """One warm container: allow A, an unknown serial, allow B, A's request again."""
        a = self.world.take_fresh()
        first = valid_event(a, shape=self.shape(), serial_parameter=env.serial_parameter)
        yield "warm-sequence", first
        yield from self._unknown_serial(env)
        b = self.world.take_fresh()
        yield "warm-sequence", valid_event(b, shape=self.shape(),
                                           serial_parameter=env.serial_parameter)
        yield "warm-sequence", first
        self.world.give_back(a)
        self.world.give_back(b)


def run_hand_written(campaign: HookCampaign, count: int, rng: random.Random, table: str,
                     *, block: int = 40) -> None:
    """``count`` hand-written events, in blocks of ``block`` per hook configuration."""
    generator = HandGenerator(campaign.world, rng)
    names, weights = list(ENV_WEIGHTS), list(ENV_WEIGHTS.values())
    done = 0
    while done < count:
        env = ENVS[rng.choices(names, weights)[0]]
        stream = generator.events(env)
        with hook_phase(env, table):
            for _ in range(min(block, count - done)):
                category, event = next(stream)
                campaign.step(category, event, env)
                done += 1


# ----------------------------------------------------------------------------- Hypothesis


class Ref:
    """A value only known when the event is built (a PEM of some board, a serial...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Ref({self.name})"


DELETE = Ref("delete")
REFS = tuple(Ref(name) for name in (
    "other-pem", "own-pem", "own-pem-crlf", "csr-pem", "own-serial", "other-serial",
    "own-cert-id", "upper-cert-id", "huge-64k", "huge-1m", "pem-chain", "pem-truncated",
))
BASE_KINDS = ("fresh", "fresh", "fresh", "claimed", "revoked", "not_allowed", "item_invalid",
              "special", "unknown", "clone")
PATHS = (
    ("event",), ("params",), ("alt-params",), ("params", "serial"),
    ("params", "certificateId"), ("params", "certificatePem"), ("params", "Extra"),
    ("certificateId",), ("certificatePem",), ("clientId",), ("mqttClientId",),
    ("claimCertificateId",), ("templateArn",), ("Extra",),
)


def hypothesis_strategy() -> Any:
    """(env name, base kind, shape, mutations) drawn by Hypothesis."""
    from hypothesis import strategies as st

    text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(
        alphabet=st.sampled_from(sorted(SERIAL_ALPHABET) + ["\x00", "\n", "é", " "]),
        min_size=0, max_size=140)
    scalars = (st.none() | st.booleans() | st.integers() | st.floats() | text
               | st.sampled_from(REFS))
    values = st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(["SerialNumber", "DeviceSerial",
                                                                  "certificatePem"]),
                          children, max_size=4),
        max_leaves=8,
    )
    mutation = st.tuples(st.sampled_from(PATHS), st.just(DELETE) | values)
    weighted_envs = [name for name, weight in sorted(ENV_WEIGHTS.items())
                     for _ in range(max(1, weight // 2))]
    return st.tuples(
        st.sampled_from(weighted_envs),
        st.sampled_from(BASE_KINDS),
        st.sampled_from(("parameters", "incomingParameters")),
        st.lists(mutation, max_size=3),
    )


class HypothesisEvents:
    """Turns a drawn spec into a concrete event against the current world."""

    def __init__(self, world: HookWorld, generator: HandGenerator) -> None:
        self.world = world
        self.generator = generator

    def resolve(self, value: Any, board: Board, env: HookEnv) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, board, env) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, board, env) for k, v in value.items()}
        if not isinstance(value, Ref) or value is DELETE:
            return value
        other = self.world.boards[self.world.rng.choice(list(self.world.boards))]
        return {
            "other-pem": other.cert.pem,
            "own-pem": board.cert.pem,
            "own-pem-crlf": board.cert.pem.replace("\n", "\r\n"),
            "csr-pem": self.generator.csr_pem,
            "own-serial": board.serial,
            "other-serial": other.serial,
            "own-cert-id": board.cert.certificate_id,
            "upper-cert-id": board.cert.certificate_id.upper(),
            "huge-64k": self.generator.huge("A", MAX_FIELD + 1),
            "huge-1m": self.generator.huge("ab", 1 << 20),
            "pem-chain": board.cert.pem + other.cert.pem,
            "pem-truncated": board.cert.pem[:-40],
        }[value.name]

    def build(self, spec: tuple[str, str, str, list], env: HookEnv) -> tuple[Board, Any]:
        _, kind, shape, mutations = spec
        if kind == "unknown":
            board = self.world.board(self.world.serial("NEVER"))
        elif kind == "clone":
            target = self.world.pick(self.world.rng.choice(("fresh", "claimed")))
            clone = self.world.board(target.serial)
            board = Board(target.serial, clone.key, clone.key_sha, clone.cert)
            self.world.give_back(target)
        elif kind == "special":
            board = self.world.boards[self.world.rng.choice(self.world.by_status["special"])]
        else:
            board = self.world.pick(kind)
        event: Any = valid_event(board, shape=shape, serial_parameter=env.serial_parameter)
        params_key = shape
        alt_key = "incomingParameters" if shape == "parameters" else "parameters"
        for path, raw in mutations:
            value = self.resolve(raw, board, env)
            if path == ("event",):
                event = {} if value is DELETE else value
                continue
            if not isinstance(event, dict):
                continue
            if path[0] == "params" and len(path) == 2:
                container = event.get(params_key)
                if not isinstance(container, dict):
                    continue
                name = env.serial_parameter if path[1] == "serial" else path[1]
            elif path == ("params",):
                container, name = event, params_key
            elif path == ("alt-params",):
                container, name = event, alt_key
            else:
                container, name = event, path[0]
            if value is DELETE:
                container.pop(name, None)
            else:
                container[name] = value
        return board, event


def run_hypothesis(campaign: HookCampaign, examples: int, seed: int, table: str,
                   *, fail_fast: bool = True) -> None:
    """``examples`` events drawn by Hypothesis (seeded), each checked as it goes. With
    ``fail_fast`` a problem fails the example (Hypothesis then reports it); otherwise the
    tally only counts it (the bench)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    generator = HandGenerator(campaign.world, random.Random(seed))
    events = HypothesisEvents(campaign.world, generator)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=(Phase.generate, Phase.shrink) if fail_fast else (Phase.generate,),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example,
                                     HealthCheck.filter_too_much])
    @given(hypothesis_strategy())
    def one(spec: tuple[str, str, str, list]) -> None:
        env = ENVS[spec[0]]
        board, event = events.build(spec, env)
        with hook_phase(env, table):
            problems = campaign.step("hypothesis", event, env, from_hypothesis=True)
        campaign.world.give_back(board)
        if fail_fast:
            assert not problems, problems

    one()


# ----------------------------------------------------------------------------- a whole campaign


def campaign_seed(seed: int | None = None) -> int:
    if seed is not None:
        return seed
    text = os.environ.get(SEED_ENV, "").strip()
    return int(text) if text else secrets.randbelow(2**32)


@dataclass
class HookFigures:
    seed: int
    tally: Tally
    table_problems: list[str]
    seconds: float
    items: int

    def lines(self) -> list[str]:
        return [f"seed                 {self.seed}",
                *self.tally.lines(),
                f"table items          {self.items}; table matches the oracle: "
                f"{'yes' if not self.table_problems else 'NO'}",
                f"time                 {self.seconds:.1f} s"]


def run_campaign(endpoint_url: str, region: str, *, hand: int, hypothesis: int,
                 seed: int | None = None, fail_fast: bool = True,
                 log: Callable[[str], None] = print) -> HookFigures:
    """Make a table, fill it, run ``hand`` hand-written and ``hypothesis`` Hypothesis events
    through the real hook, compare the table with the oracle's picture, delete the table."""
    import uuid

    import boto3
    from botocore.config import Config

    from cloud import hook
    from station.allowlist_item import create_allowlist_table, create_stations_table

    seed = campaign_seed(seed)
    log(f"hook campaign: seed {seed} (repeat with {SEED_ENV}={seed}); "
        f"{hand} hand-written + {hypothesis} Hypothesis events")
    started = time.perf_counter()
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, region_name=region,
        config=Config(retries={"total_max_attempts": 5, "mode": "standard"}))
    table = f"hook-campaign-{uuid.uuid4().hex[:10]}"
    stations = f"{table}-stations"
    create_allowlist_table(client, table)
    create_stations_table(client, stations)
    rng = random.Random(seed)
    try:
        world = HookWorld(client, table, rng)
        world.signer.register(client, stations)
        world.populate()
        campaign = HookCampaign(hook, world)
        with lambda_environment(hook, TABLE_NAME=table, STATIONS_TABLE_NAME=stations,
                                AWS_ENDPOINT_URL_DYNAMODB=endpoint_url, AWS_DEFAULT_REGION=region,
                                AWS_REGION=region):
            if hand:
                run_hand_written(campaign, hand, rng, table)
            if hypothesis:
                run_hypothesis(campaign, hypothesis, seed, table, fail_fast=fail_fast)
        problems = world.table_problems()
        return HookFigures(seed, campaign.tally, problems, time.perf_counter() - started,
                           len(world.items))
    finally:
        client.delete_table(TableName=table)
        client.delete_table(TableName=stations)
        client.close()


@contextlib.contextmanager
def lambda_environment(hook_module: Any, **values: str) -> Iterator[None]:
    """The environment the hook's Lambda would have, for calls of ``hook.handler`` (the entry
    that reads its settings from the environment); the hook's caches cleared around it."""
    hook_module.reset_caches()
    try:
        with environment(dict(values)):
            yield
    finally:
        hook_module.reset_caches()
