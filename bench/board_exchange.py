"""How close a full board exchange comes to the time the wire and the board's keygen need.

    python bench/board_exchange.py [--baud 115200] [--keygen-ms 300] [--runs 5] [--driver agent|nrf91|c-agent]

Starts one simulated board that emulates the UART at ``--baud`` and takes ``--keygen-ms``
to make its key pair, then runs the whole provisioning exchange (identify, read_serial,
install a realistic claim bundle, read_digests, generate_csr, commit) ``--runs`` times.

For each run and for the median it prints the measured seconds, the wire seconds
((bytes sent + bytes received) * 10 / baud, 8N1), the keygen seconds, and the ratio
measured / (wire + keygen), the baseline measured in the same run. The target is a ratio of
at most 1.10: the driver adds little beyond what the line and the board cost. Figures only;
nothing here asserts on time.

``--driver c-agent`` builds the C reference agent (firmware/, system ``cc``, mbedTLS) into a
temporary directory and runs it on a pty with the same UART emulation (``--baud``). Its key
generation is real (mbedTLS P-256, not ``--keygen-ms``): the keygen column is then the
KEYGEN request's measured time less its wire time, taken from a separate exchange.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from flashing.agent import AgentBoard
from flashing.board import Board, ClaimBundle, ClaimObject
from flashing.nrf91 import Nrf91Board
from flashing.protocol import Command
from flashing.sim import SimulatedBoard, SimulatedNrf91Modem, start_nrf91_modems

TARGET_RATIO = 1.10


@dataclass(frozen=True)
class Run:
    measured: float
    wire: float
    keygen: float

    @property
    def ratio(self) -> float:
        return self.measured / (self.wire + self.keygen)


@dataclass(frozen=True)
class DriverKind:
    """How to open a board of one kind and count the bytes its link carried."""

    open: Callable[[str, int], Board]
    wire_bytes: Callable[[Board], int]


def _open_agent(port: str, baud: int) -> Board:
    return AgentBoard.open(port, baudrate=baud)


def _agent_wire_bytes(board: Board) -> int:
    assert isinstance(board, AgentBoard)
    return board.transport.bytes_sent + board.transport.bytes_received


def _open_nrf91(port: str, baud: int) -> Board:
    return Nrf91Board.open(port, baudrate=baud)


def _nrf91_wire_bytes(board: Board) -> int:
    assert isinstance(board, Nrf91Board)
    return board.channel.port.bytes_sent + board.channel.port.bytes_received


def _start_agent(serial: str, baud: int, keygen_ms: float) -> tuple[SimulatedBoard, str]:
    board = SimulatedBoard(serial, baud=baud, keygen_ms=keygen_ms).start()
    return board, serial


def _start_nrf91(serial: str, baud: int, keygen_ms: float) -> tuple[SimulatedNrf91Modem, str]:
    (modem,) = start_nrf91_modems(1, baud=baud, keygen_ms=keygen_ms)
    return modem, modem.serial


FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
C_SOURCES = ["src/agent.c", "src/frame.c", "src/crypto_mbedtls.c", "port/posix/main.c"]


class CAgentProcess:
    """The C reference agent's POSIX port on a pty, built for this run."""

    def __init__(self, serial: str, baud: int) -> None:
        self._dir = tempfile.mkdtemp(prefix="c-agent-")
        binary = os.path.join(self._dir, "agent-posix")
        cc = os.environ.get("CC", "cc")
        if shutil.which(cc) is None:
            raise SystemExit(f"--driver c-agent needs a C compiler ({cc!r} not found)")
        build = subprocess.run(
            [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-Iinclude", "-Isrc", "-o", binary, *C_SOURCES,
             "-lmbedx509", "-lmbedcrypto"],
            cwd=FIRMWARE, capture_output=True, text=True,
        )  # fmt: skip
        if build.returncode != 0:
            raise SystemExit(f"building the C agent failed (is libmbedtls-dev installed?):\n{build.stderr}")
        self.process = subprocess.Popen(
            [binary, "--pty", "--serial", serial, "--state", os.path.join(self._dir, "flash"), "--baud", str(baud)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        os.makedirs(os.path.join(self._dir, "flash"), exist_ok=True)
        assert self.process.stdout is not None
        self.port = self.process.stdout.readline().split()[1]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)


def _start_c_agent(serial: str, baud: int, keygen_ms: float) -> tuple[CAgentProcess, str]:
    return CAgentProcess(serial, baud), serial


def measure_c_keygen(port: str, baud: int) -> float:
    """Seconds the C agent's KEYGEN takes beyond its wire time (one HELLO + KEYGEN exchange)."""
    board = AgentBoard.open(port, baudrate=baud)
    try:
        board.identify()
        sent, received = board.transport.bytes_sent, board.transport.bytes_received
        start = time.perf_counter()
        board._request(Command.KEYGEN, b"\x01", long_running=True)
        elapsed = time.perf_counter() - start
        wire = (board.transport.bytes_sent - sent + board.transport.bytes_received - received) * 10 / baud
        return max(0.0, elapsed - wire)
    finally:
        board.close()


DRIVERS: dict[str, DriverKind] = {
    "agent": DriverKind(open=_open_agent, wire_bytes=_agent_wire_bytes),
    "nrf91": DriverKind(open=_open_nrf91, wire_bytes=_nrf91_wire_bytes),
    "c-agent": DriverKind(open=_open_agent, wire_bytes=_agent_wire_bytes),
}
SIMULATORS = {"agent": _start_agent, "nrf91": _start_nrf91, "c-agent": _start_c_agent}


def make_claim_bundle() -> ClaimBundle:
    """RSA-2048 root CA (~1.2 KB PEM), claim certificate (~0.9 KB PEM), EC P-256 claim key (~0.25 KB PEM)."""
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=9000)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example Root CA 1"),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    claim_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name(
        [
            x509.NameAttribute(
                NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon Web Services O=Amazon.com Inc."
            ),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )
    claim = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")]))
        .issuer_name(issuer)
        .public_key(claim_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(claim_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return ClaimBundle(
        root_ca=root.public_bytes(serialization.Encoding.PEM),
        claim_cert=claim.public_bytes(serialization.Encoding.PEM),
        claim_key=claim_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def one_run(
    kind: DriverKind, port: str, baud: int, keygen_s: float, bundle: ClaimBundle, serial: str
) -> Run:
    start = time.perf_counter()
    board = kind.open(port, baud)
    try:
        board.identify()
        got_serial = board.read_serial()
        board.install_claim_bundle(bundle)
        digests = board.read_digests()
        csr = board.generate_csr(got_serial)
        board.commit()
        measured = time.perf_counter() - start
        wire_bytes = kind.wire_bytes(board)
    finally:
        board.close()
    # Sanity only (outside the timed part): a run that did not really provision is not a figure.
    if (
        got_serial != serial
        or digests != {obj: bundle.sha256(obj) for obj in ClaimObject}
        or not csr
    ):
        raise SystemExit("the exchange did not provision the board correctly")
    return Run(measured=measured, wire=wire_bytes * 10 / baud, keygen=keygen_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baud", type=int, default=115200, help="emulated UART speed (default 115200)"
    )
    parser.add_argument(
        "--keygen-ms", type=float, default=300.0, help="board's keygen time (default 300)"
    )
    parser.add_argument("--runs", type=int, default=5, help="exchanges to time (default 5)")
    parser.add_argument(
        "--driver", choices=sorted(DRIVERS), default="agent", help="board driver (default agent)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.baud < 1 or args.keygen_ms < 0:
        parser.error("--runs and --baud must be positive, --keygen-ms not negative")

    kind = DRIVERS[args.driver]
    bundle = make_claim_bundle()
    board, serial = SIMULATORS[args.driver]("SN0000001", args.baud, args.keygen_ms)
    keygen_s = args.keygen_ms / 1000.0
    if args.driver == "c-agent":
        keygen_s = statistics.median(measure_c_keygen(board.port, args.baud) for _ in range(3))
        args.keygen_ms = keygen_s * 1000
    print(
        f"driver={args.driver} baud={args.baud} keygen_ms={args.keygen_ms:g} runs={args.runs} "
        f"bundle: root_ca={len(bundle.root_ca)} B, claim_cert={len(bundle.claim_cert)} B, "
        f"claim_key={len(bundle.claim_key)} B"
    )
    header = f"{'run':>6}  {'measured_s':>10}  {'wire_s':>8}  {'keygen_s':>8}  {'ratio':>6}"
    print(header)
    runs: list[Run] = []
    try:
        for index in range(args.runs):
            run = one_run(kind, board.port, args.baud, keygen_s, bundle, serial)
            runs.append(run)
            print(
                f"{index + 1:>6}  {run.measured:>10.3f}  {run.wire:>8.3f}  {run.keygen:>8.3f}  {run.ratio:>6.3f}"
            )
    finally:
        board.stop()
    median = Run(
        measured=statistics.median(r.measured for r in runs),
        wire=statistics.median(r.wire for r in runs),
        keygen=keygen_s,
    )
    ratio = statistics.median(r.ratio for r in runs)
    print(
        f"{'median':>6}  {median.measured:>10.3f}  {median.wire:>8.3f}  {median.keygen:>8.3f}  {ratio:>6.3f}"
    )
    print(f"target ratio <= {TARGET_RATIO:.2f}: median ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
