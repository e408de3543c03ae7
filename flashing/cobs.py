"""Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999).

COBS removes every 0x00 from a frame so that 0x00 can mark frame boundaries:
a receiver that loses sync simply waits for the next 0x00.
"""

from __future__ import annotations


class CobsDecodeError(ValueError):
    """The bytes are not a valid COBS encoding."""


def encode(data: bytes) -> bytes:
    """Encode ``data``; the result contains no 0x00 and is at most len/254+1 bytes longer."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            continue
        block.append(byte)
        if len(block) == 254:
            out.append(255)
            out += block
            block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def decode(encoded: bytes) -> bytes:
    """Decode one COBS frame (without its 0x00 delimiter)."""
    out = bytearray()
    index = 0
    length = len(encoded)
    while index < length:
        code = encoded[index]
        if code == 0:
            raise CobsDecodeError("zero byte inside a COBS frame")
        end = index + code
        if end > length:
            raise CobsDecodeError("COBS block runs past the end of the frame")
        block = encoded[index + 1 : end]
        if 0 in block:
            raise CobsDecodeError("zero byte inside a COBS frame")
        out += block
        index = end
        if code < 255 and index < length:
            out.append(0)
    return bytes(out)
