"""The fuzzing properties (issue 9, part 5): every parser a board's bytes reach.

The rule every property checks: whatever the bytes, the only exceptions that come out are
the typed protocol errors (:data:`ALLOWED`): :class:`flashing.errors.BoardError` and its
subclasses (``FrameError``, ``ProtocolError``, ``BoardTimeout``...), ``PayloadError``, and
``CsrRejected`` for the CSR check. Anything else (``ValueError``, ``IndexError``,
``UnicodeDecodeError``...) would reach the pipeline as an INTERNAL_ERROR and is a bug.
Several properties check more (round trips, bounded buffers, resynchronisation, what an
accepted CSR must satisfy).

Each ``prop_*`` takes a :class:`Source` of choices and runs **one input**. Two sources:

* :class:`HypothesisSource` draws every choice from hypothesis (``st.data()``), so
  hypothesis explores the structure and shrinks a failure to a small example;
* :class:`RandomSource` draws from ``random.Random(key)``: hypothesis examples cost about a
  millisecond each on a line PC, so the volume of the long run (over a million inputs)
  comes from hypothesis examples that each run a batch of seeded inputs. A failure there
  names its key; :func:`replay` runs that one input again.

The two session properties drive the real drivers (:class:`~flashing.agent.AgentBoard`,
:class:`~flashing.nrf91.Nrf91Board` over a real :class:`~flashing.at.AtChannel`) through a
fake link that answers each request with a drawn mix of: the correct answer (computed by
the simulator's own board model, so sessions get deep into the protocol), that answer
damaged, stale or foreign frames, PROGRESS, protocol-shaped lines with random fields
(``%CMNG``, ``%KEYGEN``, ``+CGSN``, ``+CME ERROR``...), raw noise, or silence.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from flashing import cobs
from flashing.agent import AgentBoard, AgentTimeouts
from flashing.at import AtChannel, LineSplitter, parse_final
from flashing.board import ClaimBundle
from flashing.errors import BoardDisconnected, BoardError
from flashing.frames import Frame, FrameDecoder, FrameError, decode_body, encode_frame
from flashing.nrf91 import Nrf91Board, Nrf91Timeouts
from flashing.protocol import (
    MAX_ENCODED_FRAME,
    MAX_PAYLOAD,
    Command,
    FrameType,
    Hello,
    ObjectDigest,
    PayloadError,
    unpack_error,
    unpack_str8,
)
from flashing.sim.agent_model import AgentBoardModel
from flashing.sim.faults import FaultSet
from flashing.sim.nrf91_model import ModemFaultSet, Nrf91ModemModel, make_imei, to_explicit_null
from station.errors import CsrRejected
from station.provisioning.csr_policy import KEY_TYPES, CsrPolicy, check_csr, normalise_csr_der

ALLOWED: tuple[type[BaseException], ...] = (BoardError, PayloadError, CsrRejected)
"""The typed protocol errors; FrameError and every driver error are BoardError subclasses."""

SERIAL = "SIM000001"
IMEI = make_imei("35404599", 1)
T = TypeVar("T")

COUNTS: Counter[str] = Counter()
"""Inputs run per property (incremented by every call), for the figures."""
_COUNT_LOCK = threading.Lock()


def _count(name: str) -> None:
    with _COUNT_LOCK:
        COUNTS[name] += 1


# -- where choices come from ---------------------------------------------------------------------


class Source(Protocol):
    memo: dict[bytes, Any] | None
    """Where the fake links keep the simulator's answers by request history (see FuzzAgentLink)."""

    def integer(self, low: int, high: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...
    def binary(self, max_size: int, min_size: int = 0) -> bytes: ...
    def text(self, max_size: int, alphabet: str | None = None) -> str: ...


class HypothesisSource:
    """Every choice drawn from hypothesis: explored and shrunk by it."""

    def __init__(self, data: st.DataObject, memo: dict[bytes, Any]) -> None:
        self.data = data
        self.memo = memo

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(_integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.data.draw(_integers(0, len(options) - 1))]

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        return self.data.draw(_binaries(min_size, max_size))

    def text(self, max_size: int, alphabet: str | None = None) -> str:
        return self.data.draw(_texts(max_size, alphabet))


@cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@cache
def _binaries(min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=min_size, max_size=max_size)


@cache
def _texts(max_size: int, alphabet: str | None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size) if alphabet else st.text(max_size=max_size)


_ODD_CHARS = "\x00\x01\t\n\r\x1b\x7f\x80\xa0\xff\u0100\u200b\u2028\ufeff\uffff\U0001f600\U0010ffff\"',=\\+%"
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


class RandomSource:
    """Every choice drawn from ``random.Random(key)``: fast, reproducible from ``key``."""

    memo = None

    def __init__(self, key: str) -> None:
        self.rng = random.Random(key)

    def integer(self, low: int, high: int) -> int:
        if high - low > 64 and self.rng.random() < 0.2:  # edges and small values, like hypothesis
            return self.rng.choice((low, high, low + 1, high - 1, low + self.rng.randint(0, 16)))
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def _size(self, min_size: int, max_size: int) -> int:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.randint(min_size, min(max_size, min_size + 16))
        if roll < 0.55:
            return max_size
        return self.rng.randint(min_size, max_size)

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        return self.rng.randbytes(self._size(min_size, max_size))

    def text(self, max_size: int, alphabet: str | None = None) -> str:
        size = self._size(0, max_size)
        if alphabet:
            return "".join(self.rng.choices(alphabet, k=size))
        pool = _PRINTABLE if self.rng.random() < 0.6 else _PRINTABLE + _ODD_CHARS
        return "".join(self.rng.choices(pool, k=size))


# -- byte damage and generic inputs --------------------------------------------------------------


def mutate(src: Source, data: bytes, max_ops: int = 4, min_ops: int = 0) -> bytes:
    """Flips, overwrites, insertions, deletions, cuts and repeats, at drawn places."""
    out = bytearray(data)
    for _ in range(src.integer(min_ops, max_ops)):
        kind = src.choice(("flip", "set", "insert", "delete", "truncate", "duplicate"))
        at = src.integer(0, len(out))
        if kind == "flip" and out:
            out[at % len(out)] ^= 1 << src.integer(0, 7)
        elif kind == "set" and out:
            out[at % len(out)] = src.choice((0x00, 0xFF, 0x7F, 0x80, 0x30, 0x0D, 0x0A, 0x22, src.integer(0, 255)))
        elif kind == "insert":
            out[at:at] = src.binary(8, 1)
        elif kind == "delete":
            del out[at : at + src.integer(1, 8)]
        elif kind == "truncate":
            del out[at:]
        elif kind == "duplicate":
            out[at:at] = out[at : at + src.integer(1, 32)]
    return bytes(out)


def number(src: Source) -> str:
    """Decimal numbers as a modem could send them: small, huge, zero-padded, thousands of digits."""
    kind = src.choice(("small", "small", "big", "nines", "padded"))
    if kind == "small":
        return str(src.integer(0, 2**32))
    if kind == "big":
        return str(src.integer(0, 2**200))
    if kind == "nines":
        return "9" * src.integer(1, 9000)
    return "0" * src.integer(0, 6000) + str(src.integer(0, 999))


def frame_type(src: Source) -> int:
    return src.choice((*map(int, FrameType), src.integer(0, 255)))


def command(src: Source) -> int:
    return src.choice((*map(int, Command), src.integer(0, 255)))


def frame_input(src: Source) -> bytes:
    """Bytes between two delimiters: noise, good frames (often damaged), frames whose CRC is
    right but whose header lies, and runs about as long as the longest legal frame."""
    kind = src.choice(("noise", "frame", "frame", "crc-ok", "long"))
    if kind == "noise":
        return src.binary(1200)
    if kind == "frame":
        frame = encode_frame(frame_type(src), src.integer(0, 255), command(src), src.binary(MAX_PAYLOAD))[:-1]
        return mutate(src, frame, 4)
    if kind == "crc-ok":
        payload = src.binary(64)
        length = src.choice((len(payload), src.integer(0, 0xFFFF)))
        body = bytes([frame_type(src), src.integer(0, 255), command(src)]) + length.to_bytes(2, "big") + payload
        return cobs.encode(body + zlib.crc32(body).to_bytes(4, "big"))
    return src.binary(MAX_ENCODED_FRAME + 40, MAX_ENCODED_FRAME - 2)


def payload(src: Source) -> bytes:
    """Agent payloads: noise, HELLO answers and digests with drawn fields, then damage."""
    kind = src.choice(("noise", "hello", "digest", "str8"))
    if kind == "noise":
        base = src.binary(300)
    elif kind == "hello":
        try:
            base = Hello(src.integer(0, 255), src.integer(0, 0xFFFF), src.text(80), src.text(80)).pack()
        except PayloadError:  # a text longer than 255 UTF-8 bytes cannot be packed
            base = b""
    elif kind == "digest":
        base = ObjectDigest(src.integer(0, 2**32 - 1), src.binary(32, 32)).pack()
    else:
        raw = src.text(40).encode("utf-8", "surrogatepass")
        base = bytes([src.choice((len(raw), src.integer(0, 255)))]) + raw
    return mutate(src, base, 3)


# -- 1. frames ---------------------------------------------------------------------------------------


def prop_decode_body(src: Source) -> None:
    """decode_body: a Frame or FrameError; a Frame re-encodes to a frame that decodes the same."""
    _count("decode_body")
    try:
        frame = decode_body(frame_input(src))
    except FrameError:
        return
    assert decode_body(frame.encode()[:-1]) == frame


def prop_frame_decoder(src: Source) -> None:
    """FrameDecoder.feed never raises, keeps its buffer bounded, and resynchronises: a good
    frame after a delimiter is decoded whatever came before."""
    _count("frame_decoder")
    decoder = FrameDecoder()
    for _ in range(src.integer(0, 6)):
        chunk = frame_input(src) + src.choice((b"", b"\x00", b"\x00\x00"))
        for item in decoder.feed(chunk):
            assert isinstance(item, FrameError | Frame)
            assert isinstance(item, FrameError) or item.type in FrameType._value2member_map_
        assert decoder.buffered <= MAX_ENCODED_FRAME
    good = encode_frame(FrameType.ANSWER, src.integer(0, 255), Command.COMMIT, src.binary(64))
    items = decoder.feed(b"\x00" + good)
    assert items and items[-1] == decode_body(good[:-1]), items


def prop_cobs(src: Source) -> None:
    """COBS: decode(encode(x)) == x, the encoding holds no zero byte, and decoding any bytes
    gives bytes or CobsDecodeError."""
    _count("cobs")
    kind = src.choice(("noise", "zeros", "blocks"))
    if kind == "noise":
        data = src.binary(1100)
    elif kind == "zeros":
        data = bytes((0, 0, 1, 255)[b % 4] for b in src.binary(600))
    else:  # around the 254-byte block boundary
        data = b"\x01" * src.choice((253, 254, 255, 508, 509)) + src.binary(3)
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert cobs.decode(encoded) == data
    try:
        cobs.decode(mutate(src, encoded, 3, 1))
    except cobs.CobsDecodeError:
        pass


# -- 2. payload unpackers -------------------------------------------------------------------------------


def prop_unpackers(src: Source) -> None:
    """The payload unpackers raise PayloadError and nothing else."""
    _count("unpackers")
    data = payload(src)
    offset = src.integer(0, 400)
    for parse in (Hello.unpack, ObjectDigest.unpack, unpack_error, lambda d: unpack_str8(d, offset)):
        try:
            parse(data)
        except PayloadError:
            pass


# -- 3. the agent driver over a fuzzing link -------------------------------------------------------------


@cache
def claim_bundle() -> ClaimBundle:
    """A small claim bundle; the root CA takes two chunks. ASCII, so the nRF91 takes it too."""
    root = ("-----BEGIN CERTIFICATE-----\n" + "QUJD" * 300 + "\n-----END CERTIFICATE-----\n").encode()
    cert = ("-----BEGIN CERTIFICATE-----\n" + "REVG" * 60 + "\n-----END CERTIFICATE-----\n").encode()
    key = ("-----BEGIN PRIVATE KEY-----\n" + "R0hJ" * 30 + "\n-----END PRIVATE KEY-----\n").encode()
    return ClaimBundle(root_ca=root, claim_cert=cert, claim_key=key)


AGENT_REPLIES = (
    "progress", "stale", "foreign", "answer", "error", "mutated", "raw", "silence", "several",
)  # fmt: skip
NOISE_LEVELS = (0.01, 0.05, 0.2, 0.5, 1.0)
"""Per session, the share of replies that are not the correct answer: a session with little
noise gets deep into the protocol (claim written, key made, commit) before it breaks."""


class FuzzAgentLink:
    """Stands in for SerialTransport: answers each request with what the source draws.

    The simulated board makes real keys and signatures, which differ from run to run, but
    hypothesis needs a run to behave the same when it replays the same choices. So the
    board 'generates' the one fixed key of the simulator's ``reuse-key`` fault, and under
    hypothesis its answers are remembered by the history of requests (``src.memo``).
    """

    baudrate = 115200

    def __init__(self, src: Source, budget: int) -> None:
        self.src = src
        self.budget = budget
        self.noise = int(1000 * src.choice(NOISE_LEVELS))
        self.model = AgentBoardModel(SERIAL, faults=FaultSet(["reuse-key"]))
        self.request: Frame | None = None
        self._history = hashlib.sha256()
        self._requests = FrameDecoder()
        self._answers = FrameDecoder()

    def send(self, data: bytes) -> None:
        for item in self._requests.feed(data):
            if not isinstance(item, FrameError):
                self.request = item

    def discard_input(self) -> None:
        self._answers.reset()

    def close(self) -> None:
        pass

    def receive(self, deadline: float) -> list[Frame | FrameError]:
        self.budget -= 1
        if self.budget < 0:
            raise BoardDisconnected("fuzz link: out of replies")
        noisy = self.src.integer(0, 999) < self.noise
        return self._answers.feed(self._reply(self.src.choice(AGENT_REPLIES) if noisy else "correct"))

    def _answer(self, request: Frame) -> bytes:
        self._history.update(request.encode())
        answer = self.model.handle(request)
        return answer if self.src.memo is None else self.src.memo.setdefault(self._history.digest(), answer)

    def _reply(self, kind: str) -> bytes:
        src, request = self.src, self.request
        if request is None:
            return src.binary(64)
        if kind == "correct":
            return self._answer(request)
        if kind == "progress":
            return self.model.progress(request)
        if kind == "stale":
            return encode_frame(FrameType.ANSWER, request.seq - 1, request.cmd, src.binary(40))
        if kind == "foreign":
            return encode_frame(frame_type(src), src.integer(0, 255), command(src), src.binary(64))
        if kind == "answer":
            return encode_frame(FrameType.ANSWER, request.seq, request.cmd, payload(src))
        if kind == "error":
            return encode_frame(FrameType.ERROR, request.seq, request.cmd, src.binary(130))
        if kind == "mutated":
            return mutate(src, self._answer(request), 3, 1)
        if kind == "raw":
            return src.binary(2 * MAX_ENCODED_FRAME)
        if kind == "silence":
            return b""
        return b"".join(self._reply(src.choice(("correct", *AGENT_REPLIES[:-1]))) for _ in range(src.integer(2, 3)))


def prop_agent_session(src: Source) -> None:
    """A whole agent session against a fuzzing link: only typed errors come out, and a CSR
    that comes out goes through check_csr with only CsrRejected."""
    _count("agent_session")
    link = FuzzAgentLink(src, budget=src.integer(1, 120))
    board = AgentBoard(link, timeouts=AgentTimeouts(answer=5.0, retries=2, keygen=30.0),  # type: ignore[arg-type]
                       first_seq=src.integer(0, 255))
    _session(board, SERIAL)


def _session(board: Any, serial: str) -> None:
    steps: list[Callable[[], Any]] = [
        board.identify,
        board.read_serial,
        lambda: board.install_claim_bundle(claim_bundle()),
        board.read_digests,
        lambda: check_csr(board.generate_csr(serial), serial, CsrPolicy()),
        board.commit,
    ]
    for step in steps:  # the pipeline stops at the first error; going on reaches more code
        try:
            step()
        except ALLOWED:
            pass
    board.close()


# -- 4. AT lines and the nRF91 driver over a fuzzing link -------------------------------------------------


AT_LINE_KINDS = ("ok", "error", "cme", "cms", "cmng", "keygen", "cgsn", "cfun", "uuid", "bare", "urc", "text")


def at_line(src: Source, kinds: Sequence[str] = AT_LINE_KINDS) -> str:
    """A line shaped like an nRF91 answer, with drawn (often absurd) fields."""
    kind = src.choice(kinds)
    if kind == "ok":
        return "OK"
    if kind == "error":
        return "ERROR"
    if kind == "cme":
        return f"+CME ERROR:{src.choice(('', ' ', '  '))}{number(src)}"
    if kind == "cms":
        return f"+CMS ERROR: {number(src)}"
    if kind == "cmng":
        digest = src.choice((src.text(70, "0123456789abcdefABCDEF"), hashlib.sha256(src.binary(8)).hexdigest().upper()))
        quoted = src.choice(('"{}"', "{}", '"{}', ""))
        return f"%CMNG: {number(src)},{number(src)}" + (f",{quoted.format(digest)}" if quoted else "")
    if kind == "keygen":
        csr = src.choice((src.binary(200), src.choice(valid_csrs())[0]))
        csr = mutate(src, csr, 2)
        dot = src.choice((".", "..", "", "=."))
        return f'%KEYGEN: "{_b64url(csr)}{dot}{_b64url(src.binary(40))}"'
    if kind == "cgsn":
        return f'+CGSN: "{src.choice((number(src), IMEI, src.text(20, "0123456789")))}"'
    if kind == "cfun":
        return f"+CFUN: {src.choice((number(src), '0', '1', '4'))}"
    if kind == "uuid":
        return f"%DEVICEUUID: {src.choice((str(uuid.UUID(bytes=src.binary(16, 16))), src.text(60, _PRINTABLE)))}"
    if kind == "bare":
        return src.choice(("nRF9151-LACA", "mfw_nrf91x1_2.0.2", src.text(60, _PRINTABLE)))
    if kind == "urc":
        return src.choice(("+CEREG: 2", "%XSIM: 1", "+CSCON: 0", "%CMNG: 4294967292,10"))
    return src.text(120, _PRINTABLE)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def at_bytes(src: Source) -> bytes:
    kind = src.choice(("noise", "lines", "lines", "long"))
    if kind == "noise":
        return src.binary(300)
    if kind == "long":
        return src.choice((b"A", b"0", b"\x80")) * src.integer(1, 9000)
    end = src.choice(("\r\n", "\n", "\r"))
    text = "".join(at_line(src) + end for _ in range(src.integer(1, 4)))
    return mutate(src, text.encode(), 2)


def prop_line_splitter(src: Source) -> None:
    """LineSplitter.feed: only FrameError/FrameTooLong; every line printable ASCII, without a
    line end, never longer than max_line."""
    _count("line_splitter")
    max_line = src.choice((16, 256, 8192))
    splitter = LineSplitter(max_line)
    for _ in range(src.integer(1, 6)):
        try:
            lines = splitter.feed(at_bytes(src))
        except FrameError:
            continue
        for line in lines:
            assert line and len(line) <= max_line
            assert all(0x20 <= ord(c) <= 0x7E or c == "\t" for c in line)


def prop_parse_final(src: Source) -> None:
    """parse_final: a FinalResult or None for any text, never an exception."""
    _count("parse_final")
    line = src.choice((at_line(src), at_line(src), src.text(200)))
    result = parse_final(line)
    assert result is None or result.kind in ("OK", "ERROR", "CME", "CMS")


AT_REPLIES = ("echo", "lines", "mutated", "raw", "several")


class FuzzAtPort:
    """Stands in for AtSerialPort: each command line is answered with what the source draws
    (the modem model's answers fixed the way FuzzAgentLink's are)."""

    baudrate = 1_000_000_000  # no wire time: the fake answers at once

    def __init__(self, src: Source, budget: int) -> None:
        self.src = src
        self.budget = budget
        self.noise = int(1000 * src.choice(NOISE_LEVELS))
        self.model = Nrf91ModemModel(
            IMEI, faults=ModemFaultSet(["reuse-key"]), initial_cfun=src.choice((0, 1, 4))
        )
        self._pending = b""
        self._history = hashlib.sha256()

    def send(self, data: bytes) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise BoardDisconnected("fuzz link: out of replies")
        line = data.decode("ascii").removesuffix("\r\n")
        noisy = self.src.integer(0, 999) < self.noise
        self._pending += self._reply(line, self.src.choice(AT_REPLIES) if noisy else "correct")

    def read(self, timeout: float) -> bytes:
        if not self._pending:
            raise BoardDisconnected("fuzz link: silence")
        size = self.src.integer(1, 4096)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def discard_input(self) -> None:
        self._pending = b""

    def close(self) -> None:
        pass

    def _answer(self, line: str) -> str:
        self._history.update(line.encode() + b"\x00")
        answer = self.model.handle(line)
        return answer if self.src.memo is None else self.src.memo.setdefault(self._history.digest(), answer)

    def _reply(self, line: str, kind: str) -> bytes:
        src = self.src
        end = src.choice(("\r\n", "\n", "\r", "\r\n\r\n"))
        if kind == "correct":
            return self._answer(line).replace("\r\n", end).encode()
        if kind == "echo":
            return (line + "\r\n").encode() + self._answer(line).encode()
        if kind == "lines":
            return "".join(at_line(src) + end for _ in range(src.integer(1, 4))).encode()
        if kind == "mutated":
            return mutate(src, self._answer(line).encode(), 3, 1)
        if kind == "raw":
            return src.binary(600)
        return b"".join(self._reply(line, src.choice(("correct", *AT_REPLIES[:-1]))) for _ in range(src.integer(2, 3)))


def prop_nrf91_session(src: Source) -> None:
    """A whole nRF91 session over a real AtChannel against a fuzzing port: only typed errors,
    and a CSR that comes out goes through check_csr with only CsrRejected."""
    _count("nrf91_session")
    port = FuzzAtPort(src, budget=src.integer(1, 60))
    channel = AtChannel(port, max_line=src.choice((64, 1024, 8192)))  # type: ignore[arg-type]
    board = Nrf91Board(channel, timeouts=Nrf91Timeouts(answer=5.0, cfun=5.0, keygen=5.0),
                       serial_source=src.choice(("imei", "uuid")))
    _session(board, IMEI)


NRF91_PARSERS: dict[str, tuple[str, Callable[[Nrf91Board], Any]]] = {
    "+CGSN": ("cgsn", lambda board: board.read_serial()),
    "%DEVICEUUID": ("uuid", lambda board: board.read_serial()),
    "%CMNG list": ("cmng", lambda board: board.read_digests()),
    "%KEYGEN": ("keygen", lambda board: board.generate_csr(IMEI)),
    "+CFUN?": ("cfun", lambda board: board.commit()),
    "+CGMM/+CGMR": ("bare", lambda board: board.identify()),
}
"""Each nRF91 response parser, the line kind it reads, and a driver call that reaches it."""


class ScriptedFuzzPort:
    """Answers every command with a few lines of one kind, then (usually) a final result."""

    baudrate = 1_000_000_000

    def __init__(self, src: Source, kind: str) -> None:
        self.src = src
        self.kind = kind
        self.commands = 0
        self._pending = b""

    def send(self, data: bytes) -> None:
        self.commands += 1
        if self.commands > 12:
            raise BoardDisconnected("fuzz port: out of replies")
        src = self.src
        lines = [at_line(src, (self.kind, self.kind, self.kind, "urc", "text")) for _ in range(src.integer(0, 3))]
        if src.integer(0, 9):
            lines.append(at_line(src, ("ok", "ok", "ok", "error", "cme", "cms")))
        self._pending += "".join(line + src.choice(("\r\n", "\n", "\r")) for line in lines).encode()

    def read(self, timeout: float) -> bytes:
        if not self._pending:
            raise BoardDisconnected("fuzz port: silence")
        out, self._pending = self._pending, b""
        return out

    def discard_input(self) -> None:
        self._pending = b""

    def close(self) -> None:
        pass


def prop_nrf91_replies(src: Source) -> None:
    """Each nRF91 response parser (+CGSN, %DEVICEUUID, %CMNG list, %KEYGEN, +CFUN?, +CGMM)
    fed directly with lines of its own kind, absurd fields included: only typed errors."""
    _count("nrf91_replies")
    name = src.choice(sorted(NRF91_PARSERS))
    kind, call = NRF91_PARSERS[name]
    board = Nrf91Board(
        AtChannel(ScriptedFuzzPort(src, kind)),  # type: ignore[arg-type]
        timeouts=Nrf91Timeouts(answer=5.0, cfun=5.0, keygen=5.0),
        serial_source="uuid" if kind == "uuid" else "imei",
    )
    try:
        result = call(board)
    except ALLOWED:
        return
    if kind == "cgsn":
        assert len(result) == 15 and result.isdigit()
    elif kind == "cmng":
        assert all(len(d) == 64 and d == d.lower() for d in result.values())
    elif kind == "keygen":
        assert result[:1] == b"\x30"


# -- 5. the CSR check ------------------------------------------------------------------------------------------


def _csr(key: Any, names: list[tuple[Any, str]], algorithm: Any = "sha256") -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(oid, value) for oid, value in names])
    )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = None
    elif algorithm == "sha256":
        algorithm = hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


@cache
def valid_csrs() -> tuple[tuple[bytes, str], ...]:
    """(DER, the serial it is checked against) for CSRs of every shape the check must judge:
    good ones (P-256, nRF91 explicit NULL, P-384, RSA-2048), and ones it must refuse (P-521,
    RSA-1024, Ed25519, two CNs, no CN, another CN)."""
    p256 = ec.generate_private_key(ec.SECP256R1())
    cn = [(NameOID.COMMON_NAME, SERIAL)]
    return (
        (_csr(p256, cn), SERIAL),
        (to_explicit_null(_csr(p256, cn)), SERIAL),
        (_csr(p256, [(NameOID.COMMON_NAME, IMEI)]), IMEI),
        (_csr(ec.generate_private_key(ec.SECP384R1()), cn, hashes.SHA384()), SERIAL),
        (_csr(ec.generate_private_key(ec.SECP521R1()), cn, hashes.SHA512()), SERIAL),
        (_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048), cn), SERIAL),
        (_csr(rsa.generate_private_key(public_exponent=65537, key_size=1024), cn), SERIAL),
        (_csr(ed25519.Ed25519PrivateKey.generate(), cn), SERIAL),
        (_csr(p256, [*cn, (NameOID.COMMON_NAME, "SIM000002")]), SERIAL),
        (_csr(p256, [(NameOID.ORGANIZATION_NAME, "ACME")]), SERIAL),
        (_csr(p256, [(NameOID.COMMON_NAME, SERIAL + "-X")]), SERIAL),
    )


def prop_check_csr(src: Source) -> None:
    """check_csr raises CsrRejected and nothing else; what it accepts is consistent: the CN
    is the serial, the key type is allowed, and the recorded hash is the SPKI's."""
    _count("check_csr")
    der, cn = src.choice(valid_csrs())
    kind = src.choice(("valid", "mutated", "mutated", "mutated", "noise"))
    if kind == "mutated":
        der = mutate(src, der, 4, 1)
    elif kind == "noise":
        der = src.choice((src.binary(600), src.binary(8300, 8000)))
    if src.integer(0, 9) == 0:
        cn = src.text(70)
    names = sorted(KEY_TYPES)
    allowed = frozenset(n for n in names if src.integer(0, 1)) or frozenset({src.choice(names)})
    policy = CsrPolicy(allowed, src.choice((2048, 3072)))
    assert isinstance(normalise_csr_der(der), bytes)
    try:
        checked = check_csr(der, cn, policy)
    except CsrRejected as exc:
        assert exc.code.startswith("CSR_")
        return
    assert checked.common_name == cn
    assert checked.key_type in policy.allowed_key_types
    assert checked.device_key_sha256 == hashlib.sha256(checked.public_key_der).hexdigest()
    public = x509.load_der_x509_csr(checked.der).public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki == checked.public_key_der


# -- running them ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Property:
    name: str
    body: Callable[[Source], None]
    weight: int
    """Share of the seeded volume (1 = the unit below)."""


PROPERTIES: tuple[Property, ...] = (
    Property("decode_body", prop_decode_body, 4),
    Property("frame_decoder", prop_frame_decoder, 2),
    Property("cobs", prop_cobs, 2),
    Property("unpackers", prop_unpackers, 3),
    Property("agent_session", prop_agent_session, 1),
    Property("line_splitter", prop_line_splitter, 2),
    Property("parse_final", prop_parse_final, 3),
    Property("nrf91_session", prop_nrf91_session, 1),
    Property("nrf91_replies", prop_nrf91_replies, 2),
    Property("check_csr", prop_check_csr, 3),
)
BY_NAME = {p.name: p for p in PROPERTIES}


@dataclass(frozen=True)
class Profile:
    """How much a run does, per property: ``guided`` hypothesis examples drawing every choice
    (st.data), then ``volume_unit * weight`` seeded inputs, ``batch`` per hypothesis example."""

    guided: int
    volume_unit: int
    batch: int

    def volume(self, prop: Property) -> int:
        return self.volume_unit * prop.weight

    def total(self) -> int:
        return sum(self.guided + self.volume(p) for p in PROPERTIES)


SHORT = Profile(guided=150, volume_unit=200, batch=50)
"""Default suite: 1,500 guided + 4,600 seeded = 6,100 inputs."""
LONG = Profile(guided=1_000, volume_unit=50_000, batch=500)
"""-m slow and bench/campaign_fuzz.py: 10,000 guided + 1,150,000 seeded inputs."""

_BASE = settings(
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
settings.register_profile("campaign-short", _BASE)
settings.register_profile("campaign-long", _BASE)


class SeededFailure(AssertionError):
    """A seeded input broke a property; ``key`` replays it (:func:`replay`)."""


def replay(name: str, key: str) -> None:
    """Run the seeded input ``key`` of property ``name`` again (raises what it raised)."""
    BY_NAME[name].body(RandomSource(key))


def run_guided(prop: Property, examples: int, seed: int, profile: str = "campaign-short") -> int:
    """``examples`` hypothesis-driven inputs; returns how many ran."""
    if examples <= 0:
        return 0
    before = COUNTS[prop.name]
    memo: dict[bytes, Any] = {}

    def body(data: st.DataObject) -> None:
        prop.body(HypothesisSource(data, memo))

    test = given(st.data())(body)
    test = settings(settings.get_profile(profile), max_examples=examples)(test)
    hypothesis_seed(seed)(test)()
    return COUNTS[prop.name] - before


def run_seeded(prop: Property, inputs: int, seed: int, batch: int, profile: str = "campaign-short") -> int:
    """``inputs`` seeded inputs, ``batch`` per hypothesis example; returns how many ran."""
    if inputs <= 0:
        return 0
    before = COUNTS[prop.name]
    examples = max(1, -(-inputs // batch))

    def body(salt: int) -> None:
        # hypothesis never runs the same choices twice, so every salt (and key) is new
        for index in range(batch):
            key = f"{seed}:{prop.name}:{salt}:{index}"
            try:
                prop.body(RandomSource(key))
            except Exception as exc:
                raise SeededFailure(
                    f"{prop.name} failed on seeded input {key!r}: {type(exc).__name__}: {exc}\n"
                    f"replay: campaign_fuzz_props.replay({prop.name!r}, {key!r})"
                ) from exc

    test = given(st.integers(0, 2**32))(body)
    test = settings(settings.get_profile(profile), max_examples=examples,
                    phases=(Phase.generate,))(test)
    hypothesis_seed(seed)(test)()
    return COUNTS[prop.name] - before


@dataclass
class FuzzFigures:
    name: str
    guided: int
    seeded: int
    seconds: float

    @property
    def per_second(self) -> float:
        return (self.guided + self.seeded) / self.seconds if self.seconds else 0.0


def run_profile(prop: Property, profile: Profile, seed: int, hypothesis_profile: str) -> FuzzFigures:
    started = time.perf_counter()
    guided = run_guided(prop, profile.guided, seed, hypothesis_profile)
    seeded = run_seeded(prop, profile.volume(prop), seed, profile.batch, hypothesis_profile)
    return FuzzFigures(prop.name, guided, seeded, time.perf_counter() - started)
