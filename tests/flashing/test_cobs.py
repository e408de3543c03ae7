"""COBS (Cheshire and Baker 1999) as docs/protocol.md section 2 describes it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashing import cobs

RUN_254 = bytes(range(1, 255))  # 01 02 .. FE: 254 non-zero bytes
RUN_255 = bytes(range(1, 256))  # 01 02 .. FF: 255 non-zero bytes

# (data, encoding) pairs from the COBS paper and the Wikipedia article's examples;
# the encodings here carry no trailing 0x00 delimiter.
KNOWN_VECTORS = [
    pytest.param(b"\x00", b"\x01\x01", id="00"),
    pytest.param(b"\x00\x00", b"\x01\x01\x01", id="00_00"),
    pytest.param(b"\x00\x11\x00", b"\x01\x02\x11\x01", id="00_11_00"),
    pytest.param(b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33", id="11_22_00_33"),
    pytest.param(b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44", id="11_22_33_44"),
    pytest.param(b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01", id="11_00_00_00"),
    pytest.param(b"", b"\x01", id="empty"),
    pytest.param(RUN_255, b"\xff" + RUN_254 + b"\x02\xff", id="255_bytes_01_to_FF"),
    pytest.param(
        bytes(range(2, 256)) + b"\x00",
        b"\xff" + bytes(range(2, 256)) + b"\x01\x01",
        id="02_to_FF_00",
    ),
    pytest.param(
        bytes(range(3, 256)) + b"\x00\x01",
        b"\xfe" + bytes(range(3, 256)) + b"\x02\x01",
        id="03_to_FF_00_01",
    ),
]


@pytest.mark.parametrize(("data", "encoded"), KNOWN_VECTORS)
def test_encode_matches_known_vector(data, encoded):
    assert cobs.encode(data) == encoded


@pytest.mark.parametrize(("data", "encoded"), KNOWN_VECTORS)
def test_decode_matches_known_vector(data, encoded):
    assert cobs.decode(encoded) == data


def test_encode_of_254_nonzero_bytes_ends_with_an_empty_block_as_the_spec_describes():
    # docs/protocol.md: "cut the body at each 0x00 (and after every 254 non-zero bytes)";
    # cutting after the 254th byte leaves an empty last block, written as code 01. This is
    # also what the paper's reference encoder emits (Wikipedia's drops the final 01).
    assert cobs.encode(RUN_254) == b"\xff" + RUN_254 + b"\x01"


def test_decode_accepts_the_shorter_wikipedia_encoding_of_254_nonzero_bytes():
    # A board using Wikipedia's encoder sends FF + 254 bytes with no final block.
    assert cobs.decode(b"\xff" + RUN_254) == RUN_254


def test_encode_of_zero_then_254_nonzero_bytes():
    assert cobs.encode(b"\x00" + RUN_254) == b"\x01\xff" + RUN_254 + b"\x01"
    assert cobs.decode(b"\x01\xff" + RUN_254) == b"\x00" + RUN_254


@pytest.mark.parametrize("size", [0, 1, 253, 254, 255, 508, 509, 1033, 2000])
def test_encoded_output_never_contains_zero_and_overhead_is_bounded(size):
    data = bytes((i * 7 + 3) % 256 for i in range(size))  # zeros sprinkled in
    run = b"\x01" * size  # no zeros at all: the worst case
    for sample in (data, run):
        encoded = cobs.encode(sample)
        assert 0 not in encoded
        assert len(encoded) <= len(sample) + len(sample) // 254 + 1
        assert cobs.decode(encoded) == sample


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\x05\x11\x22", id="block_runs_past_end"),
        pytest.param(b"\x03\x11\x00", id="zero_inside_block"),
        pytest.param(b"\x00", id="zero_code_byte"),
        pytest.param(b"\x02\x11\x00\x01", id="zero_code_after_block"),
    ],
)
def test_decode_rejects_invalid_encoding(bad):
    with pytest.raises(cobs.CobsDecodeError):
        cobs.decode(bad)


@given(st.binary(max_size=3000))
def test_round_trip_of_any_bytes(data):
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert cobs.decode(encoded) == data


@given(st.binary(max_size=600))
def test_decode_of_arbitrary_bytes_raises_only_cobs_decode_error(data):
    try:
        decoded = cobs.decode(data)
    except cobs.CobsDecodeError:
        return
    assert isinstance(decoded, bytes)
