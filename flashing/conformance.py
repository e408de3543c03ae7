"""A conformance checker for boards running an agent of docs/protocol.md (1.0 or 1.1).

A firmware engineer points it at their board (``station conformance --port P``); it drives
the board through every rule of the spec it can observe from the wire and reports one line
per rule, PASS or FAIL with the spec section, and a summary. It talks to the port itself,
frame by frame, so it sees what the station's driver forgives (a damaged answer it would
retransmit, a log glued to a frame, a slow answer).

It writes test objects (not claim material) to the board, makes device keys and, unless
``commit=False``, sends COMMIT: run it on a development board, never on a unit meant for a
batch. It touches no database and provisions nothing.

Exit codes for a CLI: :data:`EXIT_PASS` (0) every rule passed, :data:`EXIT_FAIL` (1) some rule
failed, :data:`EXIT_PORT` (3) the port could not be opened.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import cobs
from .errors import BoardDisconnected, FrameError, PortUnavailable
from .frames import Frame, decode_body, encode_frame
from .protocol import (
    MAX_ENCODED_FRAME,
    MAX_OBJECT_SIZE,
    MAX_PAYLOAD,
    MAX_SERIAL_LENGTH,
    MIN_MAX_PAYLOAD,
    VERSION_NAMES,
    Command,
    ErrorCode,
    FrameType,
    Hello,
    ObjectDigest,
    ObjectId,
    PayloadError,
    is_board_text,
    pack_str8,
    unpack_str8,
)
from .serial_port import SerialPort

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_PORT = 3

ANSWER_WITHIN = 0.5
"""Section 3: a board answers (or sends PROGRESS) within 500 ms of a request's last byte."""
TIMING_SLACK = 0.1
"""Scheduling slack the checker allows on top of ANSWER_WITHIN (a pty, a USB-serial adapter)."""
PATIENCE = 1.0
"""How long the checker waits for an answer before it calls the board silent (plus wire time)."""
SILENT_RULES_BEFORE_ABORT = 2


@dataclass(frozen=True)
class RuleResult:
    name: str
    section: str
    title: str
    passed: bool | None
    """None when the rule could not be checked on this board (skipped or not run)."""
    detail: str = ""
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]

    def line(self) -> str:
        text = f"{self.status}  §{self.section:<4} {self.name:<36} {self.title}"
        return text + (f": {self.detail}" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "section": self.section,
            "title": self.title,
            "status": self.status,
            "passed": self.passed,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ConformanceReport:
    port: str
    baudrate: int
    rules: list[RuleResult] = field(default_factory=list)
    model: str = ""
    firmware: str = ""
    protocol: str = ""
    seconds: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def wire_seconds(self) -> float:
        """The time the bytes of the run need on the wire (8N1): the floor of any run's duration."""
        return (self.bytes_sent + self.bytes_received) * 10 / self.baudrate

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.passed is False]

    @property
    def passed(self) -> bool:
        return bool(self.rules) and not self.failed

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL

    def rule(self, name: str) -> RuleResult:
        return next(r for r in self.rules if r.name == name)

    def summary(self) -> str:
        counts = {status: sum(r.status == status for r in self.rules) for status in ("PASS", "FAIL", "SKIP")}
        board = f"{self.model} {self.firmware}, protocol {self.protocol}" if self.model else "board not identified"
        verdict = "CONFORMS" if self.passed else "DOES NOT CONFORM"
        return (
            f"{verdict}: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
            f"in {self.seconds:.1f} s ({board}; {self.port} at {self.baudrate} baud)"
        )

    def lines(self) -> list[str]:
        return [r.line() for r in self.rules] + [self.summary()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "baudrate": self.baudrate,
            "model": self.model,
            "firmware": self.firmware,
            "protocol": self.protocol,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "wire_seconds": round(self.wire_seconds, 3),
            "summary": self.summary(),
            "rules": [r.to_dict() for r in self.rules],
        }


class RuleFailed(Exception):
    """The board broke the rule; the message says how."""


class RuleSkipped(Exception):
    """The rule cannot be checked on this board (the message says why)."""


class BoardSilent(RuleFailed):
    """No answer at all, even to a retransmission."""


@dataclass
class Reply:
    """What came back for one request: its ANSWER or ERROR frame, if any, and how fast."""

    frame: Frame | None
    latency: float | None
    """Seconds from the end of the request to the first frame for it (answer or PROGRESS)."""
    progress_gaps: list[float] = field(default_factory=list)
    others: list[Frame] = field(default_factory=list)
    """Frames for other requests that arrived while waiting."""

    @property
    def error(self) -> str | None:
        if self.frame is None or self.frame.type != FrameType.ERROR:
            return None
        return ErrorCode.name_of(self.frame.payload[0]) if self.frame.payload else "EMPTY_ERROR"

    @property
    def payload(self) -> bytes:
        assert self.frame is not None
        return self.frame.payload


class Link:
    """The checker's own view of the wire: raw chunks between delimiters, classified.

    Every chunk is a frame, board text (ignored, as the spec allows), board text glued to a
    frame (the text was not ended by 0x00: noted, the frame is still used), or damaged.
    """

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self.byte_time = 10 / port.baudrate
        self._buffer = bytearray()
        self._pending: list[tuple[Frame, float]] = []
        self.damaged: list[str] = []
        self.glued_text = 0
        self.text_chunks = 0
        self.latencies: list[tuple[str, float]] = []
        self.sent_at = 0.0

    def send(self, data: bytes) -> None:
        self.port.send(data)
        self.sent_at = time.monotonic()

    def settle(self, quiet: float) -> None:
        """Read and drop frames until none came for ``quiet`` seconds (late replays of old requests)."""
        while self.frames(time.monotonic() + quiet):
            pass

    def discard(self) -> None:
        """Drop what arrived so far (frames to requests nobody waits for any more)."""
        self.port.discard_input()
        self._buffer.clear()
        self._pending.clear()

    def frames(self, deadline: float) -> list[tuple[Frame, float]]:
        """Frames (with their arrival time) that complete before ``deadline``; [] when none did."""
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            data = self.port.read(min(remaining, 0.05))
            now = time.monotonic()
            while data:
                end = data.find(0)
                if end < 0:
                    self._buffer += data
                    if len(self._buffer) > 4 * MAX_ENCODED_FRAME:
                        self._buffer.clear()
                        self.damaged.append("more than 4 frames' worth of bytes without a delimiter")
                    break
                chunk = bytes(self._buffer + data[:end])
                self._buffer.clear()
                data = data[end + 1 :]
                self._classify(chunk, now)
        pending, self._pending = self._pending, []
        return pending

    def _classify(self, chunk: bytes, now: float) -> None:
        if not chunk:
            return
        if is_board_text(chunk):
            self.text_chunks += 1
            return
        try:
            self._pending.append((decode_body(chunk), now))
            return
        except FrameError as exc:
            reason = str(exc)
        prefix = 0
        while prefix < len(chunk) and is_board_text(chunk[prefix : prefix + 1]):
            prefix += 1
        for cut in range(prefix, 0, -1):
            try:
                frame = decode_body(chunk[cut:])
            except FrameError:
                continue
            self.glued_text += 1
            self._pending.append((frame, now))
            return
        self.damaged.append(f"{len(chunk)}-byte chunk: {reason}")


class Checker:
    """Runs the rules against one board; rules call :meth:`request` and friends."""

    def __init__(self, port: SerialPort, *, commit: bool) -> None:
        self.link = Link(port)
        self.commit = commit
        self.seq = random.randrange(256)
        self.hello: Hello | None = None
        self.max_payload = 64
        self.public_keys: list[bytes] = []
        self.objects: dict[ObjectId, bytes] = {}
        self.silent_rules = 0

    # -- frames ---------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def wire(self, cmd: int, payload: bytes = b"", *, seq: int | None = None, frame_type: int = FrameType.REQUEST) -> bytes:
        return b"\x00" + encode_frame(frame_type, self.next_seq() if seq is None else seq, cmd, payload)

    def request(
        self, cmd: int, payload: bytes = b"", *, seq: int | None = None, long: bool = False, retransmit: bool = True,
        raw: bytes | None = None,
    ) -> Reply:
        """Send one request (``raw`` bytes first, when given) and wait for its ANSWER or ERROR.

        One retransmission (same bytes) follows a damaged answer or silence, as a host would;
        the damage is still noted for the framing rules.
        """
        seq = self.next_seq() if seq is None else seq
        data = (raw or b"") + b"\x00" + encode_frame(FrameType.REQUEST, seq, cmd, payload)
        reply = self._await(data, seq, cmd, long)
        if reply.frame is None and retransmit:
            reply = self._await(data, seq, cmd, long)
        if reply.frame is None:
            raise BoardSilent(f"no answer to {_name(cmd)} (seq 0x{seq:02X}), even after a retransmission")
        self.silent_rules = 0
        return reply

    def _await(self, data: bytes, seq: int, cmd: int, long: bool) -> Reply:
        damaged_before = len(self.link.damaged)
        self.link.send(data)
        sent_at = self.link.sent_at
        patience = PATIENCE + (len(data) + MAX_ENCODED_FRAME) * self.link.byte_time
        deadline = sent_at + patience
        limit = sent_at + (60.0 if long else 10.0)
        reply = Reply(None, None)
        last = sent_at
        while True:
            arrived = self.link.frames(min(deadline, limit))
            if not arrived:
                return reply
            for frame, at in arrived:
                if frame.seq != seq or frame.cmd != cmd or frame.type == FrameType.REQUEST:
                    reply.others.append(frame)
                    continue
                start_of_frame = at - (len(frame.encode())) * self.link.byte_time
                if reply.latency is None:
                    reply.latency = max(0.0, start_of_frame - sent_at)
                    self.link.latencies.append((_name(cmd), reply.latency))
                else:
                    reply.progress_gaps.append(max(0.0, start_of_frame - last))
                last = at
                if frame.type == FrameType.PROGRESS:
                    deadline = at + patience
                    continue
                reply.frame = frame
                return reply
            if len(self.link.damaged) > damaged_before and not long:
                deadline = min(deadline, time.monotonic() + 0.2)

    def send_raw(self, data: bytes) -> None:
        self.link.send(data)

    # -- expectations ----------------------------------------------------------------------

    def answer(self, reply: Reply, what: str) -> bytes:
        if reply.error is not None:
            raise RuleFailed(f"{what}: error {reply.error} ({_text(reply)})")
        return reply.payload

    def error(self, reply: Reply, expected: str | tuple[str, ...], what: str) -> None:
        wanted = (expected,) if isinstance(expected, str) else expected
        if reply.error is None:
            raise RuleFailed(f"{what}: answered instead of error {' or '.join(wanted)}")
        if reply.error not in wanted:
            raise RuleFailed(f"{what}: error {reply.error} instead of {' or '.join(wanted)} ({_text(reply)})")

    def require_hello(self) -> Hello:
        if self.hello is None:
            raise RuleFailed("the board never answered HELLO")
        return self.hello

    def open_session(self, high: int = 2) -> Hello:
        hello = Hello.unpack(self.answer(self.request(Command.HELLO, bytes([1, high])), "HELLO"))
        self.hello = hello
        self.max_payload = hello.max_payload
        return hello

    def write_object(self, obj: ObjectId, content: bytes) -> ObjectDigest:
        self.answer(self.request(Command.WRITE_BEGIN, bytes([obj]) + ObjectDigest.of(content).pack()), "WRITE_BEGIN")
        step = self.max_payload - 5
        for offset in range(0, len(content), step):
            chunk = content[offset : offset + step]
            held = self.answer(self.request(Command.WRITE_CHUNK, struct.pack(">BI", obj, offset) + chunk), "WRITE_CHUNK")
            if held != struct.pack(">I", offset + len(chunk)):
                raise RuleFailed(f"WRITE_CHUNK at {offset} answered {held.hex()}, not {offset + len(chunk)}")
        stored = ObjectDigest.unpack(self.answer(self.request(Command.WRITE_END, bytes([obj])), "WRITE_END"))
        if stored != ObjectDigest.of(content):
            raise RuleFailed(f"WRITE_END of {obj.name} confirmed {stored.size} bytes, sha256 {stored.sha256.hex()[:16]}…")
        self.objects[obj] = content
        return stored

    def read_digest(self, obj: ObjectId) -> ObjectDigest:
        return ObjectDigest.unpack(self.answer(self.request(Command.READ_DIGEST, bytes([obj])), "READ_DIGEST"))

    def keygen(self, *, seq: int | None = None) -> Reply:
        return self.request(Command.KEYGEN, b"\x01", seq=seq, long=True)


Rule = Callable[[Checker], str]


@dataclass(frozen=True)
class RuleSpec:
    name: str
    section: str
    title: str
    check: Rule


RULES: list[RuleSpec] = []


def rule(name: str, section: str, title: str) -> Callable[[Rule], Rule]:
    def register(check: Rule) -> Rule:
        RULES.append(RuleSpec(name, section, title, check))
        return check

    return register


def _name(cmd: int) -> str:
    return Command(cmd).name if cmd in Command._value2member_map_ else f"0x{cmd:02X}"


def _text(reply: Reply) -> str:
    return reply.payload[1:].decode("utf-8", "replace") if reply.frame is not None else ""


def sample_object(size: int, tag: str) -> bytes:
    """PEM-looking text of ``size`` bytes (test material, not a credential)."""
    body = hashlib.sha256(tag.encode()).hexdigest().encode() * (size // 64 + 1)
    header = f"-----BEGIN CONFORMANCE TEST {tag}-----\n".encode()
    return (header + body)[: size - 1] + b"\n"


# -- HELLO and versions ---------------------------------------------------------------------


@rule("hello.answer", "4.1", "HELLO 1..2 is answered with a well-formed HELLO answer")
def _hello_answer(c: Checker) -> str:
    hello = c.open_session()
    return f"version {hello.version}, max_payload {hello.max_payload}, {hello.model} {hello.firmware}"


@rule("hello.version-in-range", "7", "the chosen version lies in the asked range")
def _hello_version(c: Checker) -> str:
    hello = c.require_hello()
    if not 1 <= hello.version <= 2:
        raise RuleFailed(f"asked 1..2, board chose {hello.version}")
    return f"chose {hello.version} ({VERSION_NAMES[hello.version]})"


@rule("hello.max-payload", "2.2", "max_payload is within the version's limits")
def _hello_max_payload(c: Checker) -> str:
    hello = c.require_hello()
    least = MIN_MAX_PAYLOAD.get(hello.version, 128)
    if not least <= hello.max_payload <= MAX_PAYLOAD:
        raise RuleFailed(f"max_payload {hello.max_payload} outside {least}..{MAX_PAYLOAD}")
    return f"{hello.max_payload}"


@rule("version.unsupported", "4.1", "HELLO for versions the board lacks is answered UNSUPPORTED")
def _version_unsupported(c: Checker) -> str:
    c.error(c.request(Command.HELLO, bytes([0x70, 0x7F])), "UNSUPPORTED", "HELLO 0x70..0x7F")
    c.open_session()
    return ""


@rule("version.1.0-kept", "7", "a board keeps answering HELLO 1..1 (protocol 1.0)")
def _version_one(c: Checker) -> str:
    hello = Hello.unpack(c.answer(c.request(Command.HELLO, bytes([1, 1])), "HELLO 1..1"))
    c.open_session()
    if hello.version != 1:
        raise RuleFailed(f"HELLO 1..1 answered with version {hello.version}")
    return ""


# -- framing --------------------------------------------------------------------------------


def _only_answer(c: Checker, raw: bytes, what: str) -> str:
    """Send ``raw`` (frames the board must drop) and then READ_SERIAL; only READ_SERIAL may be answered."""
    c.link.settle(0.05)
    reply = c.request(Command.READ_SERIAL, raw=raw, retransmit=False)
    answered = [f for f in reply.others if f.type in (FrameType.ANSWER, FrameType.ERROR)]
    if answered:
        f = answered[0]
        raise RuleFailed(f"the board answered {what} (seq 0x{f.seq:02X} cmd 0x{f.cmd:02X})")
    c.answer(reply, "READ_SERIAL after " + what)
    return ""


@rule("framing.resync", "2.3", "a partial frame is dropped at the next delimiter; the request after it is answered")
def _resync(c: Checker) -> str:
    partial = c.wire(Command.READ_SERIAL)[: 6]
    return _only_answer(c, partial[1:], "a cut-off request")


@rule("framing.empty-frames", "2.3", "empty frames (repeated delimiters) are ignored")
def _empty(c: Checker) -> str:
    return _only_answer(c, b"\x00" * 8, "empty frames")


@rule("framing.bad-crc", "2.3", "a request with a wrong CRC is dropped without an answer")
def _bad_crc(c: Checker) -> str:
    frame = bytearray(encode_frame(FrameType.REQUEST, c.next_seq(), Command.READ_SERIAL, b""))
    body = bytearray(_cobs_body(bytes(frame)))
    body[-1] ^= 0x01
    return _only_answer(c, b"\x00" + cobs.encode(bytes(body)) + b"\x00", "a request with a bad CRC")


def _cobs_body(wire: bytes) -> bytes:
    return cobs.decode(wire[:-1])


def _reencode(body: bytes) -> bytes:
    return b"\x00" + cobs.encode(body) + b"\x00"


@rule("framing.bad-length", "2.3", "a request whose length field disagrees with its size is dropped")
def _bad_length(c: Checker) -> str:
    body = bytearray(b"\x51" + bytes([c.next_seq(), Command.READ_SERIAL]) + b"\x00\x03")
    body += struct.pack(">I", zlib.crc32(bytes(body)))
    return _only_answer(c, _reencode(bytes(body)), "a request with a wrong length field")


@rule("framing.bad-cobs", "2.3", "bytes that are not valid COBS are dropped")
def _bad_cobs(c: Checker) -> str:
    return _only_answer(c, b"\x00\x09\x51\x01\x02\x00", "an invalid COBS block")


@rule("framing.unknown-type", "2.3", "a frame of unknown type is dropped")
def _unknown_type(c: Checker) -> str:
    body = bytes([0x58, c.next_seq(), Command.READ_SERIAL, 0, 0])
    body += struct.pack(">I", zlib.crc32(body))
    return _only_answer(c, _reencode(body), "a frame of type 0x58")


@rule("framing.short", "2.3", "a frame shorter than 9 bytes is dropped")
def _short(c: Checker) -> str:
    return _only_answer(c, _reencode(b"\x51\x01\x02\x00"), "a 4-byte frame")


@rule("framing.wrong-direction", "2.3", "ANSWER, ERROR and PROGRESS frames sent to the board are ignored")
def _wrong_direction(c: Checker) -> str:
    raw = b"".join(
        c.wire(Command.READ_SERIAL, b"", frame_type=t) for t in (FrameType.ANSWER, FrameType.ERROR, FrameType.PROGRESS)
    )
    return _only_answer(c, raw, "a frame of a board-to-host type")


@rule("framing.overflow", "2.3", "more than 1038 bytes without a delimiter are discarded up to the next 0x00")
def _overflow(c: Checker) -> str:
    noise = bytes(random.randrange(1, 256) for _ in range(MAX_ENCODED_FRAME + 200))
    return _only_answer(c, noise, "an overlong frame")


@rule("framing.above-max-payload", "2.3", "a request above the announced max_payload is refused or dropped")
def _above_max(c: Checker) -> str:
    if c.max_payload >= MAX_PAYLOAD:
        raise RuleSkipped("the board accepts 1024-byte payloads, the most any frame carries")
    payload = struct.pack(">BI", ObjectId.ROOT_CA, 0) + b"A" * (c.max_payload - 4)
    seq = c.next_seq()
    reply = c.request(Command.READ_SERIAL, raw=b"\x00" + encode_frame(FrameType.REQUEST, seq, Command.WRITE_CHUNK, payload), retransmit=False)
    for f in reply.others:
        if f.seq == seq and f.type == FrameType.ANSWER:
            raise RuleFailed(f"a {len(payload)}-byte WRITE_CHUNK was answered although max_payload is {c.max_payload}")
        if f.seq == seq and f.type == FrameType.ERROR and f.payload[:1] != bytes([ErrorCode.BAD_REQUEST]):
            raise RuleFailed(f"error {ErrorCode.name_of(f.payload[0])} instead of BAD_REQUEST")
    return ""


# -- duplicates and retransmission ------------------------------------------------------------


@rule("duplicate.replayed", "2.4", "a retransmission (same seq and cmd) gets the same answer bytes")
def _duplicate(c: Checker) -> str:
    seq = c.next_seq()
    first = c.request(Command.READ_SERIAL, seq=seq)
    second = c.request(Command.READ_SERIAL, seq=seq)
    if first.frame != second.frame:
        raise RuleFailed("the two answers differ")
    return ""


@rule("duplicate.error-replayed", "2.4", "error answers are remembered and replayed like answers")
def _duplicate_error(c: Checker) -> str:
    seq = c.next_seq()
    first = c.request(Command.READ_DIGEST, b"\x09", seq=seq)
    c.error(first, "BAD_REQUEST", "READ_DIGEST of object 0x09")
    second = c.request(Command.READ_DIGEST, b"\x09", seq=seq)
    if first.frame != second.frame:
        raise RuleFailed("the replayed error answer differs from the first")
    return ""


@rule("duplicate.not-reexecuted", "2.4", "a retransmitted WRITE_END is replayed, not executed again")
def _duplicate_write_end(c: Checker) -> str:
    content = sample_object(100, "DUP")
    c.answer(c.request(Command.WRITE_BEGIN, bytes([ObjectId.CLAIM_KEY]) + ObjectDigest.of(content).pack()), "WRITE_BEGIN")
    c.answer(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.CLAIM_KEY, 0) + content), "WRITE_CHUNK")
    seq = c.next_seq()
    first = c.request(Command.WRITE_END, bytes([ObjectId.CLAIM_KEY]), seq=seq)
    c.answer(first, "WRITE_END")
    second = c.request(Command.WRITE_END, bytes([ObjectId.CLAIM_KEY]), seq=seq)
    if second.error is not None:
        raise RuleFailed(f"the retransmitted WRITE_END was executed again: error {second.error}")
    if first.frame != second.frame:
        raise RuleFailed("the replayed WRITE_END answer differs from the first")
    c.objects[ObjectId.CLAIM_KEY] = content
    return ""


@rule("retransmission.after-damage", "2.4", "after a damaged copy, the same request (same seq) is executed once")
def _after_damage(c: Checker) -> str:
    seq = c.next_seq()
    good = b"\x00" + encode_frame(FrameType.REQUEST, seq, Command.READ_SERIAL)
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x20
    reply = c.request(Command.READ_SERIAL, seq=seq, raw=bytes(damaged), retransmit=False)
    c.answer(reply, "READ_SERIAL after a damaged copy")
    return ""


# -- READ_SERIAL ----------------------------------------------------------------------------------


@rule("read_serial.format", "4.1", "the serial is 1..64 printable ASCII characters without space")
def _serial(c: Checker) -> str:
    payload = c.answer(c.request(Command.READ_SERIAL), "READ_SERIAL")
    try:
        serial, end = unpack_str8(payload)
    except PayloadError as exc:
        raise RuleFailed(f"not a str8: {exc}") from None
    if end != len(payload):
        raise RuleFailed("trailing bytes after the serial")
    if not 1 <= len(serial) <= MAX_SERIAL_LENGTH or not all(0x21 <= ord(ch) <= 0x7E for ch in serial):
        raise RuleFailed(f"serial {serial!r} is not 1..64 printable ASCII characters without space")
    second = c.answer(c.request(Command.READ_SERIAL), "READ_SERIAL again")
    if second != payload:
        raise RuleFailed("two READ_SERIAL answers differ")
    return serial


# -- uploads -----------------------------------------------------------------------------------------


@rule("read_digest.not-found", "4.1", "READ_DIGEST of an object never stored is NOT_FOUND")
def _not_found(c: Checker) -> str:
    for obj in ObjectId:
        reply = c.request(Command.READ_DIGEST, bytes([obj]))
        if reply.error == "NOT_FOUND":
            return f"{obj.name} not stored"
        c.answer(reply, f"READ_DIGEST {obj.name}")
    raise RuleSkipped("every object is already stored on this board")


@rule("commit.incomplete", "4.1", "COMMIT while an object is missing is BAD_STATE")
def _commit_incomplete(c: Checker) -> str:
    missing = [obj for obj in ObjectId if c.request(Command.READ_DIGEST, bytes([obj])).error == "NOT_FOUND"]
    if not missing:
        raise RuleSkipped("every object is already stored on this board")
    c.error(c.request(Command.COMMIT), "BAD_STATE", f"COMMIT without {missing[0].name}")
    return f"{', '.join(obj.name for obj in missing)} missing"


@rule("get_csr.no-key", "4.1", "GET_CSR before any KEYGEN is BAD_STATE")
def _csr_no_key(c: Checker) -> str:
    reply = c.request(Command.GET_CSR, pack_str8("CONFORMANCE-0"))
    if reply.error is None:
        raise RuleSkipped("the board already holds a device key from an earlier KEYGEN")
    c.error(reply, "BAD_STATE", "GET_CSR without a device key")
    return ""


@rule("storage.max-objects", "2.2", "all three objects at 16384 bytes are stored together")
def _max_objects(c: Checker) -> str:
    for obj in ObjectId:
        c.write_object(obj, sample_object(MAX_OBJECT_SIZE, f"MAX-{obj.name}"))
    return "3 × 16384 bytes"


@rule("write.round-trip", "4.1", "WRITE_BEGIN/CHUNK/END store an object; WRITE_END echoes its size and SHA-256")
def _round_trip(c: Checker) -> str:
    for obj, size in ((ObjectId.ROOT_CA, 1500), (ObjectId.CLAIM_CERT, 900), (ObjectId.CLAIM_KEY, 250)):
        c.write_object(obj, sample_object(size, f"RT-{obj.name}"))
    return ""


@rule("read_digest.stored", "4.1", "READ_DIGEST reports the size and SHA-256 of the stored bytes")
def _read_digest(c: Checker) -> str:
    for obj, content in c.objects.items():
        got = c.read_digest(obj)
        if got != ObjectDigest.of(content):
            raise RuleFailed(f"{obj.name}: board says {got.size} bytes, sha256 {got.sha256.hex()[:16]}…, not what was stored")
    return ""


@rule("write_begin.bad-request", "4.1", "WRITE_BEGIN of an unknown object or a size of 0 or 16385 is BAD_REQUEST")
def _begin_bad(c: Checker) -> str:
    digest = hashlib.sha256(b"x").digest()
    for obj, size in ((0x04, 1), (ObjectId.ROOT_CA, 0), (ObjectId.ROOT_CA, MAX_OBJECT_SIZE + 1)):
        c.error(c.request(Command.WRITE_BEGIN, struct.pack(">BI", obj, size) + digest), "BAD_REQUEST",
                f"WRITE_BEGIN object 0x{obj:02X} size {size}")
    c.error(c.request(Command.WRITE_BEGIN, b"\x01\x00"), "BAD_REQUEST", "a 2-byte WRITE_BEGIN")
    return ""


@rule("write_chunk.limits", "4.1", "a chunk leaving a gap or passing the announced size is BAD_REQUEST")
def _chunk_limits(c: Checker) -> str:
    content = sample_object(200, "LIMITS")
    c.answer(c.request(Command.WRITE_BEGIN, bytes([ObjectId.ROOT_CA]) + ObjectDigest.of(content).pack()), "WRITE_BEGIN")
    c.answer(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.ROOT_CA, 0) + content[:100]), "WRITE_CHUNK")
    c.error(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.ROOT_CA, 150) + content[150:]), "BAD_REQUEST",
            "a chunk at 150 with 100 bytes held")
    c.error(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.ROOT_CA, 100) + content[100:] + b"!"),
            "BAD_REQUEST", "a chunk passing the size")
    held = c.answer(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.ROOT_CA, 50) + content[50:100]),
                    "rewriting offset 50")
    if held != struct.pack(">I", 100):
        raise RuleFailed(f"rewriting bytes 50..100 answered {held.hex()}, not 100 held")
    return ""


@rule("write_end.digest-mismatch", "4.1", "WRITE_END with wrong bytes is DIGEST_MISMATCH and keeps the old object")
def _digest_mismatch(c: Checker) -> str:
    before = c.read_digest(ObjectId.ROOT_CA)
    content = sample_object(100, "MISMATCH")
    c.answer(c.request(Command.WRITE_BEGIN, bytes([ObjectId.ROOT_CA]) + ObjectDigest.of(content).pack()), "WRITE_BEGIN")
    c.answer(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.ROOT_CA, 0) + content[:-1] + b"?"), "WRITE_CHUNK")
    c.error(c.request(Command.WRITE_END, bytes([ObjectId.ROOT_CA])), "DIGEST_MISMATCH", "WRITE_END of altered bytes")
    if c.read_digest(ObjectId.ROOT_CA) != before:
        raise RuleFailed("the stored object changed after a failed upload")
    return ""


@rule("write.bad-state", "4.1", "WRITE_CHUNK and WRITE_END without WRITE_BEGIN are BAD_STATE")
def _write_state(c: Checker) -> str:
    c.error(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.CLAIM_CERT, 0) + b"x"), "BAD_STATE",
            "WRITE_CHUNK without WRITE_BEGIN")
    c.error(c.request(Command.WRITE_END, bytes([ObjectId.CLAIM_CERT])), "BAD_STATE", "WRITE_END without WRITE_BEGIN")
    return ""


@rule("session.hello-drops-upload", "4.1", "HELLO drops an unfinished upload")
def _hello_drops(c: Checker) -> str:
    content = sample_object(64, "DROP")
    c.answer(c.request(Command.WRITE_BEGIN, bytes([ObjectId.CLAIM_CERT]) + ObjectDigest.of(content).pack()), "WRITE_BEGIN")
    c.open_session()
    c.error(c.request(Command.WRITE_CHUNK, struct.pack(">BI", ObjectId.CLAIM_CERT, 0) + content), "BAD_STATE",
            "WRITE_CHUNK after HELLO")
    return ""


@rule("precedence.layout-before-state", "4.2", "a malformed request is BAD_REQUEST even when the state is wrong too")
def _precedence(c: Checker) -> str:
    c.error(c.request(Command.WRITE_CHUNK, b"\x09\x00"), "BAD_REQUEST", "a 2-byte WRITE_CHUNK with no upload")
    return ""


@rule("commands.unknown", "4.2", "an unknown command is UNKNOWN_COMMAND")
def _unknown(c: Checker) -> str:
    c.error(c.request(0x7E, b"\x01\x02"), "UNKNOWN_COMMAND", "command 0x7E")
    return ""


@rule("commands.bad-layout", "4.2", "a payload of the wrong layout is BAD_REQUEST")
def _layout(c: Checker) -> str:
    c.error(c.request(Command.READ_SERIAL, b"\x00"), "BAD_REQUEST", "READ_SERIAL with a payload")
    c.error(c.request(Command.READ_DIGEST, b""), "BAD_REQUEST", "READ_DIGEST without a payload")
    c.error(c.request(Command.COMMIT, b"\x00"), "BAD_REQUEST", "COMMIT with a payload")
    c.error(c.request(Command.HELLO, b"\x01"), "BAD_REQUEST", "a 1-byte HELLO")
    c.open_session()
    return ""


# -- keys and CSRs ----------------------------------------------------------------------------------


def _spki(payload: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(payload)
    except ValueError as exc:
        raise RuleFailed(f"KEYGEN answer is not a DER SubjectPublicKeyInfo: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise RuleFailed("KEYGEN answer is not an EC P-256 public key")
    return key


@rule("keygen.public-key", "4.1", "KEYGEN answers an EC P-256 public key (DER SubjectPublicKeyInfo)")
def _keygen(c: Checker) -> str:
    reply = c.keygen()
    _spki(c.answer(reply, "KEYGEN"))
    c.public_keys.append(reply.payload)
    return f"first frame after {reply.latency * 1000:.0f} ms" if reply.latency is not None else ""


@rule("keygen.progress", "3", "KEYGEN's first frame comes within 500 ms and PROGRESS at least every 500 ms")
def _keygen_timing(c: Checker) -> str:
    reply = c.keygen()
    c.public_keys.append(c.answer(reply, "KEYGEN"))
    limit = ANSWER_WITHIN + TIMING_SLACK
    if reply.latency is not None and reply.latency > limit:
        raise RuleFailed(f"first frame after {reply.latency * 1000:.0f} ms")
    if reply.progress_gaps and max(reply.progress_gaps) > limit:
        raise RuleFailed(f"{max(reply.progress_gaps) * 1000:.0f} ms between frames")
    return f"{len(reply.progress_gaps)} frame(s) after the first"


@rule("keygen.fresh-key", "4.1", "every KEYGEN makes a new key")
def _fresh(c: Checker) -> str:
    if len(c.public_keys) < 2:
        raise RuleSkipped("fewer than two KEYGEN answers")
    if len(set(c.public_keys)) != len(c.public_keys):
        raise RuleFailed("two KEYGEN requests answered the same public key")
    return ""


@rule("keygen.retransmission-replayed", "2.4", "a retransmitted KEYGEN replays the key, it makes no new one")
def _keygen_replay(c: Checker) -> str:
    seq = c.next_seq()
    first = c.answer(c.keygen(seq=seq), "KEYGEN")
    second = c.answer(c.keygen(seq=seq), "KEYGEN retransmitted")
    c.public_keys.append(first)
    if first != second:
        raise RuleFailed("the retransmission made a new key")
    return ""


@rule("keygen.unsupported-type", "4.1", "KEYGEN of an unknown key type is UNSUPPORTED, a malformed one BAD_REQUEST")
def _keygen_type(c: Checker) -> str:
    c.error(c.request(Command.KEYGEN, b"\x02", long=True), "UNSUPPORTED", "KEYGEN key type 0x02")
    c.error(c.request(Command.KEYGEN, b"\x01\x01", long=True), "BAD_REQUEST", "a 2-byte KEYGEN")
    return ""


def _csr(c: Checker, cn: str) -> x509.CertificateSigningRequest:
    payload = c.answer(c.request(Command.GET_CSR, pack_str8(cn)), f"GET_CSR {cn!r}")
    try:
        return x509.load_der_x509_csr(payload)
    except ValueError as exc:
        raise RuleFailed(f"GET_CSR answer is not a DER CSR: {exc}") from None


def _csr_key(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@rule("get_csr.signature", "4.1", "the CSR's ECDSA-SHA256 signature verifies")
def _csr_signature(c: Checker) -> str:
    csr = _csr(c, "CONFORMANCE-1")
    if not csr.is_signature_valid:
        raise RuleFailed("the signature does not verify")
    if csr.signature_hash_algorithm is None or csr.signature_hash_algorithm.name != "sha256":
        raise RuleFailed("not signed with SHA-256")
    return ""


@rule("get_csr.subject", "4.1", "the CSR's subject is exactly one attribute, CN = the name asked for")
def _csr_subject(c: Checker) -> str:
    for cn in ("CONFORMANCE-1", "SN1, O=ACME", "a b=c+d", "X" * MAX_SERIAL_LENGTH):
        if 1 + len(cn) > c.max_payload:
            continue  # a 1.0 board may announce 64 bytes: a 64-character name does not fit
        csr = _csr(c, cn)
        attributes = list(csr.subject)
        if len(attributes) != 1 or attributes[0].oid != NameOID.COMMON_NAME or attributes[0].value != cn:
            raise RuleFailed(f"asked CN={cn!r}, subject is {csr.subject.rfc4514_string()!r}")
    return "incl. ',', '=', '+', space and 64 characters"


@rule("get_csr.key", "4.1", "the CSR carries the public key of the last KEYGEN")
def _csr_key_rule(c: Checker) -> str:
    csr = _csr(c, "CONFORMANCE-2")
    if not c.public_keys or _csr_key(csr) != c.public_keys[-1]:
        raise RuleFailed("the CSR's key is not the one KEYGEN reported")
    again = _csr(c, "CONFORMANCE-2")
    if _csr_key(again) != _csr_key(csr):
        raise RuleFailed("a second GET_CSR carries another key")
    return ""


@rule("get_csr.bad-name", "4.1", "an empty, non-printable or 65-character name is BAD_REQUEST")
def _csr_bad(c: Checker) -> str:
    for cn in (b"", b"SN\x07", b"X" * (MAX_SERIAL_LENGTH + 1)):
        if 1 + len(cn) > c.max_payload:
            continue
        c.error(c.request(Command.GET_CSR, bytes([len(cn)]) + cn), "BAD_REQUEST", f"GET_CSR {cn!r}")
    c.error(c.request(Command.GET_CSR, b"\x05ab"), "BAD_REQUEST", "a str8 running past the payload")
    return ""


# -- COMMIT ------------------------------------------------------------------------------------------------


@rule("commit.accepted", "4.1", "COMMIT with every object and a key stored is answered")
def _commit(c: Checker) -> str:
    if not c.commit:
        raise RuleSkipped("COMMIT not sent (commit=False)")
    c.answer(c.request(Command.COMMIT), "COMMIT")
    c.answer(c.request(Command.COMMIT), "COMMIT again")
    return ""


@rule("commit.later-writes", "4.1", "after COMMIT every write is REFUSED (write-protected board) or none is")
def _later_writes(c: Checker) -> str:
    if not c.commit:
        raise RuleSkipped("COMMIT not sent (commit=False)")
    content = sample_object(64, "AFTER-COMMIT")
    begin = c.request(Command.WRITE_BEGIN, bytes([ObjectId.CLAIM_CERT]) + ObjectDigest.of(content).pack())
    keygen = c.request(Command.KEYGEN, b"\x01", long=True)
    refused = [r.error == "REFUSED" for r in (begin, keygen)]
    if any(refused) and not all(refused):
        raise RuleFailed(f"WRITE_BEGIN {begin.error or 'answered'}, KEYGEN {keygen.error or 'answered'}")
    for r in (begin, keygen):
        if r.error not in (None, "REFUSED"):
            raise RuleFailed(f"a write after COMMIT answered {r.error}")
    if all(refused):
        return "write-protected: later writes REFUSED"
    c.public_keys.append(keygen.payload)
    c.answer(c.request(Command.COMMIT), "COMMIT after new writes")
    return "re-provisionable: writes accepted, COMMIT again"


# -- what the whole run saw ---------------------------------------------------------------------------


@rule("framing.board-frames-valid", "2.3", "every chunk the board sent was a valid frame or ended text")
def _frames_valid(c: Checker) -> str:
    if c.link.damaged:
        raise RuleFailed(f"{len(c.link.damaged)} damaged: {c.link.damaged[0]}")
    return f"{c.link.text_chunks} text chunk(s) ignored"


@rule("link.text-ends-with-delimiter", "1", "board output other than frames ends with 0x00")
def _text_delimited(c: Checker) -> str:
    if c.link.glued_text:
        raise RuleFailed(f"{c.link.glued_text} frame(s) came glued to text not ended by 0x00")
    return ""


@rule("timing.answer-within-500ms", "3", "every answer or PROGRESS frame began within 500 ms of the request")
def _timing(c: Checker) -> str:
    if not c.link.latencies:
        raise RuleSkipped("no answers timed")
    command, worst = max(c.link.latencies, key=lambda item: item[1])
    if worst > ANSWER_WITHIN + TIMING_SLACK:
        raise RuleFailed(f"{command} after {worst * 1000:.0f} ms")
    return f"slowest {command}, {worst * 1000:.0f} ms over {len(c.link.latencies)} answers"


AGGREGATE = {"framing.board-frames-valid", "link.text-ends-with-delimiter", "timing.answer-within-500ms"}
"""Rules judged on the whole run: they are checked even after the board went silent."""


def run_conformance(
    port: str, *, baudrate: int = 115200, commit: bool = True, rules: list[str] | None = None,
) -> ConformanceReport:
    """Drive the board on ``port`` through every rule; raises :class:`PortUnavailable` (exit 3).

    ``rules`` limits the run to those names (in their usual order); ``commit=False`` leaves the
    COMMIT rules out, for a board that must not be marked complete.
    """
    started = time.monotonic()
    serial_port = SerialPort(port, baudrate=baudrate)
    report = ConformanceReport(port=port, baudrate=baudrate)
    checker = Checker(serial_port, commit=commit)
    aborted = ""
    try:
        serial_port.discard_input()
        for spec in RULES:
            if rules is not None and spec.name not in rules and spec.name not in AGGREGATE:
                continue
            if aborted and spec.name not in AGGREGATE:
                report.rules.append(RuleResult(spec.name, spec.section, spec.title, None, f"not run: {aborted}"))
                continue
            result, aborted = _run_rule(checker, spec, aborted)
            report.rules.append(result)
    finally:
        report.bytes_sent, report.bytes_received = serial_port.bytes_sent, serial_port.bytes_received
        serial_port.close()
    if checker.hello is not None:
        report.model, report.firmware = checker.hello.model, checker.hello.firmware
        report.protocol = VERSION_NAMES.get(checker.hello.version, str(checker.hello.version))
    report.seconds = time.monotonic() - started
    return report


def _run_rule(checker: Checker, spec: RuleSpec, aborted: str) -> tuple[RuleResult, str]:
    start = time.monotonic()

    def result(passed: bool | None, detail: str) -> RuleResult:
        return RuleResult(spec.name, spec.section, spec.title, passed, detail, time.monotonic() - start)

    try:
        detail = spec.check(checker)
        return result(True, detail), aborted
    except RuleSkipped as exc:
        return result(None, str(exc)), aborted
    except BoardSilent as exc:
        checker.silent_rules += 1
        checker.link.discard()
        if checker.silent_rules >= SILENT_RULES_BEFORE_ABORT:
            aborted = "the board stopped answering"
        return result(False, str(exc)), aborted
    except RuleFailed as exc:
        return result(False, str(exc)), aborted
    except PayloadError as exc:
        return result(False, f"malformed answer: {exc}"), aborted
    except BoardDisconnected as exc:
        return result(False, f"link lost: {exc.message}"), "the link was lost"


def conformance_command(
    port: str, *, baudrate: int = 115200, as_json: bool = False, commit: bool = True, out: TextIO | None = None,
) -> int:
    """What ``station conformance --port P [--baud B] [--json] [--no-commit]`` does; returns the exit code."""
    stream = out if out is not None else _stdout()
    try:
        report = run_conformance(port, baudrate=baudrate, commit=commit)
    except PortUnavailable as exc:
        if as_json:
            stream.write(json.dumps({"port": port, "error": exc.code, "message": exc.message, "hint": exc.hint,
                                     "exit_code": EXIT_PORT}) + "\n")
        else:
            stream.write(f"{exc.code}: {exc.message}\n{exc.hint}\n")
        return EXIT_PORT
    if as_json:
        stream.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        stream.write("\n".join(report.lines()) + "\n")
    return report.exit_code


def _stdout() -> TextIO:
    return sys.stdout


def main(argv: list[str] | None = None) -> int:
    """``python -m flashing.conformance --port P``: the checker without the station's CLI."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flashing.conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial port of the board (/dev/ttyACM0, COM7, socket://...)")
    parser.add_argument("--baud", type=int, default=115200, help="the board's baud rate (default 115200)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")
    parser.add_argument("--no-commit", action="store_true", help="do not send COMMIT (skips the COMMIT rules)")
    args = parser.parse_args(argv)
    return conformance_command(args.port, baudrate=args.baud, as_json=args.json, commit=not args.no_commit)


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "EXIT_FAIL",
    "EXIT_PASS",
    "EXIT_PORT",
    "RULES",
    "ConformanceReport",
    "RuleResult",
    "conformance_command",
    "run_conformance",
]
