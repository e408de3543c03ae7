"""Frames: encode_frame / decode_body / FrameDecoder, and the payload layouts of protocol.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashing import cobs
from flashing.errors import FrameError, FrameTooLong
from flashing.frames import Frame, FrameDecoder, decode_body, encode_frame
from flashing.protocol import (
    MAX_ENCODED_FRAME,
    MAX_PAYLOAD,
    Command,
    FrameType,
    Hello,
    ObjectDigest,
    PayloadError,
    is_board_text,
    pack_error,
    pack_str8,
    unpack_error,
    unpack_str8,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crc32_bitwise(data: bytes) -> int:
    """CRC-32/IEEE 802.3 written out bit by bit (reflected poly 0xEDB88320), independent of zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def body_of(wire: bytes) -> bytes:
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    return cobs.decode(wire[:-1])


def raw_body(
    frame_type: int, seq: int, cmd: int, payload: bytes, *, length: int | None = None
) -> bytes:
    """A body with a correct CRC but any header values (for frames the encoder refuses to make)."""
    body = (
        struct.pack(">BBBH", frame_type, seq, cmd, len(payload) if length is None else length)
        + payload
    )
    return body + struct.pack(">I", crc32_bitwise(body))


# -- encoding -------------------------------------------------------------


def test_crc_check_value_of_the_reference_crc():
    assert crc32_bitwise(b"123456789") == 0xCBF43926


def test_frame_crc_is_crc32_of_the_body_big_endian():
    body = body_of(
        encode_frame(FrameType.ANSWER, 0x11, Command.READ_SERIAL, pack_str8("SN0001234"))
    )
    assert body[-4:] == crc32_bitwise(body[:-4]).to_bytes(4, "big")


def test_body_layout_is_type_seq_cmd_length_payload_crc():
    payload = b"\x01\x02\x03"
    body = body_of(encode_frame(FrameType.REQUEST, 0x7E, Command.WRITE_END, payload))
    assert body[:5] == bytes([0x51, 0x7E, 0x12, 0x00, 0x03])
    assert body[5:-4] == payload
    assert len(body) == 5 + len(payload) + 4


def test_encoded_frame_ends_with_its_only_zero_byte():
    wire = encode_frame(FrameType.REQUEST, 0, 0, b"\x00" * 10)
    assert wire[-1] == 0 and 0 not in wire[:-1]


def test_frame_encode_equals_encode_frame():
    frame = Frame(FrameType.ERROR, 3, Command.COMMIT, b"\x03oops")
    assert frame.encode() == encode_frame(FrameType.ERROR, 3, Command.COMMIT, b"\x03oops")


def test_seq_is_taken_modulo_256():
    assert decode_body(encode_frame(FrameType.REQUEST, 256 + 5, 1)[:-1]).seq == 5


def test_encode_refuses_payload_over_max():
    with pytest.raises(ValueError):
        encode_frame(FrameType.ANSWER, 1, 1, b"x" * (MAX_PAYLOAD + 1))


@pytest.mark.parametrize("size", [0, 1, 250, 1019, MAX_PAYLOAD])
def test_round_trip_through_decode_body(size):
    payload = bytes(i % 256 for i in range(size))
    frame = Frame(FrameType.ANSWER, 0xAB, Command.WRITE_CHUNK, payload)
    assert decode_body(frame.encode()[:-1]) == frame


def largest_frame() -> bytes:
    """A legal frame whose encoding is exactly MAX_ENCODED_FRAME bytes: payload of 1024 non-zero
    bytes (the length field 04 00 holds the only zero) and a CRC without zero bytes."""
    for last in range(1, 256):
        wire = encode_frame(
            FrameType.ANSWER, 0x01, Command.GET_CSR, b"\x5a" * (MAX_PAYLOAD - 1) + bytes([last])
        )
        if 0 not in body_of(wire)[-4:]:
            return wire
    raise AssertionError("no CRC without zeros found")


def test_max_encoded_frame_is_the_size_of_the_longest_legal_frame():
    wire = largest_frame()
    assert len(wire) - 1 == MAX_ENCODED_FRAME == 1038


def test_longest_legal_frame_passes_the_decoder_byte_by_byte():
    wire = largest_frame()
    decoder = FrameDecoder()
    results = []
    for byte in wire:
        results += decoder.feed(bytes([byte]))
        assert decoder.buffered <= MAX_ENCODED_FRAME
    assert results == [decode_body(wire[:-1])]


# -- decode_body rejects ----------------------------------------------------


def test_decode_body_rejects_bad_crc():
    body = bytearray(body_of(encode_frame(FrameType.ANSWER, 1, Command.HELLO, b"abc")))
    body[-1] ^= 0x01
    with pytest.raises(FrameError, match="CRC"):
        decode_body(cobs.encode(bytes(body)))


def test_decode_body_rejects_a_flipped_payload_bit():
    body = bytearray(body_of(encode_frame(FrameType.ANSWER, 1, Command.HELLO, b"abc")))
    body[6] ^= 0x40
    with pytest.raises(FrameError):
        decode_body(cobs.encode(bytes(body)))


@pytest.mark.parametrize("length", [0, 2, 4, 1024, 0xFFFF])
def test_decode_body_rejects_length_field_that_disagrees_with_size(length):
    with pytest.raises(FrameError, match="length"):
        decode_body(
            cobs.encode(raw_body(FrameType.ANSWER, 1, Command.HELLO, b"abc", length=length))
        )


@pytest.mark.parametrize("frame_type", [0x00, 0x42, 0x52, 0x71, 0xFF])
def test_decode_body_rejects_unknown_type(frame_type):
    with pytest.raises(FrameError, match="type"):
        decode_body(cobs.encode(raw_body(frame_type, 1, Command.HELLO, b"")))


@pytest.mark.parametrize("size", range(0, 9))
def test_decode_body_rejects_short_frame(size):
    valid = raw_body(FrameType.ANSWER, 1, Command.HELLO, b"")
    assert len(valid) == 9
    with pytest.raises(FrameError):
        decode_body(cobs.encode(valid[:size]))


def test_smallest_legal_frame_is_nine_bytes():
    assert decode_body(cobs.encode(raw_body(FrameType.ANSWER, 1, Command.COMMIT, b""))) == Frame(
        FrameType.ANSWER, 1, Command.COMMIT, b""
    )


def test_decode_body_rejects_oversize_frame():
    with pytest.raises(FrameTooLong):
        decode_body(b"\x01" * (MAX_ENCODED_FRAME + 1))


def test_decode_body_rejects_invalid_cobs():
    with pytest.raises(FrameError, match="COBS"):
        decode_body(b"\x20\x41\x01\x01")


def test_frame_too_long_is_a_frame_error():
    assert issubclass(FrameTooLong, FrameError)


# -- FrameDecoder ---------------------------------------------------------

FRAMES = [
    Frame(FrameType.ANSWER, 0x10, Command.HELLO, Hello(1, 1024, "ACME-GW-2", "1.4.0").pack()),
    Frame(FrameType.PROGRESS, 0x11, Command.KEYGEN, b""),
    Frame(FrameType.ERROR, 0x12, Command.READ_DIGEST, pack_error(0x04, "CLAIM_KEY not stored")),
    Frame(FrameType.ANSWER, 0x13, Command.WRITE_CHUNK, bytes(range(256)) * 3),
]
STREAM = b"".join(f.encode() for f in FRAMES)


def test_decoder_splits_concatenated_frames():
    assert FrameDecoder().feed(STREAM) == FRAMES


def test_decoder_handles_frames_split_at_every_byte_position():
    for cut in range(len(STREAM) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:]) == FRAMES, cut


def test_decoder_handles_byte_by_byte_feed():
    decoder = FrameDecoder()
    results = []
    for byte in STREAM:
        results += decoder.feed(bytes([byte]))
    assert results == FRAMES


def test_decoder_returns_nothing_until_the_delimiter():
    decoder = FrameDecoder()
    wire = FRAMES[0].encode()
    assert decoder.feed(wire[:-1]) == []
    assert decoder.buffered == len(wire) - 1
    assert decoder.feed(b"\x00") == [FRAMES[0]]
    assert decoder.buffered == 0


def test_decoder_ignores_leading_and_repeated_delimiters():
    wire = FRAMES[0].encode()
    assert FrameDecoder().feed(b"\x00\x00\x00" + wire + b"\x00\x00" + wire) == [
        FRAMES[0],
        FRAMES[0],
    ]


def test_decoder_reports_binary_garbage_as_frame_error_and_resyncs_at_next_delimiter():
    results = FrameDecoder().feed(b"\x85\xfe\x03 noise\x00" + STREAM)
    assert isinstance(results[0], FrameError)
    assert results[1:] == FRAMES


def test_decoder_drops_board_text_ended_by_a_delimiter_without_an_error():
    decoder = FrameDecoder()
    assert decoder.feed(b"boot: ACME loader 2.1\r\n\tok\x00" + STREAM) == FRAMES
    assert decoder.text_chunks == 1


def test_decoder_drops_a_log_longer_than_a_frame_silently_and_keeps_the_next_frame():
    decoder = FrameDecoder()
    log = b"I (1234) prov: " + b"x" * (2 * MAX_ENCODED_FRAME) + b"\r\n"
    assert decoder.feed(log + b"\x00" + STREAM) == FRAMES
    assert decoder.text_chunks == 1


def test_decoder_loses_a_frame_glued_to_garbage_but_recovers_with_the_next():
    # No delimiter between the noise and the frame: that one frame is damaged, the next is fine.
    results = FrameDecoder().feed(b"noise" + FRAMES[0].encode() + FRAMES[1].encode())
    assert len(results) == 2
    assert isinstance(results[0], FrameError)
    assert results[1] == FRAMES[1]


def test_decoder_returns_errors_instead_of_raising():
    results = FrameDecoder().feed(b"\x05\x01\x00\x01\x02\x03\x00")
    assert results and all(isinstance(r, FrameError) for r in results)


def test_decoder_overflow_reports_frame_too_long_once_and_bounds_its_buffer():
    decoder = FrameDecoder()
    results = decoder.feed(b"\x85" * (MAX_ENCODED_FRAME + 1))
    assert len(results) == 1 and isinstance(results[0], FrameTooLong)
    assert decoder.buffered <= MAX_ENCODED_FRAME
    for _ in range(20):  # 20 more frames' worth of noise: no new report, no growth
        assert decoder.feed(b"\x55" * 1000) == []
        assert decoder.buffered <= MAX_ENCODED_FRAME


def test_decoder_overflow_discards_up_to_next_delimiter_then_decodes_again():
    decoder = FrameDecoder()
    noise = b"\x55" * 3000
    # A valid-looking frame right after the overflow but before the delimiter is part of the noise.
    results = decoder.feed(noise + FRAMES[0].encode()[:-1])
    assert [type(r) for r in results] == [FrameTooLong]
    assert decoder.feed(b"\x00" + FRAMES[1].encode()) == [FRAMES[1]]


def test_decoder_buffer_never_exceeds_max_when_fed_byte_by_byte():
    decoder = FrameDecoder()
    for _ in range(3 * MAX_ENCODED_FRAME):
        decoder.feed(b"\x77")
        assert decoder.buffered <= MAX_ENCODED_FRAME


def test_decoder_reset_drops_a_partial_frame():
    decoder = FrameDecoder()
    decoder.feed(b"partial")
    decoder.reset()
    assert decoder.buffered == 0
    assert decoder.feed(FRAMES[0].encode()) == [FRAMES[0]]


# -- properties -------------------------------------------------------------

frames_strategy = st.builds(
    Frame,
    type=st.sampled_from(list(FrameType)),
    seq=st.integers(0, 255),
    cmd=st.integers(0, 255),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


def feed_in_pieces(decoder: FrameDecoder, stream: bytes, cuts: list[int]) -> list:
    results = []
    points = sorted({c % (len(stream) + 1) for c in cuts}) if stream else []
    start = 0
    for point in [*points, len(stream)]:
        results += decoder.feed(stream[start:point])
        assert decoder.buffered <= MAX_ENCODED_FRAME
        start = point
    return results


@PROPERTY
@given(
    frames=st.lists(frames_strategy, max_size=6), cuts=st.lists(st.integers(0, 10_000), max_size=30)
)
def test_property_frames_survive_encoding_and_random_piecewise_decoding(frames, cuts):
    stream = b"".join(f.encode() for f in frames)
    assert feed_in_pieces(FrameDecoder(), stream, cuts) == frames


def mutate(data: bytes, draw) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "set_zero"]))
        position = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[position] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            buf.insert(position, draw(st.integers(0, 255)))
        elif op == "delete" and buf:
            del buf[position]
        elif op == "truncate":
            del buf[position:]
        elif op == "set_zero" and buf:
            buf[position] = 0
    return bytes(buf)


def check_decoder_output(stream: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder()
    for item in feed_in_pieces(decoder, stream, cuts):
        assert isinstance(item, Frame | FrameError)


@PROPERTY
@given(data=st.binary(max_size=4000), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_property_random_bytes_yield_only_frames_or_errors(data, cuts):
    check_decoder_output(data, cuts)


@PROPERTY
@given(
    runs=st.lists(
        st.binary(min_size=0, max_size=2500).map(lambda b: b.replace(b"\x00", b"\x01")), max_size=4
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_property_long_runs_without_delimiter_keep_the_buffer_bounded(runs, cuts):
    check_decoder_output(b"\x00".join(runs), cuts)


@PROPERTY
@given(
    frames=st.lists(frames_strategy, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    data=st.data(),
)
def test_property_mutated_frames_yield_only_frames_or_errors(frames, cuts, data):
    stream = mutate(b"".join(f.encode() for f in frames), data.draw)
    check_decoder_output(stream, cuts)


@PROPERTY
@given(st.binary(max_size=MAX_ENCODED_FRAME + 40))
def test_property_decode_body_raises_only_frame_error(data):
    try:
        frame = decode_body(data)
    except FrameError:
        return
    assert isinstance(frame, Frame)


@PROPERTY
@given(frame=frames_strategy, data=st.data())
def test_property_decode_body_of_mutated_frame_raises_only_frame_error(frame, data):
    mutated = mutate(frame.encode()[:-1], data.draw)
    try:
        decoded = decode_body(mutated)
    except FrameError:
        return
    assert isinstance(decoded, Frame)


UNPACKERS = {
    "Hello.unpack": Hello.unpack,
    "ObjectDigest.unpack": ObjectDigest.unpack,
    "unpack_str8": unpack_str8,
    "unpack_error": unpack_error,
}


@pytest.mark.parametrize("name", sorted(UNPACKERS))
@PROPERTY
@given(data=st.binary(max_size=600))
def test_property_payload_unpackers_raise_only_payload_error(name, data):
    try:
        UNPACKERS[name](data)
    except PayloadError:
        pass


# -- payload layouts -----------------------------------------------------------


def test_hello_round_trip():
    hello = Hello(1, 1024, "ACME-GW-2", "1.4.0")
    assert hello.pack() == bytes.fromhex("01 04 00 09") + b"ACME-GW-2" + b"\x051.4.0"
    assert Hello.unpack(hello.pack()) == hello


def test_hello_rejects_trailing_bytes():
    with pytest.raises(PayloadError):
        Hello.unpack(Hello(1, 64, "m", "f").pack() + b"x")


def test_object_digest_round_trip_and_size():
    digest = ObjectDigest.of(b"EXAMPLE ROOT CA\n")
    assert digest.size == 16 and len(digest.pack()) == 36
    assert ObjectDigest.unpack(digest.pack()) == digest


@pytest.mark.parametrize("size", [0, 35, 37])
def test_object_digest_requires_36_bytes(size):
    with pytest.raises(PayloadError):
        ObjectDigest.unpack(bytes(size))


def test_str8_round_trip_and_end_offset():
    packed = b"\xff" + pack_str8("SN0001234") + b"tail"
    assert unpack_str8(packed, 1) == ("SN0001234", 11)


def test_str8_rejects_strings_over_255_bytes():
    with pytest.raises(PayloadError):
        pack_str8("x" * 256)


@pytest.mark.parametrize("data", [b"", b"\x05abc", b"\x02\xff\xfe"])
def test_unpack_str8_rejects_malformed(data):
    with pytest.raises(PayloadError):
        unpack_str8(data)


def test_error_payload_round_trip_and_text_limit():
    packed = pack_error(0x05, "x" * 500)
    assert len(packed) == 1 + 120
    assert unpack_error(packed) == ("STORAGE_FULL", "x" * 120)


def test_unknown_error_code_gets_a_stable_name():
    assert unpack_error(b"\x42") == ("UNKNOWN_0x42", "")


def test_empty_error_payload_is_rejected():
    with pytest.raises(PayloadError):
        unpack_error(b"")


# -- board text (protocol 1.1, section 1) ----------------------------------------------------

TEXT = st.text(alphabet=st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t", "\r", "\n"]), min_size=1)


@PROPERTY
@given(frame=frames_strategy)
def test_property_no_frame_is_ever_taken_for_board_text(frame):
    # Its first COBS code is at most 4 (a zero sits in the header) or the header holds a length
    # byte 0x01..0x04: either way a control byte that is not TAB, CR or LF.
    assert not is_board_text(frame.encode()[:-1])


@PROPERTY
@given(frames=st.lists(frames_strategy, max_size=5), logs=st.lists(TEXT, max_size=5), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_property_logs_ended_by_a_delimiter_leave_exactly_the_frames(frames, logs, cuts):
    stream = b"".join(
        log.encode() + b"\x00" + frame.encode() for log, frame in zip(logs + [""] * len(frames), frames, strict=False)
    ) + b"".join(log.encode() + b"\x00" for log in logs[len(frames):])
    assert feed_in_pieces(FrameDecoder(), stream, cuts) == frames
