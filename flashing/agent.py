"""Driver for boards running our firmware agent (``docs/protocol.md``)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from .board import Board, BoardIdentity, ClaimBundle, ClaimObject
from .errors import BoardRefused, BoardTimeout, FrameError, ProtocolError, UnsupportedBoard
from .frames import Frame, encode_frame
from .protocol import (
    MAX_CHUNK,
    MAX_ENCODED_FRAME,
    PROTOCOL_VERSIONS,
    Command,
    FrameType,
    Hello,
    KeyType,
    ObjectDigest,
    ObjectId,
    PayloadError,
    pack_str8,
    pack_write_begin,
    pack_write_chunk,
    unpack_error,
    unpack_str8,
)
from .transport import SerialTransport

OBJECT_IDS: dict[ClaimObject, ObjectId] = {
    ClaimObject.ROOT_CA: ObjectId.ROOT_CA,
    ClaimObject.CLAIM_CERT: ObjectId.CLAIM_CERT,
    ClaimObject.CLAIM_KEY: ObjectId.CLAIM_KEY,
}


@dataclass(frozen=True)
class AgentTimeouts:
    """How long the station waits, per the protocol's timing rules."""

    answer: float = 1.0
    """Seconds to wait for an answer after the request is sent (wire time is added)."""
    retries: int = 3
    """Retransmissions of one request after a timeout or a corrupt answer."""
    keygen: float = 60.0
    """Upper bound for KEYGEN, however many PROGRESS frames arrive."""


class AgentBoard(Board):
    """A board speaking the reference agent protocol over a :class:`SerialTransport`."""

    def __init__(
        self,
        transport: SerialTransport,
        *,
        timeouts: AgentTimeouts | None = None,
        first_seq: int | None = None,
    ) -> None:
        self._transport = transport
        self._timeouts = timeouts or AgentTimeouts()
        self._seq = random.randrange(256) if first_seq is None else first_seq & 0xFF
        self._max_chunk = MAX_CHUNK
        self.hello: Hello | None = None

    @classmethod
    def open(cls, port: str, *, baudrate: int = 115200, timeouts: AgentTimeouts | None = None) -> AgentBoard:
        return cls(SerialTransport(port, baudrate=baudrate), timeouts=timeouts)

    @property
    def transport(self) -> SerialTransport:
        return self._transport

    # -- Board interface -------------------------------------------------

    def identify(self) -> BoardIdentity:
        self._transport.discard_input()
        payload = bytes([PROTOCOL_VERSIONS[0], PROTOCOL_VERSIONS[-1]])
        answer = self._request(Command.HELLO, payload)
        hello = _parse(Hello.unpack, answer, "HELLO")
        if hello.version not in PROTOCOL_VERSIONS:
            raise UnsupportedBoard(f"board chose protocol version {hello.version}, station speaks {PROTOCOL_VERSIONS}")
        if hello.max_payload < 64:
            raise ProtocolError(f"board accepts only {hello.max_payload}-byte payloads; at least 64 are required")
        self._max_chunk = min(MAX_CHUNK, hello.max_payload - 5)
        self.hello = hello
        return BoardIdentity(model=hello.model, firmware=hello.firmware, protocol=f"agent/{hello.version}")

    def read_serial(self) -> str:
        answer = self._request(Command.READ_SERIAL)
        serial, end = _parse(unpack_str8, answer, "READ_SERIAL")
        if end != len(answer):
            raise ProtocolError("trailing bytes after the serial number")
        return serial

    def install_claim_bundle(self, bundle: ClaimBundle) -> None:
        for obj in ClaimObject:
            self._write_object(OBJECT_IDS[obj], bundle.content(obj))

    def read_digests(self) -> dict[ClaimObject, str]:
        digests = {}
        for obj, object_id in OBJECT_IDS.items():
            answer = self._request(Command.READ_DIGEST, bytes([object_id]))
            digests[obj] = _parse(ObjectDigest.unpack, answer, "READ_DIGEST").sha256.hex()
        return digests

    def generate_csr(self, common_name: str) -> bytes:
        public_key = self._request(Command.KEYGEN, bytes([KeyType.EC_P256]), long_running=True)
        csr = self._request(Command.GET_CSR, pack_str8(common_name))
        if not csr:
            raise ProtocolError("board returned an empty CSR")
        if not public_key or public_key not in csr:
            raise ProtocolError("the CSR does not carry the public key the board reported from KEYGEN")
        return csr

    def commit(self) -> None:
        self._request(Command.COMMIT)

    def close(self) -> None:
        self._transport.close()

    # -- exchanges -------------------------------------------------------

    def _write_object(self, object_id: ObjectId, content: bytes) -> None:
        self._request(Command.WRITE_BEGIN, pack_write_begin(object_id, content))
        for offset in range(0, len(content), self._max_chunk):
            chunk = content[offset : offset + self._max_chunk]
            answer = self._request(Command.WRITE_CHUNK, pack_write_chunk(object_id, offset, chunk))
            if len(answer) != 4 or int.from_bytes(answer, "big") != offset + len(chunk):
                raise ProtocolError(f"WRITE_CHUNK answer does not confirm offset {offset + len(chunk)}")
        stored = _parse(ObjectDigest.unpack, self._request(Command.WRITE_END, bytes([object_id])), "WRITE_END")
        if stored != ObjectDigest.of(content):
            raise ProtocolError(f"board confirmed {object_id.name} with a digest that is not the one sent")

    def _request(self, command: Command, payload: bytes = b"", *, long_running: bool = False) -> bytes:
        """Send one request and return its ANSWER payload.

        The same bytes (same seq) are retransmitted after a timeout or a
        corrupt answer; the board replays its cached answer to a repeated
        seq, so a retransmission never executes a command twice.
        """
        self._seq = (self._seq + 1) & 0xFF
        frame = encode_frame(FrameType.REQUEST, self._seq, command, payload)
        wire_time = (len(frame) + MAX_ENCODED_FRAME + 2) * 10 / self._transport.baudrate
        corrupt = 0
        # A long command's limit covers all tries together ("the host gives up after 60 s
        # whatever PROGRESS frames came"), not each try on its own.
        limit = time.monotonic() + self._timeouts.keygen if long_running else None
        tries = 0
        while tries < 1 + self._timeouts.retries and (limit is None or time.monotonic() < limit):
            tries += 1
            self._transport.send(b"\x00" + frame)
            answer, corrupt_seen = self._await_answer(command, self._timeouts.answer + wire_time, limit)
            corrupt += corrupt_seen
            if answer is not None:
                return self._unwrap(command, answer)
        if corrupt:
            raise FrameError(f"{command.name}: {corrupt} corrupt answer(s), no good one after {tries} tries")
        raise BoardTimeout(f"{command.name}: no answer after {tries} tries")

    def _await_answer(self, command: Command, patience: float, limit: float | None) -> tuple[Frame | None, int]:
        """Wait for the answer to the current seq; return it (or None) and how many corrupt frames came.

        PROGRESS frames restart the wait, but never past ``limit`` (monotonic) when one is given.
        """
        now = time.monotonic()
        deadline = now + patience
        hard_deadline = now + patience if limit is None else limit
        corrupt = 0
        while True:
            items = self._transport.receive(min(deadline, hard_deadline))
            if not items:
                return None, corrupt
            for item in items:
                if isinstance(item, FrameError):
                    corrupt += 1
                    continue
                if item.seq != self._seq or item.cmd != command or item.type == FrameType.REQUEST:
                    continue  # a stale answer to an earlier request, or our own echo
                if item.type == FrameType.PROGRESS:
                    deadline = time.monotonic() + patience
                    continue
                return item, corrupt
            if corrupt:
                return None, corrupt

    def _unwrap(self, command: Command, frame: Frame) -> bytes:
        if frame.type == FrameType.ERROR:
            board_code, text = _parse(unpack_error, frame.payload, command.name)
            raise BoardRefused(board_code, text, command=command.name)
        return frame.payload


def _parse(parser, data, what):  # type: ignore[no-untyped-def]
    try:
        return parser(data)
    except PayloadError as exc:
        raise ProtocolError(f"malformed {what} answer: {exc}") from None
