"""The driver against a hand-written board that knows only docs/protocol.md.

The board below reads raw bytes from a real pseudo-terminal and answers with byte strings
copied from the spec or built here with struct + zlib + a COBS written in this file. It
does not import ``flashing.frames``, ``flashing.cobs`` or the simulator, so these tests
show the driver follows the published protocol, not merely our own simulator.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import ClaimBundle, ClaimObject
from flashing.errors import BoardRefused, BoardTimeout, ProtocolError
from flashing.probe import PROBE_WAIT
from flashing.sim.links import LinkClosed, PtyLink
from flashing.transport import SerialTransport

pytestmark = pytest.mark.timeout(20)

FAST = AgentTimeouts(answer=0.2, retries=2, keygen=10.0)

# Frames copied from docs/protocol.md section 6 (requests with their leading 00).
DOC = {
    name: bytes.fromhex(hexes)
    for name, hexes in {
        "hello_q": "00 04 51 10 01 08 02 01 02 d2 e9 92 55 00",
        "hello_a": "04 41 10 01 04 13 02 04 15 09 41 43 4d 45 2d 47 57 2d 32 05 31 2e 34 2e 30 1b dc 50 7c 00",
        "serial_q": "00 04 51 11 02 01 05 28 70 f5 f2 00",
        "serial_a": "04 41 11 02 10 0a 09 53 4e 30 30 30 31 32 33 34 e1 df 30 c7 00",
        "keygen_q": "00 04 51 17 20 07 01 01 6a fe 9f 8a 00",
        "keygen_p": "04 50 17 20 01 05 0b b2 11 10 00",
        "keygen_a": (
            "04 41 17 20 1b 5b 30 59 30 13 06 07 2a 86 48 ce 3d 02 01 06 08 2a 86 48 ce 3d 03 01 07 03 42"
            " 46 04 47 1c 3e 75 8c 49 04 28 5b ba 7e 53 11 8e d0 f5 24 ad eb 07 57 d2 5b d2 f8 e7 b0 d7"
            " 6d fa 71 4c dd 52 0f 7a ca 8a 8b 91 7a cc 37 f5 1d e8 f0 c9 bb e3 ad 85 83 82 e7 02 dc 25"
            " a1 2d 09 f7 a8 58 fb 99 79 14 00"
        ),
        "csr_q": "00 04 51 18 21 10 0a 09 53 4e 30 30 30 31 32 33 34 05 5f 77 f3 00",
        "csr_a": (
            "04 41 18 21 09 d1 30 81 ce 30 76 02 01 30 30 14 31 12 30 10 06 03 55 04 03 0c 09 53 4e 30"
            " 30 30 31 32 33 34 30 59 30 13 06 07 2a 86 48 ce 3d 02 01 06 08 2a 86 48 ce 3d 03 01 07 03"
            " 42 43 04 47 1c 3e 75 8c 49 04 28 5b ba 7e 53 11 8e d0 f5 24 ad eb 07 57 d2 5b d2 f8 e7 b0"
            " d7 6d fa 71 4c dd 52 0f 7a ca 8a 8b 91 7a cc 37 f5 1d e8 f0 c9 bb e3 ad 85 83 82 e7 02 dc"
            " 25 a1 2d 09 f7 a8 58 a0 0f 30 0a 06 08 2a 86 48 ce 3d 04 03 02 03 48 27 30 45 02 20 4b 5d"
            " ce 25 d7 ca fb 5d ac 6e 68 e0 25 3a e0 18 8c e1 fd ed 96 92 a7 d8 4c 56 95 2e 21 13 c2 3b"
            " 02 21 25 a6 dc 51 a7 db e5 83 50 19 c2 06 15 66 d9 f6 d5 f6 8b 9b 9f 53 39 38 44 12 c2 a6"
            " 70 99 85 53 69 b0 16 56 28 00"
        ),
        "commit_q": "00 04 51 19 30 01 05 ca 2b ec e3 00",
        "commit_e": (
            "04 45 19 30 25 1f 03 6d 69 73 73 69 6e 67 3a 20 43 4c 41 49 4d 5f 43 45 52 54 2c 20 43 4c"
            " 41 49 4d 5f 4b 45 59 df c5 63 3f 00"
        ),
    }.items()
}
DOC_ANSWERS = {
    DOC["hello_q"]: DOC["hello_a"],
    DOC["serial_q"]: DOC["serial_a"],
    DOC["csr_q"]: DOC["csr_a"],
    DOC["commit_q"]: DOC["commit_e"],
}

# -- the spec, written out independently -------------------------------------------------


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    for part in data.split(b"\x00"):
        while len(part) >= 254:
            out += b"\xff" + part[:254]
            part = part[254:]
        out += bytes([len(part) + 1]) + part
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise ValueError("bad COBS")
        out += data[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def build(kind: bytes, seq: int, cmd: int, payload: bytes = b"") -> bytes:
    """A board → station frame: COBS(type seq cmd len payload crc) 00."""
    body = kind + struct.pack(">BBH", seq, cmd, len(payload)) + payload
    return cobs_encode(body + struct.pack(">I", zlib.crc32(body))) + b"\x00"


@dataclass(frozen=True)
class Request:
    raw: bytes  # COBS bytes as received, no delimiter
    seq: int
    cmd: int
    payload: bytes


def parse_request(raw: bytes) -> Request:
    body = cobs_decode(raw)
    assert len(body) >= 9, "request shorter than 9 bytes"
    kind, seq, cmd, length = struct.unpack(">BBBH", body[:5])
    assert kind == 0x51, f"not a request: type 0x{kind:02x}"
    assert length == len(body) - 9, "length field does not match"
    assert struct.unpack(">I", body[-4:])[0] == zlib.crc32(body[:-4]), "bad CRC"
    return Request(raw, seq, cmd, body[5:-4])


Reply = bytes | float  # bytes to write, or seconds to wait

AT_QUESTION = b"AT\r\n\x00"
"""What a host sends after a first HELLO met silence, to name a modem (section 3)."""


class HandBoard:
    """A board thread on a pty: ``respond(request, board)`` returns what to send back."""

    def __init__(self, respond: Callable[[Request, HandBoard], list[Reply]]) -> None:
        self.link = PtyLink()
        self.port = self.link.port
        self.respond = respond
        self.received = bytearray()  # every byte the station sent, in order
        self.requests: list[Request] = []
        self.dropped: list[bytes] = []  # chunks that are no valid request, dropped unanswered (section 2.3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = bytearray()
        try:
            while not self._stop.is_set():
                data = self.link.read(0.02)
                self.received += data
                pending += data
                while 0 in pending:
                    end = pending.index(0)
                    raw = bytes(pending[:end])
                    del pending[: end + 1]
                    if not raw:
                        continue
                    try:
                        request = parse_request(raw)
                    except (AssertionError, ValueError, struct.error):
                        self.dropped.append(raw)
                        continue
                    self.requests.append(request)
                    for reply in self.respond(request, self):
                        if self._stop.is_set():
                            return
                        if isinstance(reply, float):
                            self._stop.wait(reply)
                        else:
                            self.link.write(reply)
        except LinkClosed:
            pass

    def count(self, cmd: int) -> int:
        return sum(r.cmd == cmd for r in self.requests)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.link.drop()


@pytest.fixture
def hand_board():
    boards: list[HandBoard] = []
    drivers: list[AgentBoard] = []

    def start(
        respond, *, first_seq: int, timeouts: AgentTimeouts = FAST
    ) -> tuple[HandBoard, AgentBoard]:
        board = HandBoard(respond)
        boards.append(board)
        driver = AgentBoard(SerialTransport(board.port), timeouts=timeouts, first_seq=first_seq)
        drivers.append(driver)
        return board, driver

    yield start
    for driver in drivers:
        driver.close()
    for board in boards:
        board.stop()


def doc_board(request: Request, board: HandBoard) -> list[Reply]:
    """Answer exactly the doc's requests with the doc's answers; stay silent otherwise."""
    answer = DOC_ANSWERS.get(b"\x00" + request.raw + b"\x00")
    return [answer] if answer else []


# -- a small but complete board, for whole exchanges ------------------------------------

DEVICE_KEY = ec.generate_private_key(ec.SECP256R1())


class MiniBoard:
    """Section 4 of the spec in a few lines (no error paths), announcing a small max_payload."""

    def __init__(self, max_payload: int = 64) -> None:
        self.max_payload = max_payload
        self.uploads: dict[int, tuple[int, bytes, bytearray]] = {}
        self.stored: dict[int, bytes] = {}
        self.committed = False

    def __call__(self, request: Request, board: HandBoard) -> list[Reply]:
        p, seq, cmd = request.payload, request.seq, request.cmd
        if cmd == 0x01:
            answer = struct.pack(">BH", 1, self.max_payload) + b"\x04MINI" + b"\x030.1"
        elif cmd == 0x02:
            answer = b"\x08MINI0001"
        elif cmd == 0x10:
            self.uploads[p[0]] = (struct.unpack(">I", p[1:5])[0], p[5:37], bytearray())
            answer = b""
        elif cmd == 0x11:
            data = self.uploads[p[0]][2]
            offset = struct.unpack(">I", p[1:5])[0]
            data[offset : offset + len(p) - 5] = p[5:]
            answer = struct.pack(">I", len(data))
        elif cmd in (0x12, 0x13):
            if cmd == 0x12:
                self.stored[p[0]] = bytes(self.uploads.pop(p[0])[2])
            content = self.stored[p[0]]
            answer = struct.pack(">I", len(content)) + hashlib.sha256(content).digest()
        elif cmd == 0x20:
            answer = DEVICE_KEY.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        elif cmd == 0x21:
            name = p[1 : 1 + p[0]].decode()
            answer = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .sign(DEVICE_KEY, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER)
            )
        else:  # 0x30 COMMIT
            self.committed = True
            answer = b""
        return [build(b"A", seq, cmd, answer)]


def full_exchange(driver: AgentBoard, bundle: ClaimBundle) -> bytes:
    driver.identify()
    driver.read_serial()
    driver.install_claim_bundle(bundle)
    driver.read_digests()
    csr = driver.generate_csr("MINI0001")
    driver.commit()
    return csr


SMALL_BUNDLE = ClaimBundle(root_ca=b"R" * 150, claim_cert=b"C" * 70, claim_key=b"K" * 20)


def frames_sent(received: bytes) -> list[bytes]:
    return [part for part in bytes(received).split(b"\x00") if part]


# -- tests -----------------------------------------------------------------------------


def test_driver_sends_the_doc_s_exact_bytes_each_with_a_leading_delimiter(hand_board):
    board, driver = hand_board(doc_board, first_seq=0x0F)
    identity = driver.identify()
    serial = driver.read_serial()
    assert (identity.model, identity.firmware, serial) == ("ACME-GW-2", "1.4.0", "SN0001234")
    assert bytes(board.received) == DOC["hello_q"] + DOC["serial_q"]


def test_every_request_of_a_whole_exchange_is_preceded_by_a_delimiter(hand_board):
    board, driver = hand_board(MiniBoard(), first_seq=0x40)
    full_exchange(driver, SMALL_BUNDLE)
    stream = bytes(board.received)
    # 00 frame 00 00 frame 00 ...: every frame is preceded and followed by a delimiter.
    pieces = stream.split(b"\x00")
    assert pieces[0] == b"" and pieces[-1] == b""
    frames = pieces[1:-1:2]
    separators = pieces[2:-1:2]
    assert all(frames) and not any(separators)
    assert frames == [r.raw for r in board.requests]


def test_seq_increments_by_one_per_request_and_wraps_at_256(hand_board):
    board, driver = hand_board(MiniBoard(), first_seq=0xF8)
    full_exchange(driver, SMALL_BUNDLE)
    seqs = [r.seq for r in board.requests]
    assert len(seqs) > 10
    assert seqs == [(0xF9 + i) % 256 for i in range(len(seqs))]
    assert 0xFF in seqs and 0x00 in seqs


def test_whole_exchange_with_the_hand_written_board(hand_board):
    mini = MiniBoard()
    board, driver = hand_board(mini, first_seq=0)
    csr = x509.load_der_x509_csr(full_exchange(driver, SMALL_BUNDLE))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "MINI0001"
    assert mini.stored == {
        1: SMALL_BUNDLE.root_ca,
        2: SMALL_BUNDLE.claim_cert,
        3: SMALL_BUNDLE.claim_key,
    }
    assert mini.committed


def test_chunks_respect_the_max_payload_the_board_announced(hand_board):
    board, driver = hand_board(MiniBoard(max_payload=64), first_seq=0)
    full_exchange(driver, SMALL_BUNDLE)
    chunks = [r.payload for r in board.requests if r.cmd == 0x11]
    assert len(chunks) == 3 + 2 + 1  # 150 = 59+59+32, 70 = 59+11, 20
    assert max(len(c) for c in chunks) == 64
    offsets = [struct.unpack(">BI", c[:5]) for c in chunks]
    assert offsets[:3] == [(1, 0), (1, 59), (1, 118)]


def test_driver_retransmits_the_same_bytes_after_a_silent_drop(hand_board):
    def drops_first_read_serial(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x02 and board.count(0x02) == 1:
            return []  # lost on the line: no answer at all
        return doc_board(request, board)

    board, driver = hand_board(drops_first_read_serial, first_seq=0x0F)
    driver.identify()
    assert driver.read_serial() == "SN0001234"
    tries = [r.raw for r in board.requests if r.cmd == 0x02]
    assert len(tries) == 2 and tries[0] == tries[1]  # same seq, same bytes
    assert bytes(board.received) == DOC["hello_q"] + DOC["serial_q"] * 2


def test_driver_gives_up_with_board_timeout_after_retries_of_the_same_request(hand_board):
    board, driver = hand_board(lambda request, board: [], first_seq=0x0F)
    with pytest.raises(BoardTimeout):
        driver.identify()
    # After the first silent HELLO the host asks once whether the port is a modem (section 3).
    assert bytes(board.received) == DOC["hello_q"] + AT_QUESTION + DOC["hello_q"] * FAST.retries
    assert board.dropped == [AT_QUESTION[:-1]]


def test_only_a_silent_first_hello_is_followed_by_the_modem_question(hand_board):
    def drops_first_read_serial(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x02 and board.count(0x02) == 1:
            return []
        return doc_board(request, board)

    board, driver = hand_board(drops_first_read_serial, first_seq=0x0F)
    driver.identify()
    driver.read_serial()
    assert AT_QUESTION not in bytes(board.received)


def test_progress_frames_keep_keygen_alive_without_retransmission(hand_board):
    # The doc's KEYGEN, worked on for 1.2 s (several times the answer timeout) with a
    # PROGRESS frame every 0.1 s, then the doc's answer; GET_CSR gets the doc's CSR.
    def slow_keygen(request: Request, board: HandBoard) -> list[Reply]:
        if b"\x00" + request.raw + b"\x00" == DOC["keygen_q"]:
            return [DOC["keygen_p"], 0.1] * 12 + [DOC["keygen_a"]]
        return doc_board(request, board)

    board, driver = hand_board(slow_keygen, first_seq=0x16)
    start = time.monotonic()
    csr = driver.generate_csr("SN0001234")
    assert time.monotonic() - start >= 1.2
    assert board.count(0x20) == 1
    assert bytes(board.received) == DOC["keygen_q"] + DOC["csr_q"]
    assert csr == cobs_decode(DOC["csr_a"][:-1])[5:-4]


def test_keygen_gives_up_at_the_overall_limit_whatever_progress_comes(hand_board):
    # Spec section 3: "KEYGEN overall: the host gives up after 60 s whatever PROGRESS frames
    # came". A board that only ever sends PROGRESS must not hold the station longer.
    def forever_busy(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x20:
            return [build(b"P", request.seq, 0x20), 0.1] * 40  # 4 s of PROGRESS, never an answer
        return doc_board(request, board)

    timeouts = AgentTimeouts(answer=0.3, retries=2, keygen=1.0)
    board, driver = hand_board(forever_busy, first_seq=0x16, timeouts=timeouts)
    start = time.monotonic()
    with pytest.raises(BoardTimeout):
        driver.generate_csr("SN0001234")
    assert time.monotonic() - start < timeouts.keygen + 0.5


def test_driver_ignores_stale_answers_with_an_old_seq(hand_board):
    def stale_first(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x02:
            return [
                DOC["hello_a"],  # a late copy of the previous answer
                build(b"A", request.seq - 1, 0x02, b"\x09STALE0000"),  # right cmd, old seq
                build(b"A", request.seq + 1, 0x02, b"\x09AHEAD0000"),  # right cmd, wrong seq
                DOC["serial_a"],
            ]
        return doc_board(request, board)

    board, driver = hand_board(stale_first, first_seq=0x0F)
    driver.identify()
    assert driver.read_serial() == "SN0001234"
    assert board.count(0x02) == 1


def test_driver_ignores_an_answer_with_the_right_seq_but_another_cmd(hand_board):
    def wrong_cmd_first(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x02:
            return [build(b"A", request.seq, 0x01, b"\x09WRONGCMD0"), DOC["serial_a"]]
        return doc_board(request, board)

    board, driver = hand_board(wrong_cmd_first, first_seq=0x0F)
    driver.identify()
    assert driver.read_serial() == "SN0001234"


def test_driver_ignores_a_boot_banner_printed_before_the_session(hand_board):
    board, driver = hand_board(doc_board, first_seq=0x0F)
    board.link.write(b"ACME bootloader 2.1\r\nstarting agent 1.4.0...\r\n")
    time.sleep(0.1)  # the banner is in the station's input before HELLO goes out
    assert driver.identify().model == "ACME-GW-2"
    assert board.count(0x01) == 1  # no retry was needed


def test_driver_recovers_when_a_boot_banner_runs_into_the_first_answer(hand_board):
    # A board that resets when the port opens prints its banner and then answers HELLO with
    # no delimiter in between; the station drops the damaged frame and retransmits.
    def banner_then_answer(request: Request, board: HandBoard) -> list[Reply]:
        answers = doc_board(request, board)
        if board.count(0x01) == 1:
            return [b"ACME bootloader 2.1\r\nstarting agent 1.4.0...\r\n", *answers]
        return answers

    board, driver = hand_board(banner_then_answer, first_seq=0x0F)
    assert driver.identify().model == "ACME-GW-2"
    assert driver.read_serial() == "SN0001234"
    hellos = [r.raw for r in board.requests if r.cmd == 0x01]
    assert len(set(hellos)) == 1  # any retransmission carried the same seq


def test_driver_reports_an_error_answer_with_its_board_code(hand_board):
    board, driver = hand_board(doc_board, first_seq=0x18)
    with pytest.raises(BoardRefused) as caught:
        driver.commit()
    assert caught.value.code == "BOARD_BAD_STATE"
    assert caught.value.command == "COMMIT"
    assert board.count(0x30) == 1  # an error answer is an answer: no retransmission


def test_driver_reads_digests_of_all_three_objects_as_the_board_reports_them(hand_board):
    mini = MiniBoard()
    board, driver = hand_board(mini, first_seq=0)
    driver.identify()
    driver.install_claim_bundle(SMALL_BUNDLE)
    digests = driver.read_digests()
    assert digests == {obj: SMALL_BUNDLE.sha256(obj) for obj in ClaimObject}
    assert [r.payload for r in board.requests if r.cmd == 0x13] == [b"\x01", b"\x02", b"\x03"]


# -- protocol 1.1, host side ------------------------------------------------------------------


def hello_v(version: int, max_payload: int = 1024) -> bytes:
    return struct.pack(">BH", version, max_payload) + b"\x04MINI" + b"\x030.1"


def test_a_noise_burst_does_not_use_up_the_tries_before_a_late_good_answer(hand_board):
    """1.1, section 3: a burst of damaged frames right after the request, the good answer 50 ms later."""

    def respond(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x01:
            return [build(b"A", request.seq, 1, hello_v(2))]
        if board.count(0x02) > 1:
            return []  # the retransmissions get no answer of their own
        noise = [b"\x85\x13\x99\x00"] * 8  # eight damaged chunks within a few ms
        return [*noise, 0.05, build(b"A", request.seq, 2, b"\x08MINI0001")]

    board, driver = hand_board(respond, first_seq=0, timeouts=AgentTimeouts(answer=1.0, retries=3))
    driver.identify()
    assert driver.read_serial() == "MINI0001"
    assert board.count(0x02) <= 2  # tries are at least 100 ms apart: no burst of four sends


def test_the_last_try_waits_its_whole_window_despite_damage(hand_board):
    def respond(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x01:
            return [build(b"A", request.seq, 1, hello_v(2))]
        if board.count(0x02) < 3:
            return [b"\x85\x13\x99\x00"]
        return [b"\x85\x13\x99\x00", 0.15, build(b"A", request.seq, 2, b"\x08MINI0001")]

    board, driver = hand_board(respond, first_seq=0)
    driver.identify()
    assert driver.read_serial() == "MINI0001"
    assert board.count(0x02) == 1 + FAST.retries


def test_a_dead_board_costs_four_answer_windows_and_no_more(hand_board):
    board, driver = hand_board(lambda request, board: [], first_seq=0, timeouts=AgentTimeouts(answer=0.3, retries=3))
    start = time.monotonic()
    with pytest.raises(BoardTimeout):
        driver.identify()
    elapsed = time.monotonic() - start
    assert board.count(0x01) == 4
    assert 4 * 0.3 + PROBE_WAIT <= elapsed < 4 * 0.3 + PROBE_WAIT + 1.0  # and the modem question (section 3)


def test_busy_is_asked_again_with_a_new_seq(hand_board):
    def respond(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x01:
            return [build(b"A", request.seq, 1, hello_v(2))]
        if board.count(0x02) < 3:
            return [build(b"E", request.seq, 2, b"\x0abusy")]
        return [build(b"A", request.seq, 2, b"\x08MINI0001")]

    board, driver = hand_board(respond, first_seq=0, timeouts=AgentTimeouts(answer=0.2, retries=2, busy_backoff=0.01))
    driver.identify()
    assert driver.read_serial() == "MINI0001"
    seqs = [r.seq for r in board.requests if r.cmd == 0x02]
    assert len(seqs) == 3 and len(set(seqs)) == 3


def test_board_text_between_answers_is_not_a_damaged_frame(hand_board):
    def respond(request: Request, board: HandBoard) -> list[Reply]:
        answer = hello_v(2) if request.cmd == 0x01 else b"\x08MINI0001"
        return [b"I (42) agent: answering\r\n\x00", build(b"A", request.seq, request.cmd, answer), b"log\r\n\x00"]

    board, driver = hand_board(respond, first_seq=0)
    driver.identify()
    assert driver.read_serial() == "MINI0001"
    assert board.count(0x02) == 1


def test_a_version_outside_the_asked_range_is_board_protocol_not_unsupported(hand_board):
    board, driver = hand_board(lambda r, b: [build(b"A", r.seq, r.cmd, hello_v(9))], first_seq=0)
    with pytest.raises(ProtocolError) as caught:
        driver.identify()
    assert caught.value.code == "BOARD_PROTOCOL"


def test_a_1_1_board_announcing_less_than_128_is_a_protocol_error(hand_board):
    board, driver = hand_board(lambda r, b: [build(b"A", r.seq, r.cmd, hello_v(2, 64))], first_seq=0)
    with pytest.raises(ProtocolError, match="requires 128..1024"):
        driver.identify()


def test_a_64_char_serial_that_does_not_fit_a_1_0_board_s_64_byte_payload_is_refused_before_sending(hand_board):
    board, driver = hand_board(MiniBoard(max_payload=64), first_seq=0)
    driver.identify()
    with pytest.raises(ProtocolError) as caught:
        driver.generate_csr("S" * 64)
    assert caught.value.code == "BOARD_PAYLOAD_LIMIT"
    assert board.count(0x20) == 0 and board.count(0x21) == 0


@pytest.mark.parametrize(
    "code, name", [(0x01, "UNKNOWN_COMMAND"), (0x02, "BAD_REQUEST"), (0x7F, "INTERNAL"), (0x55, "UNKNOWN_0x55")]
)
def test_firmware_side_errors_do_not_tell_the_operator_to_reseat_the_cable(hand_board, code, name):
    def respond(request: Request, board: HandBoard) -> list[Reply]:
        if request.cmd == 0x01:
            return [build(b"A", request.seq, 1, hello_v(2))]
        return [build(b"E", request.seq, request.cmd, bytes([code]))]

    board, driver = hand_board(respond, first_seq=0)
    driver.identify()
    with pytest.raises(BoardRefused) as caught:
        driver.read_serial()
    assert caught.value.code == f"BOARD_{name}"
    assert "reseat" not in caught.value.hint.lower() and "engineering" in caught.value.hint
