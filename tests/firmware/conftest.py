"""Build the C reference agent (firmware/) with the system compiler, and run it on a pty.

Two builds per test session: ``-std=c99 -Wall -Wextra -Werror -pedantic`` as shipped, and the
same with AddressSanitizer and UndefinedBehaviorSanitizer. Tests skip only when there is no C
compiler; missing mbedTLS headers are a failure that names the Debian package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SOURCES = ["src/agent.c", "src/frame.c", "src/crypto_mbedtls.c", "port/posix/main.c"]
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
LIBS = ["-lmbedx509", "-lmbedcrypto"]
MBEDTLS_PACKAGE = "libmbedtls-dev"
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
}


def compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc!r} not on PATH): the C agent cannot be built here")
    return cc


def require_mbedtls(cc: str, workdir: Path) -> None:
    probe = workdir / "mbedtls_probe.c"
    probe.write_text("#include <mbedtls/version.h>\n#include <mbedtls/x509_csr.h>\nint main(void){return 0;}\n")
    done = subprocess.run([cc, "-c", str(probe), "-o", str(workdir / "probe.o")], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(
            f"mbedTLS headers are missing: install the Debian package {MBEDTLS_PACKAGE} "
            f"(apt-get install {MBEDTLS_PACKAGE}; .ci/test installs it)\n{done.stderr}",
            pytrace=False,
        )


def build(cc: str, out: Path, extra: list[str], sources: list[str] = SOURCES) -> Path:
    command = [cc, *WARNINGS, "-O1", "-g", *extra, "-Iinclude", "-Isrc", "-o", str(out), *sources, *LIBS]
    done = subprocess.run(command, cwd=FIRMWARE, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr}"
    assert done.stderr == "", f"the build printed warnings:\n{done.stderr}"
    return out


@pytest.fixture(scope="session")
def firmware_builds(tmp_path_factory) -> dict[str, Path]:
    """{'plain': agent binary, 'sanitized': agent binary under ASan+UBSan}."""
    cc = compiler()
    workdir = tmp_path_factory.mktemp("firmware")
    require_mbedtls(cc, workdir)
    return {
        "plain": build(cc, workdir / "agent-posix", []),
        "sanitized": build(cc, workdir / "agent-posix-san", SANITIZERS),
    }


@pytest.fixture(scope="session")
def fuzz_binaries(tmp_path_factory) -> dict[str, Path]:
    """The fuzz targets (frame decoder; whole agent on an in-memory port) with the random-run
    driver, under ASan+UBSan. libFuzzer builds are the Makefile's (``make fuzz``) when cc has it."""
    cc = compiler()
    workdir = tmp_path_factory.mktemp("fuzz")
    require_mbedtls(cc, workdir)
    core = ["src/agent.c", "src/frame.c", "src/crypto_mbedtls.c"]
    return {
        "frame": build(cc, workdir / "fuzz-frame", SANITIZERS, ["src/frame.c", "fuzz/fuzz_frame.c", "fuzz/random_run.c"]),
        "agent": build(cc, workdir / "fuzz-agent", SANITIZERS, [*core, "fuzz/fuzz_agent.c", "fuzz/random_run.c"]),
    }


@dataclass
class CAgent:
    process: subprocess.Popen[str]
    port: str
    state: Path

    def stop(self) -> tuple[int, str]:
        """Stop the agent (SIGTERM, a clean exit) and return its exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, stderr = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return self.process.returncode, stderr


def start_agent(binary: Path, state: Path, serial: str = "SN0000777", *args: str) -> CAgent:
    state.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(binary), "--pty", "--serial", serial, "--state", str(state), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **SANITIZER_ENV},
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    assert line[:1] == ["PTY"], f"the agent did not print its pty: {line!r} {process.stderr.read() if process.stderr else ''}"
    return CAgent(process, line[1], state)


@pytest.fixture
def c_agent(firmware_builds, tmp_path) -> Iterator:
    """Factory: start the C agent (``sanitized=True`` by default) on a pty; stopped at teardown,
    where a sanitizer report or an unclean exit fails the test."""
    started: list[CAgent] = []

    def start(serial: str = "SN0000777", *args: str, sanitized: bool = True, state: Path | None = None) -> CAgent:
        binary = firmware_builds["sanitized" if sanitized else "plain"]
        agent = start_agent(binary, state or tmp_path / f"state-{len(started)}", serial, *args)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        code, stderr = agent.stop()
        assert "Sanitizer" not in stderr and "runtime error" not in stderr, stderr
        assert code == 0, f"agent exit code {code}: {stderr}"
