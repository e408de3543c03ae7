"""The claim private key never leaves its file (docs/architecture.md: "The claim private key is
never written to the database, a log, a report or an error message").

A whole demo line runs as real processes (passing and failing boards, listings, reports,
errors on purpose); then every file the station left behind and everything it printed is
searched for the claim key in every form it could leak in.
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from integration_harness import (
    Run,
    clean_env,
    open_batch,
    run_station,
    station_command,
)

from flashing.protocol import Command
from flashing.sim import SimulatedBoard

CLAIM_KEY = Path("demo-claim") / "demo-claim-key.pem"


# -- the key in every form -----------------------------------------------------------


def pem_body(pem: bytes) -> list[bytes]:
    """The base64 lines between the BEGIN and END lines."""
    return [line.strip() for line in pem.splitlines() if line.strip() and not line.startswith(b"-----")]


def key_forms(pem: bytes) -> dict[str, list[bytes]]:
    """Name -> byte strings that must appear nowhere but in the key file."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    sec1 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    sec1_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    scalar = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
    forms = {
        "pem-body": [b"".join(pem_body(pem))],
        "pem-body-lines": [line for line in pem_body(pem) + pem_body(sec1_pem) if len(line) > 20],
        "pkcs8-der": [pkcs8],
        "sec1-der": [sec1],
        "raw-scalar": [scalar],
    }
    for name, der in (("pkcs8-der", pkcs8), ("sec1-der", sec1), ("raw-scalar", scalar)):
        forms[f"{name}-hex"] = [binascii.hexlify(der), binascii.hexlify(der).upper()]
        forms[f"{name}-base64"] = [base64.b64encode(der), base64.urlsafe_b64encode(der).rstrip(b"=")]
    return forms


FORM_NAMES = [
    "pem-body", "pem-body-lines", "pkcs8-der", "sec1-der", "raw-scalar",
    "pkcs8-der-hex", "sec1-der-hex", "raw-scalar-hex",
    "pkcs8-der-base64", "sec1-der-base64", "raw-scalar-base64",
]


# -- a whole line, with errors ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    folder: Path
    runs: list[Run]
    key_pem: bytes


def station(folder: Path, runs: list[Run], *args: str, exit_code: int = 0) -> Run:
    done = run_station(*args, cwd=folder)
    runs.append(done)
    assert done.returncode == exit_code, done
    return done


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Line:
    folder = tmp_path_factory.mktemp("secrets") / "line"
    runs: list[Run] = []
    work = tmp_path_factory.mktemp("secrets-cwd")

    # A passing batch (the demo's default fault: board 2 fails CSR_CN_MISMATCH) ...
    station(work, runs, "demo", "--dir", str(folder), "--boards", "4", "--keygen-ms", "50")
    # ... and a run of failing boards, failing in every part of the pipeline.
    station(
        work, runs, "demo", "--dir", str(folder), "--boards", "5", "--keygen-ms", "50", "--json",
        "--fault", "1=bad-digest", "--fault", "2=keygen-fail", "--fault", "3=bad-signature",
        "--fault", "4=drop@write_chunk", "--fault", "5=garbage@hello",
    )
    # Looking at the records.
    station(folder, runs, "units")
    station(folder, runs, "units", "--json")
    station(folder, runs, "show", "SIM000001", "--json")
    station(folder, runs, "show", "SIM000005")
    station(folder, runs, "batch", "list", "--json")
    station(folder, runs, "audit", "verify")
    # Errors on purpose.
    station(folder, runs, "show", "NO-SUCH-SERIAL", exit_code=3)
    station(folder, runs, "--config", str(folder / "missing.ini"), "units", exit_code=3)
    station(folder, runs, "batch", "open", "B2", "--product", "GW", "--quantity", "5")
    station(folder, runs, "batch", "open", "B2", "--product", "OTHER", "--quantity", "5", exit_code=3)
    station(folder, runs, "provision", "--port", "/dev/no-such-port", exit_code=3)  # two batches are open
    station(folder, runs, "provision", "--port", "/dev/no-such-port", "--batch", "B2", exit_code=3)  # a port that cannot be opened
    station(folder, runs, "provision", "--port", "/dev/no-such-port", "--reprovision", exit_code=3)
    key_file = folder / CLAIM_KEY
    key_file.chmod(0o644)
    try:
        station(folder, runs, "provision", "--port", "/dev/no-such-port", "--batch", "B2", exit_code=3)
    finally:
        key_file.chmod(0o600)
    # Last, a station killed mid-board, so SQLite's -wal and -shm files stay behind too.
    runs.append(kill_during_keygen(folder))
    return Line(folder, runs, key_file.read_bytes())


def kill_during_keygen(folder: Path) -> Run:
    board = SimulatedBoard("SIM000100", keygen_ms=3000).start()
    args = ("provision", "--port", board.port, "--batch", "B2")
    process = subprocess.Popen(
        [*station_command(), *args], cwd=folder, env=clean_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while Command.KEYGEN not in board.requests_seen and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        if Command.KEYGEN not in board.requests_seen:
            process.kill()
            pytest.fail(f"the board never got KEYGEN: {process.communicate()}")
        process.send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        board.unplug()
        board.stop()
    return Run(args, process.returncode, stdout, stderr)


def station_files(line: Line) -> dict[Path, bytes]:
    key_file = (line.folder / CLAIM_KEY).resolve()
    return {
        path: path.read_bytes()
        for path in sorted(line.folder.rglob("*"))
        if path.is_file() and path.resolve() != key_file
    }


def test_the_line_left_its_database_and_log_behind(line):
    names = {p.relative_to(line.folder).as_posix() for p in station_files(line)}

    assert {"station.ini", "station.sqlite", "logs/station.log"} <= names


def test_the_key_forms_are_derived_correctly(line):
    """A check on the search itself: the key file holds the forms it is made of."""
    forms = key_forms(line.key_pem)

    assert all(len(needle) >= 20 for needles in forms.values() for needle in needles)
    assert all(line_ in line.key_pem for line_ in forms["pem-body-lines"][:2])
    assert base64.b64decode(forms["pem-body"][0]) == forms["pkcs8-der"][0]


@pytest.mark.parametrize("form", FORM_NAMES)
def test_no_station_file_holds_the_claim_key(line, form):
    needles = key_forms(line.key_pem)[form]

    leaks = [
        str(path.relative_to(line.folder))
        for path, content in station_files(line).items()
        for needle in needles
        if needle in content
    ]

    assert leaks == []


@pytest.mark.parametrize("form", FORM_NAMES)
def test_no_output_of_any_command_holds_the_claim_key(line, form):
    needles = key_forms(line.key_pem)[form]

    leaks = [
        " ".join(run.args)
        for run in line.runs
        for needle in needles
        if needle.decode("latin-1") in run.stdout + run.stderr
    ]

    assert leaks == []


def test_no_command_printed_a_traceback(line):
    assert [" ".join(r.args) for r in line.runs if "Traceback" in r.stdout + r.stderr] == []


def test_the_search_includes_the_write_ahead_log_a_crashed_station_left(line):
    names = {p.name for p in station_files(line)}

    assert {"station.sqlite-wal", "station.sqlite-shm"} <= names


# -- the key file's permissions --------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="the mode bits are only checked on POSIX")
def test_a_claim_key_readable_by_others_stops_provisioning_with_chmod_600_advice(station_folder, boards):
    open_batch(station_folder, "B1")
    key_file = station_folder / CLAIM_KEY
    key_file.chmod(0o644)
    sim = boards(1)[0]

    done = run_station("provision", "--port", sim.port, "--batch", "B1", cwd=station_folder)

    assert done.returncode == 3, done
    assert "CLAIM_KEY_PERMISSIONS" in done.stderr
    assert "chmod 600" in done.stderr
    assert "Traceback" not in done.stderr
    assert sim.requests_seen == []
    for needles in key_forms(key_file.read_bytes()).values():
        assert not any(n.decode("latin-1") in done.stdout + done.stderr for n in needles)
