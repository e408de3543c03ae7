"""docs/protocol.md section 6, byte for byte, against the frame code, the simulator and the driver.

The example session in the published spec is parsed from the Markdown itself, so the
document, ``flashing.frames``, the reference board (``AgentBoardModel``) and the station's
driver (``AgentBoard``) can only drift apart by failing this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flashing import cobs
from flashing.agent import AgentBoard, AgentTimeouts
from flashing.errors import BoardRefused
from flashing.frames import Frame, FrameDecoder, FrameError, decode_body, encode_frame
from flashing.protocol import (
    Command,
    ErrorCode,
    FrameType,
    Hello,
    ObjectDigest,
    ObjectId,
    unpack_str8,
)
from flashing.sim.agent_model import AgentBoardModel

pytestmark = pytest.mark.timeout(20)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOC_KEY_SECRET = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF
DOC_SERIAL = "SN0001234"


@dataclass
class DocFrame:
    section: str  # the ### heading
    direction: str  # "request" or "answer"
    note: str  # the line that introduces the block
    declared_size: int
    wire: bytes

    @property
    def frame(self) -> Frame:
        raw = self.wire[1:] if self.direction == "request" else self.wire
        assert raw.endswith(b"\x00")
        return decode_body(raw[:-1])


def section_6() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## 6.")
    return text[start : text.index("\n## ", start + 1)]


def parse_doc_frames() -> list[DocFrame]:
    frames = []
    for part in re.split(r"^### ", section_6(), flags=re.M)[1:]:
        heading = part.splitlines()[0].strip()
        pattern = r"^(station → board|board → station)([^\n]*?)\((?:[^\n]*?, )?(\d+) bytes[^\n]*\):\n```\n([0-9a-f \n]+)```"
        for match in re.finditer(pattern, part, flags=re.M):
            direction = "request" if match[1] == "station → board" else "answer"
            wire = bytes.fromhex(match[4])
            frames.append(
                DocFrame(heading, direction, match[0].splitlines()[0], int(match[3]), wire)
            )
    return frames


DOC_FRAMES = parse_doc_frames()
REQUESTS = [f for f in DOC_FRAMES if f.direction == "request"]


def answers_to(request: DocFrame) -> list[DocFrame]:
    return [f for f in DOC_FRAMES if f.direction == "answer" and f.section == request.section]


def command_named_in(heading: str) -> Command:
    return Command[re.match(r"[A-Z_]+", heading)[0]]


def frame_id(doc_frame: DocFrame) -> str:
    return f"{doc_frame.section.split(':')[0]}/{doc_frame.direction}/{doc_frame.note.split('(')[1].split(' ')[0]}"


@pytest.fixture
def doc_key(monkeypatch) -> ec.EllipticCurvePrivateKey:
    """The deterministic device key used to generate the doc (random keys otherwise)."""
    key = ec.derive_private_key(DOC_KEY_SECRET, ec.SECP256R1())
    monkeypatch.setattr("flashing.sim.agent_model.ec.generate_private_key", lambda *a, **k: key)
    return key


# -- the document itself -----------------------------------------------------


def test_doc_section_6_has_the_whole_example_session():
    assert [command_named_in(r.section) for r in REQUESTS] == [
        Command.HELLO,
        Command.READ_SERIAL,
        Command.WRITE_BEGIN,
        Command.WRITE_CHUNK,
        Command.WRITE_END,
        Command.READ_DIGEST,
        Command.READ_DIGEST,
        Command.KEYGEN,
        Command.GET_CSR,
        Command.COMMIT,
    ]
    assert all(len(answers_to(r)) >= 1 for r in REQUESTS)
    assert len(DOC_FRAMES) == 21  # 10 requests, 10 answers, 1 PROGRESS


@pytest.mark.parametrize("doc_frame", DOC_FRAMES, ids=frame_id)
def test_doc_frame_has_the_size_it_declares(doc_frame):
    assert len(doc_frame.wire) == doc_frame.declared_size


@pytest.mark.parametrize("doc_frame", DOC_FRAMES, ids=frame_id)
def test_doc_frame_is_valid_and_reencodes_to_the_same_bytes(doc_frame):
    frame = doc_frame.frame  # raises FrameError on bad COBS, length or CRC
    wire = encode_frame(frame.type, frame.seq, frame.cmd, frame.payload)
    assert (b"\x00" + wire if doc_frame.direction == "request" else wire) == doc_frame.wire


@pytest.mark.parametrize("request_frame", REQUESTS, ids=frame_id)
def test_doc_request_has_a_leading_delimiter_and_the_heading_s_command(request_frame):
    assert request_frame.wire[0] == 0
    assert "leading 00 included" in request_frame.note
    frame = request_frame.frame
    assert frame.type == FrameType.REQUEST
    assert frame.cmd == command_named_in(request_frame.section)


@pytest.mark.parametrize("request_frame", REQUESTS, ids=frame_id)
def test_doc_answers_repeat_the_request_s_seq_and_cmd_with_the_right_type(request_frame):
    request = request_frame.frame
    heading = request_frame.section
    for answer_frame in answers_to(request_frame):
        answer = answer_frame.frame
        assert (answer.seq, answer.cmd) == (request.seq, request.cmd)
        if "PROGRESS" in answer_frame.note:
            assert answer.type == FrameType.PROGRESS and answer.payload == b""
        elif re.search(r"\berror\b|\brefused\b", heading):
            assert answer.type == FrameType.ERROR
            named = [code.name for code in ErrorCode if code.name in heading]
            assert named == [ErrorCode.name_of(answer.payload[0])]
        else:
            assert answer.type == FrameType.ANSWER


def test_doc_session_starts_at_seq_0x10_and_increments_by_one():
    seqs = [r.frame.seq for r in REQUESTS]
    assert seqs[0] == 0x10
    assert seqs == list(range(0x10, 0x10 + len(seqs)))


def test_doc_payloads_say_what_the_text_says():
    by_cmd = {command_named_in(r.section): answers_to(r)[-1].frame for r in REQUESTS}
    hello = Hello.unpack(by_cmd[Command.HELLO].payload)
    assert hello == Hello(2, 1024, "ACME-GW-2", "1.4.0")
    assert unpack_str8(by_cmd[Command.READ_SERIAL].payload) == (DOC_SERIAL, 10)
    root = ObjectDigest.of(b"EXAMPLE ROOT CA\n")
    write_begin = next(r.frame for r in REQUESTS if r.frame.cmd == Command.WRITE_BEGIN)
    assert write_begin.payload == bytes([ObjectId.ROOT_CA]) + root.pack()
    write_chunk = next(r.frame for r in REQUESTS if r.frame.cmd == Command.WRITE_CHUNK)
    assert write_chunk.payload == b"\x01\x00\x00\x00\x00EXAMPLE ROOT CA\n"
    assert by_cmd[Command.WRITE_CHUNK].payload == (16).to_bytes(4, "big")
    assert ObjectDigest.unpack(by_cmd[Command.WRITE_END].payload) == root


def test_doc_csr_is_signed_for_cn_serial_with_the_keygen_key():
    keygen = next(r for r in REQUESTS if r.frame.cmd == Command.KEYGEN)
    public_der = answers_to(keygen)[-1].frame.payload
    get_csr = next(r for r in REQUESTS if r.frame.cmd == Command.GET_CSR)
    csr = x509.load_der_x509_csr(answers_to(get_csr)[-1].frame.payload)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DOC_SERIAL
    assert len(csr.subject) == 1
    assert csr.is_signature_valid
    assert (
        csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_der
    )


def test_doc_keygen_answer_is_the_key_derived_from_the_doc_secret():
    key = ec.derive_private_key(DOC_KEY_SECRET, ec.SECP256R1())
    keygen = next(r for r in REQUESTS if r.frame.cmd == Command.KEYGEN)
    assert answers_to(keygen)[-1].frame.payload == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- the worked example ----------------------------------------------------------


def test_decoding_one_frame_by_hand_example():
    text = section_6()
    worked = text[text.index("### Decoding one frame by hand") :]
    wire = bytes.fromhex(re.search(r"The READ_SERIAL answer above, `([0-9a-f ]+)`", worked)[1])
    serial_request = next(r for r in REQUESTS if r.frame.cmd == Command.READ_SERIAL)
    assert wire == answers_to(serial_request)[-1].wire  # "above" is really the frame above

    assert wire[0] == 0x04 and wire[-1] == 0x00
    body = cobs.decode(wire[:-1])
    assert body[:4] == bytes.fromhex("41 11 02 00")  # code 04: 3 bytes then a restored 00
    assert wire[4] == 0x10 and len(wire[5:-1]) == 15  # code 10 (16): the remaining 15 bytes

    def stated(field: str) -> bytes:
        return bytes.fromhex(re.search(field + r"\s+`([0-9a-f ]+)`", worked)[1])

    assert body[0:1] == stated("type")
    assert body[1:2] == stated("seq")
    assert body[2:3] == stated("cmd")
    assert body[3:5] == stated("length")
    assert body[5:-4] == stated("payload")
    assert body[-4:] == stated("CRC")
    frame = decode_body(wire[:-1])
    assert (frame.type, frame.seq, frame.cmd) == (FrameType.ANSWER, 0x11, Command.READ_SERIAL)
    assert unpack_str8(frame.payload) == (DOC_SERIAL, 10)


# -- the reference board answers the doc's requests with the doc's answers -----------


def test_reference_board_answers_every_doc_request_byte_for_byte(doc_key):
    model = AgentBoardModel(DOC_SERIAL, model="ACME-GW-2", firmware="1.4.0")
    for request_frame in REQUESTS:
        request = request_frame.frame
        expected = answers_to(request_frame)
        if "PROGRESS" in expected[0].note:
            assert model.progress(request) == expected[0].wire
        answer = model.handle(request)
        if request.cmd == Command.GET_CSR:
            continue  # checked below: the ECDSA signature is randomised
        assert answer == expected[-1].wire, request_frame.section


def test_reference_board_csr_for_the_doc_request_is_valid_and_for_the_serial(doc_key):
    model = AgentBoardModel(DOC_SERIAL, model="ACME-GW-2", firmware="1.4.0")
    answers = {
        r.frame.cmd: model.handle(r.frame) for r in REQUESTS if r.frame.cmd <= Command.GET_CSR
    }
    get_csr = next(r for r in REQUESTS if r.frame.cmd == Command.GET_CSR)
    doc_answer = answers_to(get_csr)[-1].frame
    answer = decode_body(answers[Command.GET_CSR][:-1])
    assert (answer.type, answer.seq, answer.cmd) == (
        doc_answer.type,
        doc_answer.seq,
        doc_answer.cmd,
    )
    csr = x509.load_der_x509_csr(answer.payload)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DOC_SERIAL
    assert csr.is_signature_valid
    doc_csr = x509.load_der_x509_csr(doc_answer.payload)
    assert csr.public_key() == doc_csr.public_key() == doc_key.public_key()
    assert csr.tbs_certrequest_bytes == doc_csr.tbs_certrequest_bytes  # only the signature differs


# -- the driver sends the doc's requests and understands the doc's answers --------------


class ReplayTransport:
    """Stands in for SerialTransport: answers each exact request with the doc's answer bytes."""

    baudrate = 115200

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._pending: list[Frame | FrameError] = []
        self._decoder = FrameDecoder()
        self._answers = {r.wire: b"".join(a.wire for a in answers_to(r)) for r in REQUESTS}

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        assert data in self._answers, (
            f"driver sent a request the doc does not show: {data.hex(' ')}"
        )
        self._pending += self._decoder.feed(self._answers[data])

    def receive(self, deadline: float) -> list[Frame | FrameError]:
        items, self._pending = self._pending, []
        return items

    def discard_input(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        pass


def doc_requests(*commands: Command) -> list[bytes]:
    return [r.wire for r in REQUESTS if r.frame.cmd in commands]


def driver_at(seq_before: int) -> tuple[AgentBoard, ReplayTransport]:
    transport = ReplayTransport()
    timeouts = AgentTimeouts(answer=0.0, retries=0)
    return AgentBoard(transport, timeouts=timeouts, first_seq=seq_before), transport  # type: ignore[arg-type]


def test_driver_identify_and_read_serial_send_the_doc_bytes():
    driver, transport = driver_at(0x0F)
    identity = driver.identify()
    assert (identity.model, identity.firmware, identity.protocol) == (
        "ACME-GW-2",
        "1.4.0",
        "agent/1.1",
    )
    assert driver.read_serial() == DOC_SERIAL
    assert transport.sent == doc_requests(Command.HELLO, Command.READ_SERIAL)


def test_driver_writes_the_doc_root_ca_with_the_doc_bytes():
    driver, transport = driver_at(0x11)
    driver._write_object(ObjectId.ROOT_CA, b"EXAMPLE ROOT CA\n")
    assert transport.sent == doc_requests(
        Command.WRITE_BEGIN, Command.WRITE_CHUNK, Command.WRITE_END
    )


def test_driver_generate_csr_sends_the_doc_bytes_and_returns_the_doc_csr():
    driver, transport = driver_at(0x16)
    csr = driver.generate_csr(DOC_SERIAL)
    assert transport.sent == doc_requests(Command.KEYGEN, Command.GET_CSR)
    get_csr = next(r for r in REQUESTS if r.frame.cmd == Command.GET_CSR)
    assert csr == answers_to(get_csr)[-1].frame.payload


def test_driver_reports_the_doc_commit_error_as_board_bad_state():
    driver, transport = driver_at(0x18)
    with pytest.raises(BoardRefused) as caught:
        driver.commit()
    assert caught.value.code == "BOARD_BAD_STATE"
    assert caught.value.board_code == "BAD_STATE"
    assert "CLAIM_CERT, CLAIM_KEY" in caught.value.message
    assert transport.sent == doc_requests(Command.COMMIT)
