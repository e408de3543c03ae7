"""Framing of the reference agent protocol: build frames and cut a byte stream into them.

A frame on the wire is ``COBS(body) 0x00`` where body is::

    type(1) seq(1) cmd(1) length(2, big-endian) payload(length) crc32(4, big-endian)

and the CRC-32 (IEEE 802.3, as ``zlib.crc32``) covers every body byte before it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from . import cobs
from .errors import FrameError, FrameTooLong
from .protocol import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_ENCODED_FRAME,
    MAX_PAYLOAD,
    FrameType,
    is_board_text,
)

DELIMITER = b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    cmd: int
    payload: bytes = b""

    def encode(self) -> bytes:
        """The bytes to put on the wire, delimiter included."""
        return encode_frame(self.type, self.seq, self.cmd, self.payload)


def encode_frame(frame_type: int, seq: int, cmd: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack(">BBBH", frame_type, seq & 0xFF, cmd, len(payload)) + payload
    body += struct.pack(">I", zlib.crc32(body))
    return cobs.encode(body) + DELIMITER


def decode_body(encoded: bytes) -> Frame:
    """Decode one frame's bytes (delimiter removed); raise FrameError if they fail any check."""
    if len(encoded) > MAX_ENCODED_FRAME:
        raise FrameTooLong(f"frame of {len(encoded)} bytes exceeds {MAX_ENCODED_FRAME}")
    try:
        body = cobs.decode(encoded)
    except cobs.CobsDecodeError as exc:
        raise FrameError(f"bad COBS encoding: {exc}") from None
    if len(body) < HEADER_SIZE + CRC_SIZE:
        raise FrameError(f"frame of {len(body)} bytes is shorter than a header and CRC")
    frame_type, seq, cmd, length = struct.unpack_from(">BBBH", body)
    if length != len(body) - HEADER_SIZE - CRC_SIZE:
        raise FrameError(f"length field says {length} but the frame holds {len(body) - HEADER_SIZE - CRC_SIZE}")
    (crc,) = struct.unpack_from(">I", body, len(body) - CRC_SIZE)
    if crc != zlib.crc32(body[:-CRC_SIZE]):
        raise FrameError("CRC mismatch")
    if frame_type not in FrameType._value2member_map_:
        raise FrameError(f"unknown frame type 0x{frame_type:02X}")
    return Frame(frame_type, seq, cmd, bytes(body[HEADER_SIZE:-CRC_SIZE]))


class FrameDecoder:
    """Cuts a byte stream into frames, with a bounded buffer.

    ``feed`` returns, in order, a :class:`Frame` for every good frame and a
    :class:`FrameError` (returned, not raised) for every bad one. Bytes beyond
    the longest legal frame are discarded up to the next delimiter, so a board
    that never sends 0x00 cannot make the buffer grow.

    A chunk made only of printable ASCII, TAB, CR and LF is board output (a log
    line, a boot banner): it is counted in ``text_chunks`` and dropped without an
    error, so logs never look like a damaged answer (protocol 1.1, section 2).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflowed = False
        self._text = True
        self.text_chunks = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()
        self._overflowed = False
        self._text = True

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        results: list[Frame | FrameError] = []
        start = 0
        while start < len(data):
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            self._append(chunk, results)
            if end < 0:
                break
            self._close_frame(results)
            start = end + 1
        return results

    def _append(self, chunk: bytes, results: list[Frame | FrameError]) -> None:
        if chunk and self._text and not is_board_text(chunk):
            self._text = False
        if self._overflowed:
            return
        room = MAX_ENCODED_FRAME - len(self._buffer)
        if len(chunk) > room:
            self._buffer.clear()
            self._overflowed = True
            if not self._text:
                results.append(FrameTooLong(f"more than {MAX_ENCODED_FRAME} bytes without a frame delimiter"))
            return
        self._buffer += chunk

    def _close_frame(self, results: list[Frame | FrameError]) -> None:
        text, self._text = self._text, True
        if self._overflowed:
            self._overflowed = False
            if text:
                self.text_chunks += 1
            return
        if not self._buffer:
            return  # an empty frame: a leading delimiter that resynchronises the link
        encoded = bytes(self._buffer)
        self._buffer.clear()
        if text:
            self.text_chunks += 1
            return
        try:
            results.append(decode_body(encoded))
        except FrameError as exc:
            results.append(exc)
