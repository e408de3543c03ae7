"""What an nRF91 Series modem does with each AT command: the modem side of docs/nrf91.md.

The model is pure (one command line in, the response text out, lines ending
in CRLF); ``nrf91_board.py`` puts it on a real serial link with echo, URCs,
wire timing and faults. Response formats follow Nordic's nRF91 AT Commands
reference: ``OK`` / ``ERROR`` / ``+CME ERROR: <n>`` (numeric only after
``AT+CMEE=1``; the modem starts with plain ``ERROR``), ``+CGSN: "<imei>"``,
``%CMNG: <sec_tag>,<type>,"<SHA-256>"`` and
``%KEYGEN: "<Base64Url(CSR DER)>.<Base64Url(COSE_Sign1)>"``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .faults import FaultSpecError
from .keys import reused_key

# -- faults -------------------------------------------------------------------------

STEP_KINDS = frozenset({"drop", "stall", "garbage", "refuse", "flood", "deaf-once"})
"""``kind@step``: drop the line / go silent / answer random bytes / refuse / answer an endless
line / miss the first such command (still starting up), then answer as usual."""
PLAIN_KINDS = frozenset(
    {
        # the agent simulator's faults, where they apply to a modem
        "storage-full",  # the credential storage fills up: +CME ERROR: 515
        "keygen-fail",  # %KEYGEN answers +CME ERROR: 523
        "wrong-cn",  # the CSR's CN is not the one asked for
        "reuse-key",  # every modem with this fault 'generates' the same key (a broken RNG)
        "bad-signature",  # the CSR's signature does not verify
        "bad-digest",  # %CMNG list reports a SHA-256 other than that of the stored bytes
        "bad-serial",  # the IMEI's check digit is wrong
        # modem quirks
        "echo",  # echo every received byte (ATE1)
        "urc",  # unsolicited result codes before and after answers
        "lf-only",  # end lines with LF instead of CRLF
        "slow-keygen",  # %KEYGEN takes at least SLOW_KEYGEN_SECONDS
        "explicit-null",  # ecdsa-with-SHA256 encoded with explicit NULL parameters (real nRF91 firmware)
        "key-present",  # the device sec tag already holds a key and a certificate (re-provisioning)
        "stay-online",  # AT+CFUN=4 answers OK but the modem stays in normal mode
        "no-deviceuuid",  # nRF9160-style firmware: AT%DEVICEUUID answers ERROR
    }
)
STEPS = frozenset(
    {
        "at", "cmee", "cfun", "cgmm", "cgmr", "cgsn", "deviceuuid", "xmodemuuid",
        "cmng", "cmng_write", "cmng_list", "cmng_read", "cmng_delete", "keygen",
    }
)  # fmt: skip
_CME_KIND = re.compile(r"cme-(\d{1,4})")


@dataclass(frozen=True)
class ModemFault:
    kind: str
    step: str | None = None
    code: int | None = None
    """For ``cme-<n>@step``: the +CME ERROR code to answer."""

    def __str__(self) -> str:
        return self.kind if self.step is None else f"{self.kind}@{self.step}"


def parse_modem_fault(text: str) -> ModemFault:
    """``kind``, ``kind@step`` or ``cme-<n>@step`` (answer ``+CME ERROR: <n>`` at that step)."""
    kind, _, step = text.strip().lower().partition("@")
    if kind in PLAIN_KINDS:
        if step:
            raise FaultSpecError(f"fault {kind!r} takes no step (got {text!r})")
        return ModemFault(kind)
    cme = _CME_KIND.fullmatch(kind)
    if kind in STEP_KINDS or cme:
        if step not in STEPS:
            raise FaultSpecError(
                f"fault {text!r} needs a step: {kind}@STEP with STEP one of {', '.join(sorted(STEPS))}"
            )
        return ModemFault("cme" if cme else kind, step, int(cme[1]) if cme else None)
    known = ", ".join(sorted(STEP_KINDS | PLAIN_KINDS | {"cme-<n>"}))
    raise FaultSpecError(f"unknown fault {text!r}; known faults: {known}")


class ModemFaultSet:
    def __init__(self, faults: list[ModemFault | str] | tuple[ModemFault | str, ...] = ()) -> None:
        self.faults = tuple(parse_modem_fault(f) if isinstance(f, str) else f for f in faults)
        self._spent: set[ModemFault] = set()

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)

    def at(self, kind: str, steps: set[str]) -> ModemFault | None:
        """The fault ``kind@step`` that applies now to a command of ``steps``; a one-shot fault is then spent."""
        for fault in self.faults:
            if fault.kind == kind and fault.step in steps and fault not in self._spent:
                if kind.endswith("-once"):
                    self._spent.add(fault)
                return fault
        return None

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.faults) or "none"


# -- identity helpers -------------------------------------------------------------------

DEFAULT_TAC = "35404599"
"""Type Allocation Code of the simulated modems (8 digits)."""
SIM_UUID_NAMESPACE = uuid.UUID("6f0b2a5e-3c1d-4e8f-9a7b-2d4c6e8f0a1b")


def luhn_digit(digits: str) -> int:
    """Luhn check digit, written independently of the driver's so each checks the other."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def make_imei(tac: str, number: int) -> str:
    """TAC (8 digits) + SNR (6 digits) + Luhn check digit: a valid 15-digit IMEI."""
    if len(tac) != 8 or not tac.isdigit():
        raise ValueError(f"a TAC is 8 digits, not {tac!r}")
    if not 0 <= number <= 999999:
        raise ValueError(f"an IMEI's serial number part is 6 digits; {number} does not fit")
    first14 = f"{tac}{number:06d}"
    return first14 + str(luhn_digit(first14))


def device_uuid_for(imei: str) -> str:
    return str(uuid.uuid5(SIM_UUID_NAMESPACE, imei))




# -- DER / CBOR bits ---------------------------------------------------------------------

ECDSA_SHA256_ALG_ID = bytes.fromhex("300a06082a8648ce3d040302")
ECDSA_SHA256_ALG_ID_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_body(der: bytes) -> bytes:
    if der[1] < 0x80:
        return der[2:]
    return der[2 + (der[1] & 0x7F) :]


def to_explicit_null(csr_der: bytes) -> bytes:
    """The CSR with its signature AlgorithmIdentifier re-encoded with explicit NULL parameters,
    as nRF91 modem firmware does. The signed CertificationRequestInfo is unchanged."""
    body = _der_body(csr_der)
    if body.count(ECDSA_SHA256_ALG_ID) != 1:
        raise ValueError("not an ecdsa-with-SHA256 CSR")
    body = body.replace(ECDSA_SHA256_ALG_ID, ECDSA_SHA256_ALG_ID_NULL)
    return b"\x30" + _der_length(len(body)) + body


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    if value < 0x100:
        return bytes([major << 5 | 24, value])
    if value < 0x10000:
        return bytes([major << 5 | 25]) + value.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + value.to_bytes(4, "big")


def _cbor(item: object) -> bytes:
    """A minimal CBOR encoder: ints, bytes, text, lists and dicts."""
    if isinstance(item, bool) or item is None:
        raise TypeError("not needed here")
    if isinstance(item, int):
        return _cbor_head(0, item) if item >= 0 else _cbor_head(1, -1 - item)
    if isinstance(item, bytes):
        return _cbor_head(2, len(item)) + item
    if isinstance(item, str):
        raw = item.encode()
        return _cbor_head(3, len(raw)) + raw
    if isinstance(item, list):
        return _cbor_head(4, len(item)) + b"".join(_cbor(x) for x in item)
    if isinstance(item, dict):
        return _cbor_head(5, len(item)) + b"".join(_cbor(k) + _cbor(v) for k, v in item.items())
    raise TypeError(type(item).__name__)


def cose_sign1(payload: bytes, key: ec.EllipticCurvePrivateKey, kid: bytes) -> bytes:
    """COSE_Sign1 (tag 18) over ``payload`` with ES256, as RFC 8152 builds it."""
    protected = _cbor({1: -7})  # alg: ES256
    to_sign = _cbor(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return b"\xd2" + _cbor([protected, {4: kid}, payload, signature])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# -- the modem -------------------------------------------------------------------------

ACTIVE_MODES = frozenset({1, 2, 21})
"""%CMNG write/delete and %KEYGEN are not allowed while +CFUN is one of these."""
CFUN_MODES = frozenset({0, 1, 4, 20, 21, 30, 31, 40, 41, 44})
MAX_SEC_TAG = 2147483647
RESERVED_TAG_ENTRY = (4294967292, 10)
"""A modem-owned entry (Nordic identity root CA) that the full %CMNG list shows, as real modems do."""
DEFAULT_STORAGE_CAPACITY = 64 * 1024
FULL_STORAGE_CAPACITY = 1024
SUBJECT_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


class _Error(Exception):
    """Answer the command with ``ERROR`` (or ``+CME ERROR: <cme>`` once CMEE is 1)."""

    def __init__(self, cme: int | None = None) -> None:
        super().__init__(cme)
        self.cme = cme


@dataclass
class ModemState:
    """What survives a reconnect: the modem's NVM and its current modes."""

    cfun: int = 1
    cmee: int = 0
    credentials: dict[tuple[int, int], bytes] = field(default_factory=dict)
    keys: dict[int, ec.EllipticCurvePrivateKey] = field(default_factory=dict)


class Nrf91ModemModel:
    def __init__(
        self,
        imei: str,
        *,
        model: str = "nRF9151-LACA",
        firmware: str = "mfw_nrf91x1_2.0.2",
        faults: ModemFaultSet | None = None,
        device_sec_tag: int = 201,
        initial_cfun: int = 1,
        storage_capacity: int | None = None,
    ) -> None:
        self.faults = faults or ModemFaultSet()
        self.imei = imei
        self.device_uuid = device_uuid_for(imei)
        self.model = model
        self.firmware = firmware
        self.firmware_uuid = str(uuid.uuid5(SIM_UUID_NAMESPACE, firmware))
        self.state = ModemState(cfun=initial_cfun)
        self.storage_capacity = storage_capacity or (
            FULL_STORAGE_CAPACITY if self.faults.has("storage-full") else DEFAULT_STORAGE_CAPACITY
        )
        self.attestation_key = ec.generate_private_key(ec.SECP256R1())
        self.keygen_count = 0
        if self.faults.has("key-present"):
            old = ec.generate_private_key(ec.SECP256R1())
            self._store_key(device_sec_tag, old)
            self.state.credentials[(device_sec_tag, 1)] = (
                b"-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n"
            )

    @property
    def reported_imei(self) -> str:
        if self.faults.has("bad-serial"):
            wrong = (int(self.imei[14]) + 1) % 10
            return self.imei[:14] + str(wrong)
        return self.imei

    # -- entry point ------------------------------------------------------

    def handle(self, line: str) -> str:
        """The full response to one command line (each line ending in CRLF)."""
        try:
            info = self._execute(line.strip())
        except _Error as error:
            if error.cme is not None and self.state.cmee == 1:
                return f"+CME ERROR: {error.cme}\r\n"
            return "ERROR\r\n"
        return "".join(f"{text}\r\n" for text in [*info, "OK"])

    def steps_of(self, line: str) -> set[str]:
        """The fault step names a command line belongs to (``cmng`` and ``cmng_write``...)."""
        text = line.strip().upper()
        if text == "AT":
            return {"at"}
        match = re.match(r"AT([+%])([A-Z0-9]+)(=?)(\d*)", text)
        if not match:
            return set()
        name = match[2].lower()
        if name == "cmng":
            op = {"0": "cmng_write", "1": "cmng_list", "2": "cmng_read", "3": "cmng_delete"}.get(
                match[4]
            )
            return {"cmng", op} if op else {"cmng"}
        return {name}

    # -- commands ---------------------------------------------------------

    def _execute(self, text: str) -> list[str]:
        if not text[:2].upper() == "AT":
            raise _Error()
        steps = self.steps_of(text)
        if fault := self.faults.at("cme", steps):
            raise _Error(fault.code)
        if self.faults.at("refuse", steps):
            raise _Error(514 if steps & {"cmng", "keygen"} else None)
        body = text[2:]
        if body == "":
            return []
        match = re.fullmatch(r"([+%][A-Za-z0-9]+)(.*)", body, re.S)
        if not match:
            raise _Error()
        name, rest = match[1].upper(), match[2]
        handler = {
            "+CMEE": self._cmee,
            "+CFUN": self._cfun,
            "+CGMM": self._cgmm,
            "+CGMR": self._cgmr,
            "+CGSN": self._cgsn,
            "%XMODEMUUID": self._xmodemuuid,
            "%DEVICEUUID": self._deviceuuid,
            "%CMNG": self._cmng,
            "%KEYGEN": self._keygen,
        }.get(name)
        if handler is None:
            raise _Error()
        return handler(rest)

    def _cmee(self, rest: str) -> list[str]:
        if rest == "?":
            return [f"+CMEE: {self.state.cmee}"]
        if not rest.startswith("="):
            raise _Error()
        params = _params(rest[1:])
        if len(params) != 1 or params[0] not in ("0", "1"):
            raise _Error()
        self.state.cmee = int(params[0])
        return []

    def _cfun(self, rest: str) -> list[str]:
        if rest == "?":
            return [f"+CFUN: {self.state.cfun}"]
        if rest == "=?":
            return ["+CFUN: (0,1,4,20,21,30,31,40,41,44)"]
        if not rest.startswith("="):
            raise _Error()
        params = _params(rest[1:])
        if len(params) != 1 or not params[0].isdigit() or int(params[0]) not in CFUN_MODES:
            raise _Error()
        mode = int(params[0])
        if self.faults.has("stay-online") and mode not in ACTIVE_MODES:
            return []  # answers OK, but the modem stays where it was
        self.state.cfun = mode
        return []

    def _cgmm(self, rest: str) -> list[str]:
        if rest:
            raise _Error()
        return [self.model]

    def _cgmr(self, rest: str) -> list[str]:
        if rest:
            raise _Error()
        return [self.firmware]

    def _cgsn(self, rest: str) -> list[str]:
        snt = "0" if rest in ("", "=0") else rest[1:] if rest.startswith("=") else None
        imei = self.reported_imei
        if snt == "0":
            return [imei]
        if snt == "1":
            return [f'+CGSN: "{imei}"']
        if snt == "2":
            return [f'+CGSN: "{imei[:14]}02"']
        if snt == "3":
            return ['+CGSN: "02"']
        raise _Error()

    def _xmodemuuid(self, rest: str) -> list[str]:
        if rest:
            raise _Error()
        return [f"%XMODEMUUID: {self.firmware_uuid}"]

    def _deviceuuid(self, rest: str) -> list[str]:
        if rest or self.faults.has("no-deviceuuid"):
            raise _Error()
        return [f"%DEVICEUUID: {self.device_uuid}"]

    # -- %CMNG ------------------------------------------------------------

    def _cmng(self, rest: str) -> list[str]:
        if not rest.startswith("="):
            raise _Error()
        params = _params(rest[1:])
        if not params or not params[0].isdigit():
            raise _Error()
        opcode = int(params[0])
        tag = _int_param(params, 1, MAX_SEC_TAG) if len(params) > 1 else None
        cred_type = _int_param(params, 2, 11) if len(params) > 2 else None
        if opcode == 1:  # list
            if len(params) > 3:
                raise _Error()
            return self._list(tag, cred_type)
        if tag is None or cred_type is None:
            raise _Error()
        if opcode == 0:  # write
            if len(params) not in (4, 5) or not _quoted(params[3]):
                raise _Error()
            return self._write(tag, cred_type, params[3][1:-1].encode("ascii"))
        if opcode == 2:  # read
            if len(params) != 3 or cred_type in (1, 2, 3):
                raise _Error()  # "Reading types 1, 2, and 3 are not supported."
            content = self.state.credentials.get((tag, cred_type))
            if content is None:
                raise _Error(513)
            return [f'%CMNG: {tag},{cred_type},"{self._sha(content)}","{content.decode("ascii")}"']
        if opcode == 3:  # delete
            if len(params) != 3:
                raise _Error()
            if self.state.cfun in ACTIVE_MODES:
                raise _Error(518)
            if (tag, cred_type) not in self.state.credentials:
                raise _Error(513)
            del self.state.credentials[(tag, cred_type)]
            if cred_type == 2:
                self.state.keys.pop(tag, None)
            return []
        raise _Error()

    def _list(self, tag: int | None, cred_type: int | None) -> list[str]:
        if tag is None and cred_type is not None:
            raise _Error()
        entries = sorted(
            (t, k)
            for t, k in self.state.credentials
            if (tag is None or t == tag) and (cred_type is None or k == cred_type)
        )
        lines = [
            f'%CMNG: {t},{k},"{self._sha(self.state.credentials[(t, k)])}"' for t, k in entries
        ]
        if tag is None:
            reserved_tag, reserved_type = RESERVED_TAG_ENTRY
            lines.append(f'%CMNG: {reserved_tag},{reserved_type},"{"0" * 63}1"')
        return lines

    def _write(self, tag: int, cred_type: int, content: bytes) -> list[str]:
        if not content or cred_type > 4:
            raise _Error()
        if self.state.cfun in ACTIVE_MODES:
            raise _Error(518)
        if (tag, cred_type) in self.state.credentials:
            raise _Error(519)
        if self._used() + len(content) > self.storage_capacity:
            raise _Error(515)
        self.state.credentials[(tag, cred_type)] = content
        return []

    def _sha(self, content: bytes) -> str:
        digest = bytearray(hashlib.sha256(content).digest())
        if self.faults.has("bad-digest"):
            digest[0] ^= 0x01
        return digest.hex().upper()

    def _used(self) -> int:
        return sum(len(content) for content in self.state.credentials.values())

    # -- %KEYGEN ------------------------------------------------------------

    def _keygen(self, rest: str) -> list[str]:
        if not rest.startswith("="):
            raise _Error()
        params = _params(rest[1:])
        if not 2 <= len(params) <= 5:
            raise _Error()
        tag = _int_param(params, 0, MAX_SEC_TAG)
        key_type = _int_param(params, 1, 14)
        response_content = _int_param(params, 2, 2) if len(params) > 2 and params[2] != "" else 0
        attributes = params[3] if len(params) > 3 else ""
        if attributes and not _quoted(attributes):
            raise _Error()
        if key_type != 2 or response_content != 0:
            raise _Error()  # the simulator makes client keys with a CSR only
        if self.state.cfun in ACTIVE_MODES:
            raise _Error(518)
        if (tag, 2) in self.state.credentials:
            raise _Error(519)
        if self.faults.has("keygen-fail"):
            raise _Error(523)
        subject = self._subject(attributes[1:-1] if attributes else "")
        key = (
            reused_key()
            if self.faults.has("reuse-key")
            else ec.generate_private_key(ec.SECP256R1())
        )
        if self._used() + 256 > self.storage_capacity:
            raise _Error(515)
        csr = self._csr(key, subject)
        self._store_key(tag, key)
        self.keygen_count += 1
        cose = cose_sign1(hashlib.sha256(csr).digest(), self.attestation_key, kid=b"\x01")
        return [f'%KEYGEN: "{b64url(csr)}.{b64url(cose)}"']

    def _subject(self, attributes: str) -> x509.Name:
        names: list[x509.NameAttribute] = []
        has_cn = False
        for part in [p for p in attributes.split(",") if p] if attributes else []:
            key, sep, value = part.partition("=")
            oid = SUBJECT_OIDS.get(key.strip().upper())
            if not sep or oid is None or not value:
                raise _Error()
            if oid == NameOID.COMMON_NAME:
                has_cn = True
                if self.faults.has("wrong-cn"):
                    value = value + "-X"
            names.append(x509.NameAttribute(oid, value))
        if not has_cn:  # without a CN attribute the modem uses its device UUID
            names.append(x509.NameAttribute(NameOID.COMMON_NAME, self.device_uuid))
        return x509.Name(names)

    def _csr(self, key: ec.EllipticCurvePrivateKey, subject: x509.Name) -> bytes:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=True,
            key_encipherment=True,
            data_encipherment=False,
            key_agreement=True,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_extension(usage, critical=False)
        )
        der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        if self.faults.has("bad-signature"):
            der = der[:-3] + bytes([der[-3] ^ 0x01]) + der[-2:]
        if self.faults.has("explicit-null"):
            der = to_explicit_null(der)
        return der

    def _store_key(self, tag: int, key: ec.EllipticCurvePrivateKey) -> None:
        self.state.keys[tag] = key
        self.state.credentials[(tag, 2)] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


# -- parameter parsing -----------------------------------------------------------------------


def _params(text: str) -> list[str]:
    """Split an AT parameter list at commas outside double quotes; strings keep their quotes.

    Stripping a parameter never touches what is inside its quotes.
    """
    params: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            params.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quoted:
        raise _Error()
    params.append("".join(current).strip())
    return params


def _quoted(param: str) -> bool:
    return len(param) >= 2 and param[0] == '"' and param[-1] == '"' and '"' not in param[1:-1]


def _int_param(params: list[str], index: int, maximum: int) -> int:
    text = params[index]
    if not text.isdigit() or int(text) > maximum:
        raise _Error()
    return int(text)
