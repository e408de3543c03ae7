"""What a board with our firmware agent does with each request: the board side of docs/protocol.md.

The model is pure (frames in, frames out); ``board.py`` puts it on a real
serial link with wire timing and faults.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..frames import Frame, encode_frame
from ..protocol import (
    MAX_OBJECT_SIZE,
    MAX_PAYLOAD,
    MAX_SERIAL_LENGTH,
    PROTOCOL_VERSIONS,
    Command,
    ErrorCode,
    FrameType,
    Hello,
    KeyType,
    ObjectDigest,
    ObjectId,
    PayloadError,
    is_printable,
    pack_error,
    unpack_str8,
)
from .faults import FaultSet
from .keys import reused_key

DEFAULT_STORAGE_CAPACITY = 3 * MAX_OBJECT_SIZE
FULL_STORAGE_CAPACITY = 1024
WRITES = frozenset({Command.WRITE_BEGIN, Command.WRITE_CHUNK, Command.WRITE_END, Command.KEYGEN})
"""Commands that change what the board stores: a write-protected board refuses them after COMMIT."""

class BoardRefusal(Exception):
    def __init__(self, code: ErrorCode, text: str = ""):
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass
class Upload:
    expected: ObjectDigest
    data: bytearray = field(default_factory=bytearray)


@dataclass
class BoardState:
    """What survives between sessions: the board's flash."""

    objects: dict[ObjectId, bytes] = field(default_factory=dict)
    device_key: ec.EllipticCurvePrivateKey | None = None
    committed: bool = False


class AgentBoardModel:
    def __init__(
        self,
        serial: str,
        *,
        model: str = "SIM-AGENT-1",
        firmware: str = "1.4.0-sim",
        faults: FaultSet | None = None,
        storage_capacity: int | None = None,
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        max_payload: int = MAX_PAYLOAD,
        write_protect: bool = False,
    ) -> None:
        """``versions`` are the HELLO version bytes the board speaks: ``(1,)`` is a protocol 1.0
        board as it was before 1.1 (no session rule, no payload limit check)."""
        self.serial = serial
        self.model = model
        self.firmware = firmware
        self.versions = versions
        self.max_payload = max_payload
        self.write_protect = write_protect
        self.version: int | None = None
        self.faults = faults or FaultSet()
        self.state = BoardState()
        self.storage_capacity = storage_capacity or (
            FULL_STORAGE_CAPACITY if self.faults.has("storage-full") else DEFAULT_STORAGE_CAPACITY
        )
        self._uploads: dict[ObjectId, Upload] = {}
        self._csr_cache: tuple[str, bytes] | None = None
        self._last: tuple[int, int, bytes] | None = None  # seq, cmd, encoded answer

    @property
    def speaks_1_1(self) -> bool:
        return max(self.versions) >= 2

    def is_repeat(self, frame: Frame) -> bool:
        return (
            frame.cmd != Command.HELLO
            and self._last is not None
            and self._last[:2] == (frame.seq, frame.cmd)
            and not self.faults.has("replay-broken")
        )

    def handle(self, frame: Frame) -> bytes:
        """Return the encoded answer frame to a request frame."""
        if self.is_repeat(frame):
            assert self._last is not None
            return self._last[2]
        if frame.cmd == Command.HELLO:
            self._last = None
        try:
            payload = self._execute(frame.cmd, frame.payload)
            answer = encode_frame(FrameType.ANSWER, frame.seq, frame.cmd, payload)
        except BoardRefusal as refusal:
            answer = encode_frame(FrameType.ERROR, frame.seq, frame.cmd, pack_error(refusal.code, refusal.text))
        except PayloadError as exc:
            answer = encode_frame(FrameType.ERROR, frame.seq, frame.cmd, pack_error(ErrorCode.BAD_REQUEST, str(exc)))
        self._last = (frame.seq, frame.cmd, answer)
        return answer

    def progress(self, frame: Frame) -> bytes:
        return encode_frame(FrameType.PROGRESS, frame.seq, frame.cmd)

    # -- commands ---------------------------------------------------------

    def _execute(self, cmd: int, payload: bytes) -> bytes:
        """Checks in the order of docs/protocol.md section 4.2 (error precedence)."""
        known = cmd in Command._value2member_map_
        if not known:
            raise BoardRefusal(ErrorCode.UNKNOWN_COMMAND, f"command 0x{cmd:02X}")
        if self.speaks_1_1 and cmd != Command.HELLO:
            if self.version is None:
                raise BoardRefusal(ErrorCode.BAD_STATE, "no session: send HELLO first")
            if len(payload) > self.max_payload:
                raise BoardRefusal(ErrorCode.BAD_REQUEST, f"payload above max_payload {self.max_payload}")
        if self.faults.at("refuse", Command(cmd)):
            raise BoardRefusal(ErrorCode.REFUSED, "refused by board policy")
        handler = {
            Command.HELLO: self._hello,
            Command.READ_SERIAL: self._read_serial,
            Command.WRITE_BEGIN: self._write_begin,
            Command.WRITE_CHUNK: self._write_chunk,
            Command.WRITE_END: self._write_end,
            Command.READ_DIGEST: self._read_digest,
            Command.KEYGEN: self._keygen,
            Command.GET_CSR: self._get_csr,
            Command.COMMIT: self._commit,
        }[Command(cmd)]
        return handler(payload)

    def _write(self, cmd: Command) -> None:
        """A write after COMMIT: refused by a write-protected board, else it clears the commit (1.1)."""
        if not self.state.committed:
            return
        if self.write_protect:
            raise BoardRefusal(ErrorCode.REFUSED, "write-protected after COMMIT")
        if cmd in (Command.WRITE_BEGIN, Command.KEYGEN):
            self.state.committed = False

    def _hello(self, payload: bytes) -> bytes:
        if len(payload) != 2:
            raise PayloadError("HELLO takes 2 bytes")
        low, high = payload
        usable = [v for v in self.versions if low <= v <= high]
        if not usable:
            raise BoardRefusal(ErrorCode.UNSUPPORTED, f"board speaks versions {list(self.versions)}")
        self._uploads.clear()
        self.version = max(usable)
        chosen = high + 1 if self.faults.has("version-outside") else self.version
        return Hello(chosen, self.max_payload, self.model, self.firmware).pack()

    def _read_serial(self, payload: bytes) -> bytes:
        _expect_empty(payload)
        serial = "SN 12/34?" if self.faults.has("bad-serial") else self.serial
        raw = serial.encode()
        return bytes([len(raw)]) + raw

    def _write_begin(self, payload: bytes) -> bytes:
        if len(payload) != 37:
            raise PayloadError("WRITE_BEGIN takes 37 bytes")
        obj = _object_id(payload[0])
        expected = ObjectDigest.unpack(payload[1:])
        if expected.size == 0 or expected.size > MAX_OBJECT_SIZE:
            raise BoardRefusal(ErrorCode.BAD_REQUEST, f"object size {expected.size} outside 1..{MAX_OBJECT_SIZE}")
        self._write(Command.WRITE_BEGIN)
        others = sum(len(v) for k, v in self.state.objects.items() if k != obj)
        if others + expected.size > self.storage_capacity:
            raise BoardRefusal(ErrorCode.STORAGE_FULL, f"{self.storage_capacity - others} bytes free")
        self._uploads[obj] = Upload(expected)
        return b""

    def _write_chunk(self, payload: bytes) -> bytes:
        if len(payload) < 6:
            raise PayloadError("WRITE_CHUNK takes at least 6 bytes")
        obj = _object_id(payload[0])
        (offset,) = struct.unpack_from(">I", payload, 1)
        data = payload[5:]
        self._write(Command.WRITE_CHUNK)
        upload = self._uploads.get(obj)
        if upload is None:
            raise BoardRefusal(ErrorCode.BAD_STATE, "no WRITE_BEGIN for this object")
        if offset > len(upload.data) or offset + len(data) > upload.expected.size:
            raise BoardRefusal(ErrorCode.BAD_REQUEST, f"chunk at {offset} does not fit")
        upload.data[offset : offset + len(data)] = data
        return struct.pack(">I", len(upload.data))

    def _write_end(self, payload: bytes) -> bytes:
        if len(payload) != 1:
            raise PayloadError("WRITE_END takes 1 byte")
        obj = _object_id(payload[0])
        self._write(Command.WRITE_END)
        upload = self._uploads.pop(obj, None)
        if upload is None:
            raise BoardRefusal(ErrorCode.BAD_STATE, "no upload in progress for this object")
        received = ObjectDigest.of(bytes(upload.data))
        if received != upload.expected:
            raise BoardRefusal(ErrorCode.DIGEST_MISMATCH, "data does not match the announced digest")
        self.state.objects[obj] = bytes(upload.data)
        return received.pack()

    def _read_digest(self, payload: bytes) -> bytes:
        if len(payload) != 1:
            raise PayloadError("READ_DIGEST takes 1 byte")
        obj = _object_id(payload[0])
        content = self.state.objects.get(obj)
        if content is None:
            raise BoardRefusal(ErrorCode.NOT_FOUND, f"{obj.name} not stored")
        if self.faults.has("bad-digest"):
            content = content + b"\n"
        return ObjectDigest.of(content).pack()

    def _keygen(self, payload: bytes) -> bytes:
        if len(payload) != 1:
            raise PayloadError("KEYGEN takes 1 byte")
        if payload[0] != KeyType.EC_P256:
            raise BoardRefusal(ErrorCode.UNSUPPORTED, "only EC P-256 (0x01)")
        self._write(Command.KEYGEN)
        if self.faults.has("keygen-fail"):
            raise BoardRefusal(ErrorCode.KEYGEN_FAILED, "entropy source not ready")
        key = reused_key() if self.faults.has("reuse-key") else ec.generate_private_key(ec.SECP256R1())
        self.state.device_key = key
        self._csr_cache = None
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def _get_csr(self, payload: bytes) -> bytes:
        common_name, end = unpack_str8(payload)
        if end != len(payload) or not common_name or len(common_name) > MAX_SERIAL_LENGTH or not is_printable(common_name):
            raise BoardRefusal(ErrorCode.BAD_REQUEST, "CN must be 1..64 printable characters")
        if self.state.device_key is None:
            raise BoardRefusal(ErrorCode.BAD_STATE, "no device key: send KEYGEN first")
        if self._csr_cache and self._csr_cache[0] == common_name:
            return self._csr_cache[1]
        subject_cn = f"{common_name}-X" if self.faults.has("wrong-cn") else common_name
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .sign(self.state.device_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        if self.faults.has("bad-signature"):
            csr = csr[:-4] + bytes(b ^ 0x55 for b in csr[-4:])
        self._csr_cache = (common_name, csr)
        return csr

    def _commit(self, payload: bytes) -> bytes:
        _expect_empty(payload)
        missing = [obj.name for obj in ObjectId if obj not in self.state.objects]
        if missing or self.state.device_key is None:
            raise BoardRefusal(ErrorCode.BAD_STATE, "missing: " + ", ".join(missing or ["device key"]))
        self.state.committed = True
        return b""

    def stored_sha256(self, obj: ObjectId) -> str | None:
        content = self.state.objects.get(obj)
        return hashlib.sha256(content).hexdigest() if content is not None else None


def _object_id(value: int) -> ObjectId:
    try:
        return ObjectId(value)
    except ValueError:
        raise BoardRefusal(ErrorCode.BAD_REQUEST, f"unknown object 0x{value:02X}") from None


def _expect_empty(payload: bytes) -> None:
    if payload:
        raise PayloadError("this command takes no payload")
