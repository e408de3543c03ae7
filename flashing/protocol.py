"""Constants and payload layouts of the reference agent protocol (1.0 and 1.1).

``docs/protocol.md`` is the specification; this module is its vocabulary. Both
the station's driver and the simulated board import it, so a change here is a
change of the published protocol.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

PROTOCOL_VERSIONS: tuple[int, ...] = (1, 2)
"""Protocol versions this station speaks, oldest first (the HELLO version byte)."""

VERSION_NAMES: dict[int, str] = {1: "1.0", 2: "1.1"}
"""The published name of each HELLO version byte: byte 2 is protocol 1.1."""

MIN_MAX_PAYLOAD: dict[int, int] = {1: 64, 2: 128}
"""The smallest max_payload a board may announce, per version. 1.1 raised it to 128 so that
GET_CSR for a 64-character serial (65 bytes) always fits."""

MAX_PAYLOAD = 1024
"""Largest payload of any frame, in bytes."""

HEADER_SIZE = 5
CRC_SIZE = 4
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED_FRAME = MAX_BODY + MAX_BODY // 254 + 1
"""Longest COBS-encoded frame, delimiter not counted. More bytes than this
without a 0x00 can only be noise, and are discarded."""

MAX_OBJECT_SIZE = 16 * 1024
"""Largest claim object (certificate, key, root CA) a board must accept."""

CHUNK_HEADER = 5  # object id + offset
MAX_CHUNK = MAX_PAYLOAD - CHUNK_HEADER
MAX_SERIAL_LENGTH = 64
MAX_ERROR_TEXT = 120
MAX_CSR = 1024

KEYGEN_LIMIT_SECONDS = 60.0
"""However many PROGRESS frames come, the host gives up on KEYGEN after this."""
COMMAND_LIMIT_SECONDS = 10.0
"""However many PROGRESS frames come, the host gives up on any other command after this (1.1)."""
RETRY_SPACING_SECONDS = 0.1
"""1.1: a retransmission is never sent sooner than this after the previous send."""
QUIET_GAP_SECONDS = 0.02
"""1.1: after a damaged frame the host waits until the line was quiet this long (plus 32 byte times)."""
BUSY_BACKOFF_SECONDS = 0.2
"""1.1: after a BUSY error answer the host waits this long, then sends the request again with a new seq."""
BUSY_ATTEMPTS = 10


def is_printable(text: str) -> bool:
    """Printable ASCII as the spec means it: 0x20 (space) to 0x7E."""
    return all(0x20 <= ord(ch) <= 0x7E for ch in text)


def is_board_text(chunk: bytes) -> bool:
    """True for a chunk between delimiters that is board output (logs), not a damaged frame.

    A frame always holds binary bytes (its length field and CRC); log text is printable ASCII
    with TAB, CR and LF. A damaged frame that happens to be all text is a chance the spec accepts.
    """
    return bool(chunk) and all(0x20 <= b <= 0x7E or b in (0x09, 0x0A, 0x0D) for b in chunk)


class FrameType(enum.IntEnum):
    REQUEST = 0x51  # 'Q'
    ANSWER = 0x41  # 'A'
    ERROR = 0x45  # 'E'
    PROGRESS = 0x50  # 'P'


class Command(enum.IntEnum):
    HELLO = 0x01
    READ_SERIAL = 0x02
    WRITE_BEGIN = 0x10
    WRITE_CHUNK = 0x11
    WRITE_END = 0x12
    READ_DIGEST = 0x13
    KEYGEN = 0x20
    GET_CSR = 0x21
    COMMIT = 0x30


class ObjectId(enum.IntEnum):
    ROOT_CA = 0x01
    CLAIM_CERT = 0x02
    CLAIM_KEY = 0x03


class KeyType(enum.IntEnum):
    EC_P256 = 0x01


class ErrorCode(enum.IntEnum):
    UNKNOWN_COMMAND = 0x01
    BAD_REQUEST = 0x02
    BAD_STATE = 0x03
    NOT_FOUND = 0x04
    STORAGE_FULL = 0x05
    DIGEST_MISMATCH = 0x06
    UNSUPPORTED = 0x07
    KEYGEN_FAILED = 0x08
    REFUSED = 0x09
    BUSY = 0x0A
    INTERNAL = 0x7F

    @classmethod
    def name_of(cls, value: int) -> str:
        try:
            return cls(value).name
        except ValueError:
            return f"UNKNOWN_0x{value:02X}"


class PayloadError(ValueError):
    """A payload does not have the layout its command requires."""


def pack_str8(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise PayloadError("string longer than 255 bytes")
    return bytes([len(raw)]) + raw


def unpack_str8(data: bytes, offset: int = 0) -> tuple[str, int]:
    """Return the string at ``offset`` and the offset just past it."""
    if offset >= len(data):
        raise PayloadError("missing string length")
    length = data[offset]
    end = offset + 1 + length
    if end > len(data):
        raise PayloadError("string runs past the end of the payload")
    try:
        return data[offset + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise PayloadError("string is not UTF-8") from None


@dataclass(frozen=True)
class Hello:
    version: int
    max_payload: int
    model: str
    firmware: str

    def pack(self) -> bytes:
        return (
            struct.pack(">BH", self.version, self.max_payload)
            + pack_str8(self.model)
            + pack_str8(self.firmware)
        )

    @classmethod
    def unpack(cls, data: bytes) -> Hello:
        if len(data) < 3:
            raise PayloadError("HELLO answer shorter than 3 bytes")
        version, max_payload = struct.unpack_from(">BH", data)
        model, offset = unpack_str8(data, 3)
        firmware, offset = unpack_str8(data, offset)
        if offset != len(data):
            raise PayloadError("trailing bytes after HELLO answer")
        return cls(version, max_payload, model, firmware)


@dataclass(frozen=True)
class ObjectDigest:
    size: int
    sha256: bytes

    def pack(self) -> bytes:
        return struct.pack(">I", self.size) + self.sha256

    @classmethod
    def unpack(cls, data: bytes) -> ObjectDigest:
        if len(data) != 36:
            raise PayloadError(f"digest answer must be 36 bytes, got {len(data)}")
        (size,) = struct.unpack_from(">I", data)
        return cls(size, bytes(data[4:]))

    @classmethod
    def of(cls, content: bytes) -> ObjectDigest:
        return cls(len(content), hashlib.sha256(content).digest())


def pack_write_begin(obj: ObjectId, content: bytes) -> bytes:
    return bytes([obj]) + ObjectDigest.of(content).pack()


def pack_write_chunk(obj: ObjectId, offset: int, data: bytes) -> bytes:
    return struct.pack(">BI", obj, offset) + data


def pack_error(code: ErrorCode, text: str = "") -> bytes:
    return bytes([code]) + text.encode("utf-8")[:MAX_ERROR_TEXT]


def unpack_error(data: bytes) -> tuple[str, str]:
    """Return (protocol error name, text) of an ERROR payload."""
    if not data:
        raise PayloadError("empty ERROR payload")
    return ErrorCode.name_of(data[0]), data[1:].decode("utf-8", errors="replace")
