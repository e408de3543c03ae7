"""The station's agent driver against simulated boards on real pseudo-terminals and TCP.

Every fault the simulator offers (flashing/sim/faults.py) must end in its typed error, or
in a recovery, never in a hang.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tracemalloc
import tty

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import ClaimBundle, ClaimObject
from flashing.errors import (
    BoardDisconnected,
    BoardRefused,
    BoardTimeout,
    FrameError,
    PortUnavailable,
)
from flashing.protocol import MAX_CHUNK, MAX_ENCODED_FRAME, Command, ObjectId
from flashing.sim import SimulatedBoard, start_boards
from flashing.sim.faults import PLAIN_KINDS, STEP_KINDS, STEPS

pytestmark = pytest.mark.timeout(20)

FAST = AgentTimeouts(answer=0.2, retries=2, keygen=10.0)
ALL_STEPS = sorted(STEPS)
# Worst case of one request that never gets a good answer: every try waits its full patience.
PATIENCE = FAST.answer + (2 * MAX_ENCODED_FRAME + 4) * 10 / 115200
GIVE_UP = (1 + FAST.retries) * PATIENCE + 1.0


def cn_of(csr: x509.CertificateSigningRequest) -> str:
    return csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def spki(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def exchange(driver: AgentBoard, bundle: ClaimBundle, serial: str | None = None) -> dict:
    """The whole provisioning exchange, as the station's pipeline runs it."""
    result: dict = {"identity": driver.identify()}
    result["serial"] = driver.read_serial()
    driver.install_claim_bundle(bundle)
    result["digests"] = driver.read_digests()
    result["csr"] = x509.load_der_x509_csr(driver.generate_csr(serial or result["serial"]))
    driver.commit()
    return result


def expected_digests(bundle: ClaimBundle) -> dict[ClaimObject, str]:
    return {obj: bundle.sha256(obj) for obj in ClaimObject}


def run_with_fault(sim_board, open_driver, bundle: ClaimBundle, fault: str):
    board = sim_board("SN0000001", faults=[fault])
    driver = open_driver(board.port)
    start = time.monotonic()
    try:
        return board, exchange(driver, bundle), None, time.monotonic() - start
    except Exception as exc:  # noqa: BLE001 - handed to the test to check its type
        return board, None, exc, time.monotonic() - start


# -- the clean exchange ----------------------------------------------------------------


def test_bundle_is_realistic_and_the_root_ca_needs_more_than_one_chunk(claim_bundle):
    assert claim_bundle.root_ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert claim_bundle.claim_key.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(claim_bundle.root_ca) > MAX_CHUNK
    assert 700 < len(claim_bundle.claim_cert) < MAX_CHUNK
    assert 200 < len(claim_bundle.claim_key) < 300


def test_clean_exchange_over_a_pty(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000042")
    driver = open_driver(board.port)
    result = exchange(driver, claim_bundle)

    assert result["identity"].protocol == "agent/1.1"
    assert (result["identity"].model, result["identity"].firmware) == ("SIM-AGENT-1", "1.4.0-sim")
    assert result["serial"] == "SN0000042"
    assert result["digests"] == expected_digests(claim_bundle)
    csr = result["csr"]
    assert cn_of(csr) == "SN0000042"
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.public_key().curve.name == "secp256r1"
    assert spki(csr) == board.model.state.device_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert board.model.state.objects == {
        ObjectId.ROOT_CA: claim_bundle.root_ca,
        ObjectId.CLAIM_CERT: claim_bundle.claim_cert,
        ObjectId.CLAIM_KEY: claim_bundle.claim_key,
    }
    assert board.model.state.committed
    assert (
        board.requests_seen.count(Command.WRITE_CHUNK) == 4
    )  # root CA in 2 chunks, 1 each for the others
    assert board.requests_seen.count(Command.KEYGEN) == 1


def test_clean_exchange_over_tcp(open_driver, claim_bundle):
    board = start_boards(1, serial_prefix="TCP", transport="tcp")[0]
    try:
        assert board.port.startswith("socket://127.0.0.1:")
        driver = open_driver(board.port)
        result = exchange(driver, claim_bundle)
        assert result["serial"] == "TCP000001"
        assert result["digests"] == expected_digests(claim_bundle)
        assert cn_of(result["csr"]) == "TCP000001" and result["csr"].is_signature_valid
        assert board.model.state.committed
    finally:
        board.stop()


def test_start_boards_gives_each_board_its_own_port_and_serial(open_driver):
    boards = start_boards(3, serial_prefix="LINE", first_number=7)
    try:
        assert len({b.port for b in boards}) == 3
        serials = []
        for board in boards:
            driver = open_driver(board.port)
            driver.identify()
            serials.append(driver.read_serial())
        assert serials == ["LINE000007", "LINE000008", "LINE000009"]
    finally:
        for board in boards:
            board.stop()


def test_long_keygen_is_carried_by_progress_frames_without_retransmission(sim_board, open_driver):
    board = sim_board("SN0000001", keygen_ms=1300)
    driver = open_driver(board.port, timeouts=AgentTimeouts(answer=1.0, retries=2, keygen=10.0))
    driver.identify()
    start = time.monotonic()
    csr = x509.load_der_x509_csr(driver.generate_csr("SN0000001"))
    assert time.monotonic() - start >= 1.3
    assert cn_of(csr) == "SN0000001"
    assert board.requests_seen.count(Command.KEYGEN) == 1


def test_reconnecting_to_the_same_board_starts_a_new_session(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000001")
    first = open_driver(board.port)
    exchange(first, claim_bundle)
    first.close()
    second = open_driver(board.port)
    assert second.identify().protocol == "agent/1.1"
    assert second.read_digests() == expected_digests(claim_bundle)  # the board's flash survived


# -- every fault -------------------------------------------------------------------------

COVERED_KINDS = {
    "drop", "stall", "corrupt", "corrupt-once", "garbage", "refuse", "deaf-once",
    "storage-full", "keygen-fail", "wrong-cn", "reuse-key", "bad-signature", "bad-digest", "bad-serial",
    "slow", "replay-broken", "version-outside", "chatter",
}  # fmt: skip


def test_every_fault_of_the_simulator_is_covered_here():
    assert COVERED_KINDS == STEP_KINDS | PLAIN_KINDS


@pytest.mark.parametrize("step", ALL_STEPS)
def test_drop_at_step_ends_in_board_disconnected(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"drop@{step}"
    )
    assert isinstance(error, BoardDisconnected), error
    assert error.code == "BOARD_DISCONNECTED"
    assert board.requests_seen[-1] == STEPS[step]
    assert elapsed < GIVE_UP


@pytest.mark.parametrize("step", ALL_STEPS)
def test_stall_at_step_ends_in_board_timeout(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"stall@{step}"
    )
    assert isinstance(error, BoardTimeout), error
    assert error.code == "BOARD_TIMEOUT"
    assert board.requests_seen[-(1 + FAST.retries) :] == [STEPS[step]] * (1 + FAST.retries)
    assert elapsed < GIVE_UP


@pytest.mark.parametrize("step", ALL_STEPS)
def test_corrupt_at_step_ends_in_frame_error(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"corrupt@{step}"
    )
    assert type(error) is FrameError, error
    assert error.code == "BOARD_FRAME_CORRUPT"
    assert board.requests_seen[-(1 + FAST.retries) :] == [STEPS[step]] * (1 + FAST.retries)
    assert elapsed < GIVE_UP


@pytest.mark.parametrize("step", ALL_STEPS)
def test_corrupt_once_at_step_recovers_by_retransmission(
    sim_board, open_driver, claim_bundle, step
):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"corrupt-once@{step}"
    )
    assert error is None, error
    assert result["digests"] == expected_digests(claim_bundle)
    assert cn_of(result["csr"]) == "SN0000001" and result["csr"].is_signature_valid
    assert board.model.state.committed
    # The retransmission was answered from the board's cache: KEYGEN ran once, whatever the step.
    assert board.requests_seen.count(STEPS[step]) >= 2
    assert board.requests_seen.count(Command.KEYGEN) == (2 if step == "keygen" else 1)
    assert spki(result["csr"]) == board.model.state.device_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("step", ALL_STEPS)
def test_a_request_lost_once_at_step_is_recovered_by_retransmission(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(sim_board, open_driver, claim_bundle, f"deaf-once@{step}")
    assert error is None, error
    assert board.model.state.committed
    assert board.requests_seen.count(STEPS[step]) >= 2
    assert board.requests_seen.count(Command.KEYGEN) == (2 if step == "keygen" else 1)


@pytest.mark.parametrize("step", ALL_STEPS)
def test_garbage_at_step_ends_in_frame_error(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"garbage@{step}"
    )
    assert isinstance(error, FrameError), error
    assert error.code in ("BOARD_FRAME_CORRUPT", "BOARD_FRAME_TOO_LONG")
    assert elapsed < GIVE_UP


@pytest.mark.parametrize("step", ALL_STEPS)
def test_refuse_at_step_ends_in_board_refused(sim_board, open_driver, claim_bundle, step):
    board, result, error, elapsed = run_with_fault(
        sim_board, open_driver, claim_bundle, f"refuse@{step}"
    )
    assert isinstance(error, BoardRefused), error
    assert error.code == "BOARD_REFUSED"
    assert error.board_code == "REFUSED"
    assert error.command == step.upper()
    assert board.requests_seen.count(STEPS[step]) == 1  # an error answer is final: no retry


def test_storage_full_ends_in_board_storage_full(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "storage-full")
    assert isinstance(error, BoardRefused), error
    assert error.code == "BOARD_STORAGE_FULL"
    assert error.command == "WRITE_BEGIN"
    assert "storage" in error.hint.lower()
    assert not board.model.state.committed


def test_keygen_fail_ends_in_board_keygen_failed(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "keygen-fail")
    assert isinstance(error, BoardRefused), error
    assert error.code == "BOARD_KEYGEN_FAILED"
    assert error.command == "KEYGEN"
    assert board.model.state.device_key is None


def test_wrong_cn_gives_a_csr_whose_cn_is_not_the_serial(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "wrong-cn")
    assert error is None
    assert result["csr"].is_signature_valid
    assert cn_of(result["csr"]) != result["serial"] == "SN0000001"


def test_reuse_key_gives_two_boards_the_same_public_key(open_driver, claim_bundle):
    boards = start_boards(2, faults={0: ["reuse-key"], 1: ["reuse-key"]})
    try:
        keys = [spki(exchange(open_driver(b.port), claim_bundle)["csr"]) for b in boards]
    finally:
        for board in boards:
            board.stop()
    assert keys[0] == keys[1]


def test_healthy_boards_have_different_keys(open_driver, claim_bundle):
    boards = start_boards(2)
    try:
        keys = [spki(exchange(open_driver(b.port), claim_bundle)["csr"]) for b in boards]
    finally:
        for board in boards:
            board.stop()
    assert keys[0] != keys[1]


def test_bad_signature_gives_a_csr_whose_signature_does_not_verify(
    sim_board, open_driver, claim_bundle
):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "bad-signature")
    assert error is None
    assert cn_of(result["csr"]) == "SN0000001"
    assert not result["csr"].is_signature_valid


def test_bad_digest_gives_digests_other_than_the_bundle_s(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "bad-digest")
    assert error is None
    expected = expected_digests(claim_bundle)
    assert all(result["digests"][obj] != expected[obj] for obj in ClaimObject)
    assert (
        board.model.stored_sha256(ObjectId.ROOT_CA) == expected[ClaimObject.ROOT_CA]
    )  # the board lies


def test_bad_serial_is_returned_as_the_board_sends_it(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000001", faults=["bad-serial"])
    driver = open_driver(board.port)
    driver.identify()
    serial = driver.read_serial()
    assert serial != "SN0000001"
    assert not serial.isalnum()  # malformed: the station's validation must catch it


def test_an_answer_slower_than_500_ms_is_still_taken_within_the_host_s_patience(
    sim_board, open_driver, claim_bundle
):
    board = sim_board("SN0000001", faults=["slow@read_serial"])
    driver = open_driver(board.port, timeouts=AgentTimeouts(answer=1.0, retries=2, keygen=10.0))
    result = exchange(driver, claim_bundle)
    assert result["serial"] == "SN0000001"
    assert board.requests_seen.count(Command.READ_SERIAL) == 1


def test_a_board_that_executes_a_retransmitted_write_end_again_fails_with_bad_state(
    sim_board, open_driver, claim_bundle
):
    board, result, error, _ = run_with_fault_set(
        sim_board, open_driver, claim_bundle, ["replay-broken", "corrupt-once@write_end"]
    )
    assert isinstance(error, BoardRefused) and error.code == "BOARD_BAD_STATE"


def test_a_version_outside_the_asked_range_is_a_protocol_error(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "version-outside")
    assert error is not None and error.code == "BOARD_PROTOCOL"
    assert "outside the asked range" in error.message


def test_logs_not_ended_by_a_delimiter_damage_every_answer_after_them(sim_board, open_driver, claim_bundle):
    board, result, error, _ = run_with_fault(sim_board, open_driver, claim_bundle, "chatter")
    assert isinstance(error, FrameError) and error.code == "BOARD_FRAME_CORRUPT"
    assert board.requests_seen[-1] == Command.READ_SERIAL


def test_logs_ended_by_a_delimiter_do_not_disturb_the_exchange(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000001", logs=True)
    result = exchange(open_driver(board.port), claim_bundle)
    assert result["digests"] == expected_digests(claim_bundle)
    assert board.requests_seen.count(Command.WRITE_CHUNK) == 4  # not one retransmission


def test_a_1_0_board_still_provisions_with_the_1_1_driver(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000010", versions=(1,))
    result = exchange(open_driver(board.port), claim_bundle)
    assert result["identity"].protocol == "agent/1"
    assert result["digests"] == expected_digests(claim_bundle)
    assert board.model.state.committed


def run_with_fault_set(sim_board, open_driver, bundle: ClaimBundle, faults: list[str]):
    board = sim_board("SN0000001", faults=faults)
    driver = open_driver(board.port)
    start = time.monotonic()
    try:
        return board, exchange(driver, bundle), None, time.monotonic() - start
    except Exception as exc:  # noqa: BLE001 - handed to the test to check its type
        return board, None, exc, time.monotonic() - start


# -- ports, unplugging, flooding --------------------------------------------------------


def unused_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "port",
    [
        "/dev/ttyDOES-NOT-EXIST",
        pytest.param(f"socket://127.0.0.1:{unused_tcp_port()}", id="socket_refused"),
    ],
)
def test_opening_a_missing_port_raises_port_unavailable(port):
    with pytest.raises(PortUnavailable) as caught:
        AgentBoard.open(port, timeouts=FAST)
    assert caught.value.code == "PORT_UNAVAILABLE"
    assert port in caught.value.message


def test_unplug_between_steps_ends_in_board_disconnected(sim_board, open_driver, claim_bundle):
    board = sim_board("SN0000001")
    driver = open_driver(board.port)
    driver.identify()
    driver.read_serial()
    board.unplug()
    with pytest.raises(BoardDisconnected):
        driver.install_claim_bundle(claim_bundle)


def test_unplug_while_waiting_for_an_answer_ends_in_board_disconnected(
    sim_board, open_driver, claim_bundle
):
    board = sim_board("SN0000001", keygen_ms=5000)
    driver = open_driver(board.port, timeouts=AgentTimeouts(answer=1.0, retries=2, keygen=10.0))
    driver.identify()
    timer = threading.Timer(0.3, board.unplug)
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(BoardDisconnected):
            driver.generate_csr("SN0000001")
    finally:
        timer.cancel()
    assert time.monotonic() - start < 2.0


def test_unplug_over_tcp_ends_in_board_disconnected(open_driver):
    board = start_boards(1, transport="tcp")[0]
    try:
        driver = open_driver(board.port)
        driver.identify()
        board.unplug()
        with pytest.raises(BoardDisconnected):
            driver.read_serial()
    finally:
        board.stop()


class FloodingBoard:
    """A broken board on its own pty that sends non-zero bytes forever, never a delimiter."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(
            self._master, False
        )  # never stuck in write() when the station stops reading
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        noise = bytes(range(1, 256)) * 16
        while not self._stop.is_set():
            select.select([], [self._master], [], 0.05)
            try:
                os.write(self._master, noise)
            except BlockingIOError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._master)
        os.close(self._slave)


def test_endless_stream_without_delimiter_ends_in_time_with_bounded_memory(open_driver):
    board = FloodingBoard()
    try:
        driver = open_driver(board.port)
        tracemalloc.start()
        start = time.monotonic()
        try:
            with pytest.raises((FrameError, BoardTimeout)):
                driver.identify()
            elapsed = time.monotonic() - start
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        received = driver.transport.bytes_received
    finally:
        board.stop()
    assert elapsed < GIVE_UP
    assert received > 50 * MAX_ENCODED_FRAME  # the board really flooded the line
    assert peak < 512 * 1024  # ... and the station held on to almost none of it
    assert peak < received / 10


def test_timeout_is_reported_within_the_retry_budget(sim_board, open_driver):
    board = sim_board("SN0000001", faults=["stall@hello"])
    driver = open_driver(board.port)
    start = time.monotonic()
    with pytest.raises(BoardTimeout):
        driver.identify()
    elapsed = time.monotonic() - start
    assert (1 + FAST.retries) * FAST.answer <= elapsed < GIVE_UP


# -- the emulated wire ------------------------------------------------------------------


def test_emulated_baud_rate_makes_the_exchange_take_at_least_its_wire_time(
    open_driver, claim_bundle
):
    board = SimulatedBoard("SN0000001", baud=115200).start()
    try:
        driver = open_driver(board.port, timeouts=AgentTimeouts(), baudrate=115200)
        start = time.monotonic()
        exchange(driver, claim_bundle)
        elapsed = time.monotonic() - start
        transport = driver.transport
        wire_seconds = (transport.bytes_sent + transport.bytes_received) * 10 / 115200
    finally:
        board.stop()
    assert transport.bytes_sent > len(claim_bundle.root_ca) + len(claim_bundle.claim_cert)
    assert elapsed >= wire_seconds > 0.2


def test_without_baud_emulation_the_same_exchange_is_much_faster(
    open_driver, claim_bundle, sim_board
):
    board = sim_board("SN0000001")
    driver = open_driver(board.port, timeouts=AgentTimeouts())
    start = time.monotonic()
    exchange(driver, claim_bundle)
    elapsed = time.monotonic() - start
    wire_seconds = (driver.transport.bytes_sent + driver.transport.bytes_received) * 10 / 115200
    assert elapsed < wire_seconds  # so the wire-time test above measures the emulation


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("flush", lambda t: t.send(b"\x00")),
        ("reset_input_buffer", lambda t: t.discard_input()),
        ("read", lambda t: t.receive(time.monotonic() + 0.5)),
    ],
)
def test_termios_error_of_a_vanished_device_is_board_disconnected(
    sim_board, open_driver, monkeypatch, method, call
):
    # On POSIX pyserial lets termios.error (not an OSError) out of tcdrain/tcflush/tcsetattr
    # when the USB device or pty disappears; it must still surface as a typed BoardError.
    termios = pytest.importorskip("termios")

    def vanished(*args, **kwargs):
        raise termios.error(5, "Input/output error")

    board = sim_board("SN0000001")
    transport = open_driver(board.port).transport
    monkeypatch.setattr(transport._serial, method, vanished)
    with pytest.raises(BoardDisconnected):
        call(transport)
