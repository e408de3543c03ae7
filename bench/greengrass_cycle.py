"""Cycle time of one Linux gateway over its serial console, against its wire time plus keygen.

    python bench/greengrass_cycle.py [--baud 115200] [--runs 3] [--kmsg-seconds 3]

Starts a simulated gateway (a real bash and openssl behind a login prompt, in its own
mount namespace; Linux as root) that emulates the UART at ``--baud``, and runs the whole
Board interface against it (login and identify, read_serial, install the claim bundle,
read_digests, generate_csr, commit, log out), a fresh gateway per run.

The baseline, measured in the same run: the wire time of every byte that crossed the
console, both ways ((sent + received) * 10 / baud, 8N1; the received bytes include the
shell's echo of everything sent, its prompts and the kernel messages), plus the time this
machine's openssl takes for the same key generation and CSR. The ratio is measured /
baseline. A table per step shows where the time goes: wire, and the rest (the shell's
and openssl's own time, the login's quiet periods). Figures only; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from flashing.board import ClaimBundle
from flashing.greengrass import KEY_TYPES, GreengrassBoard, GreengrassSettings
from flashing.sim.greengrass_board import SimulatedGateway, namespaces_available

PASSWORD = "bench-factory"
STEPS = ("identify", "read_serial", "install_claim", "read_digests", "generate_csr", "commit", "close")


def claim_bundle() -> ClaimBundle:
    """Sizes like the real thing: an RSA-2048 root CA, a claim certificate, an EC P-256 key."""
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=3650)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root CA")])
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(root_key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(end).sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    claim = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "claim")]))
        .issuer_name(name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(start).not_valid_after(end).sign(root_key, hashes.SHA256())
    )
    return ClaimBundle(
        root_ca=root.public_bytes(serialization.Encoding.PEM),
        claim_cert=claim.public_bytes(serialization.Encoding.PEM),
        claim_key=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()),
    )


def local_keygen_seconds(key_type: str) -> float:
    """What the same openssl commands take on this machine (the board's share of the baseline)."""
    with tempfile.TemporaryDirectory() as folder:
        key, csr = os.path.join(folder, "k.pem"), os.path.join(folder, "c.pem")
        started = time.perf_counter()
        subprocess.run(["openssl", "genpkey", *KEY_TYPES[key_type].split(), "-out", key], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "req", "-new", "-sha256", "-key", key, "-subj", "/CN=GW000001", "-out", csr],
                       check=True, capture_output=True)
        return time.perf_counter() - started


def one_cycle(serial: str, settings: GreengrassSettings, bundle: ClaimBundle, baud: int,
              kmsg_seconds: float) -> tuple[dict[str, tuple[float, int]], int]:
    """{step: (seconds, wire bytes)} for one gateway, and how many kernel messages it printed."""
    gateway = SimulatedGateway(serial, settings, password=PASSWORD, baud=baud, kmsg_seconds=kmsg_seconds).start()
    board = GreengrassBoard.open(gateway.port, settings, baudrate=baud, password=lambda: PASSWORD)
    port = board.session.port
    steps: dict[str, tuple[float, int]] = {}
    actions = {
        "identify": board.identify,
        "read_serial": board.read_serial,
        "install_claim": lambda: board.install_claim_bundle(bundle),
        "read_digests": board.read_digests,
        "generate_csr": lambda: board.generate_csr(serial),
        "commit": board.commit,
        "close": board.close,
    }
    sent = received = 0
    try:
        for name in STEPS:
            before = port.bytes_sent + port.bytes_received
            started = time.perf_counter()
            actions[name]()
            steps[name] = (time.perf_counter() - started, port.bytes_sent + port.bytes_received - before)
        sent, received = port.bytes_sent, port.bytes_received
        print(f"  {serial}: station sent {sent} bytes; the console sent {received} "
              f"(echo, prompts, output, kernel messages)")
        return steps, gateway.kernel_messages
    finally:
        board.close()
        gateway.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kmsg-seconds", type=float, default=3.0)
    parser.add_argument("--key-type", default="ec-p256", choices=sorted(KEY_TYPES))
    args = parser.parse_args()
    if args.baud <= 0:
        parser.error("--baud must be a baud rate (the baseline is the wire time at that rate)")
    if not namespaces_available():
        print("simulated gateways need Linux mount namespaces (run as root)", file=sys.stderr)
        return 2
    settings = GreengrassSettings.from_mapping({
        "aws_region": "eu-west-1",
        "iot_data_endpoint": "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
        "iot_credential_endpoint": "c1d2e3f4g5h6.credentials.iot.eu-west-1.amazonaws.com",
        "iot_role_alias": "GreengrassCoreTokenExchangeRoleAlias",
        "provisioning_template": "StationFleetTemplate",
        "key_type": args.key_type,
    })
    bundle = claim_bundle()
    byte_time = 10 / args.baud
    cycles = []
    for run in range(args.runs):
        keygen = local_keygen_seconds(args.key_type)
        steps, kmsgs = one_cycle(f"GW{run + 1:06d}", settings, bundle, args.baud, args.kmsg_seconds)
        measured = sum(seconds for seconds, _ in steps.values())
        wire_bytes = sum(count for _, count in steps.values())
        baseline = wire_bytes * byte_time + keygen
        cycles.append((measured, wire_bytes, keygen, baseline, steps))
        print(f"run {run + 1}: {measured:6.2f} s measured, {wire_bytes} bytes = {wire_bytes * byte_time:5.2f} s wire, "
              f"keygen {keygen:4.2f} s, ratio {measured / baseline:4.2f} ({kmsgs} kernel messages)")
    print()
    print(f"median of {args.runs} at {args.baud} baud, key {args.key_type}:")
    print(f"{'step':<14}{'seconds':>9}{'bytes':>8}{'wire s':>8}{'rest s':>8}")
    for name in STEPS:
        seconds = statistics.median(c[4][name][0] for c in cycles)
        count = int(statistics.median(c[4][name][1] for c in cycles))
        print(f"{name:<14}{seconds:9.2f}{count:8d}{count * byte_time:8.2f}{seconds - count * byte_time:8.2f}")
    measured = statistics.median(c[0] for c in cycles)
    wire_bytes = statistics.median(c[1] for c in cycles)
    keygen = statistics.median(c[2] for c in cycles)
    baseline = wire_bytes * byte_time + keygen
    print(f"{'total':<14}{measured:9.2f}{int(wire_bytes):8d}{wire_bytes * byte_time:8.2f}{measured - wire_bytes * byte_time:8.2f}")
    print(f"baseline (wire {wire_bytes * byte_time:.2f} s + keygen {keygen:.2f} s) = {baseline:.2f} s; "
          f"ratio measured/baseline = {measured / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
