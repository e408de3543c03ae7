"""Driver for boards running our firmware agent (``docs/protocol.md``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .board import Board, BoardIdentity, ClaimBundle, ClaimObject
from .errors import BoardRefused, BoardTimeout, FrameError, ProtocolError, WrongProtocol
from .frames import Frame, encode_frame
from .probe import answers_at
from .protocol import (
    BUSY_ATTEMPTS,
    BUSY_BACKOFF_SECONDS,
    COMMAND_LIMIT_SECONDS,
    KEYGEN_LIMIT_SECONDS,
    MAX_CHUNK,
    MAX_ENCODED_FRAME,
    MAX_PAYLOAD,
    MIN_MAX_PAYLOAD,
    PROTOCOL_VERSIONS,
    QUIET_GAP_SECONDS,
    RETRY_SPACING_SECONDS,
    VERSION_NAMES,
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
    keygen: float = KEYGEN_LIMIT_SECONDS
    """Upper bound for KEYGEN, however many PROGRESS frames arrive."""
    command: float = COMMAND_LIMIT_SECONDS
    """Upper bound for any other command, however many PROGRESS frames arrive."""
    spacing: float = RETRY_SPACING_SECONDS
    """Least time between two sends of one request (a burst of noise must not use up every try)."""
    quiet: float = QUIET_GAP_SECONDS
    """After a damaged frame, the line must be quiet this long (plus 32 byte times) before a retransmission."""
    busy_backoff: float = BUSY_BACKOFF_SECONDS
    """Wait after a BUSY answer before asking again (as a new request, new seq)."""
    busy_attempts: int = BUSY_ATTEMPTS


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
        self._max_payload = MAX_PAYLOAD
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
        low, high = PROTOCOL_VERSIONS[0], PROTOCOL_VERSIONS[-1]
        self._max_payload = MAX_PAYLOAD
        answer = self._request(Command.HELLO, bytes([low, high]), on_silence=self._unless_it_speaks_at)
        hello = _parse(Hello.unpack, answer, "HELLO")
        if not low <= hello.version <= high:
            raise ProtocolError(f"board chose protocol version {hello.version}, outside the asked range {low}..{high}")
        least = MIN_MAX_PAYLOAD[hello.version]
        if not least <= hello.max_payload <= MAX_PAYLOAD:
            raise ProtocolError(
                f"board announced max_payload {hello.max_payload}; version {VERSION_NAMES[hello.version]} "
                f"requires {least}..{MAX_PAYLOAD}"
            )
        self._max_payload = hello.max_payload
        self._max_chunk = min(MAX_CHUNK, hello.max_payload - 5)
        self.hello = hello
        return BoardIdentity(model=hello.model, firmware=hello.firmware, protocol=protocol_label(hello.version))

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
        request = pack_str8(common_name)
        if len(request) > self._max_payload:
            raise ProtocolError(
                f"GET_CSR for a {len(request) - 1}-byte name needs {len(request)} payload bytes; "
                f"the board accepts {self._max_payload}",
                code="BOARD_PAYLOAD_LIMIT",
                hint="The serial is too long for this board's firmware. Set the board aside for engineering.",
            )
        public_key = self._request(Command.KEYGEN, bytes([KeyType.EC_P256]), long_running=True)
        csr = self._request(Command.GET_CSR, request)
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

    def _unless_it_speaks_at(self) -> None:
        """A port silent to HELLO that answers ``AT`` is a modem, not a board of ours."""
        if answers_at(self._transport):
            raise WrongProtocol("at")

    def _request(
        self, command: Command, payload: bytes = b"", *, long_running: bool = False,
        on_silence: Callable[[], None] | None = None,
    ) -> bytes:
        """Send one request and return its ANSWER payload.

        A BUSY error answer is asked again after a pause as a new request (new seq): the
        same seq would only fetch the remembered BUSY (docs/protocol.md, section 2.4).
        """
        for attempt in range(1, self._timeouts.busy_attempts + 1):
            try:
                return self._exchange(command, payload, long_running=long_running, on_silence=on_silence)
            except BoardRefused as refusal:
                if refusal.board_code != "BUSY" or attempt == self._timeouts.busy_attempts:
                    raise
            time.sleep(self._timeouts.busy_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(
        self, command: Command, payload: bytes, *, long_running: bool, on_silence: Callable[[], None] | None = None
    ) -> bytes:
        """One request, with up to ``retries`` retransmissions of the same bytes (same seq).

        The board replays its remembered answer to a repeated seq, so a retransmission
        never executes a command twice. A try ends early on a damaged frame only once the
        line has been quiet and ``spacing`` has passed since the send; the last try always
        waits its whole patience, so a late good answer still counts. ``on_silence`` is
        called once if the first try heard no frame at all, before the retransmissions.
        """
        self._seq = (self._seq + 1) & 0xFF
        frame = encode_frame(FrameType.REQUEST, self._seq, command, payload)
        byte_time = 10 / self._transport.baudrate
        patience = self._timeouts.answer + (len(frame) + MAX_ENCODED_FRAME + 2) * byte_time
        # The limit covers all tries together ("the host gives up after 60 s whatever PROGRESS
        # frames came"), not each try on its own.
        sends = 1 + self._timeouts.retries
        limit = time.monotonic() + (
            self._timeouts.keygen if long_running else max(self._timeouts.command, sends * patience)
        )
        corrupt = 0
        tries = 0
        while tries < sends and time.monotonic() < limit:
            tries += 1
            sent_at = time.monotonic()
            self._transport.send(b"\x00" + frame)
            early = tries < sends
            answer, corrupt_seen = self._await_answer(command, patience, limit, sent_at, byte_time, early)
            corrupt += corrupt_seen
            if answer is not None:
                return self._unwrap(command, answer)
            if tries == 1 and not corrupt and on_silence is not None:
                on_silence()
        if corrupt:
            raise FrameError(f"{command.name}: {corrupt} corrupt answer(s), no good one after {tries} tries")
        raise BoardTimeout(f"{command.name}: no answer after {tries} tries")

    def _await_answer(
        self, command: Command, patience: float, limit: float, sent_at: float, byte_time: float, end_on_damage: bool
    ) -> tuple[Frame | None, int]:
        """Wait for the answer to the current seq; return it (or None) and how many corrupt frames came.

        PROGRESS frames restart the wait, but never past ``limit`` (monotonic).
        """
        deadline = sent_at + patience
        quiet = self._timeouts.quiet + 32 * byte_time
        corrupt = 0
        while True:
            wait_until = min(deadline, limit)
            if corrupt and end_on_damage:
                last_byte = getattr(self._transport, "last_byte_at", 0.0)
                wait_until = min(wait_until, max(sent_at + self._timeouts.spacing, last_byte + quiet))
            if time.monotonic() >= wait_until:
                return None, corrupt
            for item in self._transport.receive(wait_until):
                if isinstance(item, FrameError):
                    corrupt += 1
                    continue
                if item.seq != self._seq or item.cmd != command or item.type == FrameType.REQUEST:
                    continue  # an answer to an earlier request, or our own echo
                if item.type == FrameType.PROGRESS:
                    deadline = time.monotonic() + patience
                    continue
                return item, corrupt

    def _unwrap(self, command: Command, frame: Frame) -> bytes:
        if frame.type == FrameType.ERROR:
            board_code, text = _parse(unpack_error, frame.payload, command.name)
            raise BoardRefused(board_code, text, command=command.name)
        return frame.payload


def protocol_label(version: int) -> str:
    """``agent/1`` for a 1.0 board (as before 1.1), ``agent/1.1`` for version byte 2."""
    return "agent/1" if version == 1 else f"agent/{VERSION_NAMES.get(version, str(version))}"


def _parse(parser, data, what):  # type: ignore[no-untyped-def]
    try:
        return parser(data)
    except PayloadError as exc:
        raise ProtocolError(f"malformed {what} answer: {exc}") from None
