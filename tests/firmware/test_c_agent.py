"""The C reference agent (firmware/) provisioned by the station's driver over a real pty.

Every test runs the AddressSanitizer + UndefinedBehaviorSanitizer build unless it says
otherwise; the fixture fails the test if the agent reports a sanitizer error or exits uncleanly.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashing.agent import AgentBoard, AgentTimeouts
from flashing.board import ClaimBundle, ClaimObject
from flashing.errors import BoardRefused
from flashing.frames import FrameDecoder, encode_frame
from flashing.protocol import Command, ErrorCode, FrameType, Hello
from flashing.serial_port import SerialPort

pytestmark = pytest.mark.timeout(60)

TIMEOUTS = AgentTimeouts(answer=1.0, retries=2, keygen=20.0)


def claim_bundle() -> ClaimBundle:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return ClaimBundle(
        root_ca=pem * 3,  # more than one chunk
        claim_cert=pem,
        claim_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def spki(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def provision(port: str, bundle: ClaimBundle) -> dict:
    driver = AgentBoard.open(port, timeouts=TIMEOUTS)
    try:
        result: dict = {"identity": driver.identify(), "serial": driver.read_serial()}
        driver.install_claim_bundle(bundle)
        result["digests"] = driver.read_digests()
        result["csr"] = x509.load_der_x509_csr(driver.generate_csr(result["serial"]))
        driver.commit()
        return result
    finally:
        driver.close()


def raw_exchange(port: str, data: bytes, *, wait: float = 1.0, until_seq: int | None = None) -> list:
    """Send raw bytes, return the frames that come back within ``wait`` seconds (or until an
    answer or error with ``until_seq`` arrived)."""
    link = SerialPort(port)
    decoder = FrameDecoder()
    try:
        link.send(data)
        frames: list = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            frames += [f for f in decoder.feed(link.read(0.05)) if not isinstance(f, Exception)]
            if any(f.seq == until_seq and f.type != FrameType.PROGRESS for f in frames):
                break
        return frames
    finally:
        link.close()


def request(cmd: int, payload: bytes = b"", seq: int = 1) -> bytes:
    return b"\x00" + encode_frame(FrameType.REQUEST, seq, cmd, payload)


# -- a whole provisioning, as a board ------------------------------------------------------------


@pytest.mark.parametrize("sanitized", [False, True], ids=["c99-werror", "asan-ubsan"])
def test_the_station_driver_provisions_the_c_agent_end_to_end(c_agent, sanitized):
    agent = c_agent("SN0000777", sanitized=sanitized)
    bundle = claim_bundle()
    result = provision(agent.port, bundle)

    assert result["identity"].protocol == "agent/1.1"
    assert result["identity"].model == "AGENT-C-POSIX"
    assert result["serial"] == "SN0000777"
    assert result["digests"] == {obj: bundle.sha256(obj) for obj in ClaimObject}
    csr = result["csr"]
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm.name == "sha256"
    assert list(csr.subject) == [x509.NameAttribute(NameOID.COMMON_NAME, "SN0000777")]
    assert csr.public_key().curve.name == "secp256r1"
    assert (agent.state / "slot-01").read_bytes() == bundle.root_ca  # stored byte for byte
    assert (agent.state / "slot-03").read_bytes() == bundle.claim_key
    assert (agent.state / "slot-11").exists()  # committed


def test_the_device_private_key_stays_in_board_storage_and_matches_the_csr(c_agent):
    agent = c_agent()
    csr = provision(agent.port, claim_bundle())["csr"]
    key = serialization.load_der_private_key((agent.state / "slot-10").read_bytes(), password=None)
    assert spki(csr) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_two_agents_make_different_keys(c_agent):
    first = provision(c_agent("SN0000001").port, claim_bundle())["csr"]
    second = provision(c_agent("SN0000002").port, claim_bundle())["csr"]
    assert spki(first) != spki(second)


def test_storage_survives_a_restart_of_the_agent(c_agent, tmp_path):
    bundle = claim_bundle()
    first = c_agent(state=tmp_path / "flash")
    provision(first.port, bundle)
    assert first.stop()[0] == 0
    second = c_agent(state=tmp_path / "flash")
    driver = AgentBoard.open(second.port, timeouts=TIMEOUTS)
    try:
        driver.identify()
        assert driver.read_digests() == {obj: bundle.sha256(obj) for obj in ClaimObject}
    finally:
        driver.close()


def test_a_small_max_payload_makes_the_driver_send_small_chunks_and_still_fits_a_64_char_serial(c_agent):
    serial = "S" * 64
    agent = c_agent(serial, "--max-payload", "128")
    bundle = claim_bundle()
    result = provision(agent.port, bundle)
    assert result["digests"] == {obj: bundle.sha256(obj) for obj in ClaimObject}
    assert result["csr"].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == serial


def test_logs_after_answers_end_with_a_delimiter_and_do_not_disturb_the_driver(c_agent):
    agent = c_agent("SN0000777", "--logs")
    bundle = claim_bundle()
    assert provision(agent.port, bundle)["digests"] == {obj: bundle.sha256(obj) for obj in ClaimObject}


# -- protocol rules seen from raw frames ----------------------------------------------------------


def test_before_hello_every_command_is_bad_state(c_agent):
    agent = c_agent()
    (answer,) = raw_exchange(agent.port, request(Command.READ_SERIAL, seq=7), wait=0.5)
    assert (answer.type, answer.seq, answer.payload[0]) == (FrameType.ERROR, 7, ErrorCode.BAD_STATE)


def test_hello_picks_the_highest_common_version_and_1_0_still_works(c_agent):
    agent = c_agent()
    (one,) = raw_exchange(agent.port, request(Command.HELLO, b"\x01\x01", seq=1), wait=0.5)
    (both,) = raw_exchange(agent.port, request(Command.HELLO, b"\x01\x09", seq=2), wait=0.5)
    (none,) = raw_exchange(agent.port, request(Command.HELLO, b"\x03\x09", seq=3), wait=0.5)
    assert Hello.unpack(one.payload).version == 1
    assert Hello.unpack(both.payload).version == 2
    assert (none.type, none.payload[0]) == (FrameType.ERROR, ErrorCode.UNSUPPORTED)


def test_a_retransmitted_keygen_replays_the_same_key(c_agent):
    agent = c_agent()
    keygen = request(Command.KEYGEN, b"\x01", seq=9)
    frames = raw_exchange(agent.port, request(Command.HELLO, b"\x01\x02", seq=8) + keygen + keygen, wait=1.0)
    answers = [f for f in frames if f.cmd == Command.KEYGEN and f.type == FrameType.ANSWER]
    progress = [f for f in frames if f.type == FrameType.PROGRESS]
    assert len(answers) == 2 and answers[0].payload == answers[1].payload
    assert progress and progress[0].seq == 9


def test_a_cn_with_a_comma_stays_one_common_name_attribute(c_agent):
    agent = c_agent()
    frames = raw_exchange(
        agent.port,
        request(Command.HELLO, b"\x01\x02", seq=1)
        + request(Command.KEYGEN, b"\x01", seq=2)
        + request(Command.GET_CSR, b"\x0bSN1, O=ACME", seq=3),
    )
    csr_frame = next(f for f in frames if f.cmd == Command.GET_CSR)
    csr = x509.load_der_x509_csr(csr_frame.payload)
    assert list(csr.subject) == [x509.NameAttribute(NameOID.COMMON_NAME, "SN1, O=ACME")]


def test_write_protected_agent_refuses_writes_after_commit(c_agent):
    agent = c_agent("SN0000777", "--write-protect")
    provision(agent.port, claim_bundle())
    driver = AgentBoard.open(agent.port, timeouts=TIMEOUTS)
    try:
        driver.identify()
        with pytest.raises(BoardRefused) as refused:
            driver.install_claim_bundle(claim_bundle())
        assert refused.value.code == "BOARD_REFUSED"
    finally:
        driver.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(min_size=1, max_size=3000))
def test_any_noise_leaves_the_agent_answering_the_next_request(c_agent_shared, noise):
    port = c_agent_shared.port
    frames = raw_exchange(port, noise + request(Command.HELLO, b"\x01\x02", seq=0x42), wait=3.0, until_seq=0x42)
    hello = [f for f in frames if f.seq == 0x42 and f.cmd == Command.HELLO]
    assert hello and hello[-1].type == FrameType.ANSWER


@pytest.fixture
def c_agent_shared(c_agent):
    return c_agent()


# -- the frame decoder under a fuzzer ---------------------------------------------------------------


@pytest.mark.parametrize(("target", "inputs"), [("frame", 20000), ("agent", 2000)])
def test_fuzz_target_survives_a_random_run_under_the_sanitizers(fuzz_binaries, target, inputs):
    """frame: the decoder alone; agent: whole request streams into the agent, whose every
    output byte must form valid frames."""
    done = subprocess.run(
        [str(fuzz_binaries[target]), str(inputs), str(os.getpid())], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "no fault" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("target", "inputs"), [("frame", 2_000_000), ("agent", 200_000)])
def test_fuzz_target_survives_a_long_random_run_under_the_sanitizers(fuzz_binaries, target, inputs):
    done = subprocess.run([str(fuzz_binaries[target]), str(inputs), "1"], capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr


def test_the_pty_is_raw_so_control_bytes_reach_the_agent_intact(c_agent):
    agent = c_agent()
    payload = bytes(range(1, 121))  # ^C, XON, XOFF, CR, LF... a cooked tty would eat or change them
    frames = raw_exchange(agent.port, request(Command.HELLO, b"\x01\x02", seq=1) + request(0x7E, payload, seq=2), wait=0.5)
    assert [f.payload[0] for f in frames if f.seq == 2] == [ErrorCode.UNKNOWN_COMMAND]  # its CRC checked out
