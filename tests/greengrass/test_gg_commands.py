"""The shell lines the driver sends, run by a real /bin/sh: they do what they say, and fit."""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flashing.console import clean, frame, parse_framed
from flashing.greengrass import line_length, merge_commands, write_commands


def sh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=20, check=False)


@settings(max_examples=40, deadline=None)
@given(
    content=st.binary(max_size=6000),
    max_line=st.integers(512, 4095),
    mode=st.sampled_from(["600", "644"]),
)
def test_write_commands_fit_the_line_and_write_the_exact_bytes(tmp_path_factory, content: bytes, max_line: int, mode: str) -> None:
    folder = tmp_path_factory.mktemp("board")
    path = str(folder / "claim-certs" / "claim.private.key")
    lines = write_commands(path, f"{path}.tmp-1a2b3c4d", content, mode=mode, owner="", max_line=max_line)

    assert all(line_length(line) <= max_line for line in lines)
    for line in lines:  # each in a shell of its own: nothing may rely on state left by an earlier line
        done = sh(line, folder)
        assert done.returncode == 0, done.stderr
    assert Path(path).read_bytes() == content
    assert stat.S_IMODE(os.stat(path).st_mode) == int(mode, 8)
    assert done.stdout.split()[0] == hashlib.sha256(content).hexdigest()
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["claim.private.key"]


def test_a_file_is_created_with_umask_077_before_any_byte_lands(tmp_path: Path) -> None:
    path = str(tmp_path / "key.pem")
    first = write_commands(path, f"{path}.tmp-1", b"x" * 5000, mode="600", owner="", max_line=512)[0]
    sh(first, tmp_path)
    assert stat.S_IMODE(os.stat(f"{path}.tmp-1").st_mode) == 0o600


@given(st.lists(st.text(alphabet="abc;&|' ", min_size=1, max_size=300), max_size=12), st.integers(512, 2000))
def test_merged_commands_keep_every_piece_in_order_and_fit(pieces: list[str], max_line: int) -> None:
    pieces = [p for p in pieces if line_length(p) <= max_line]
    lines = merge_commands(pieces, max_line)
    assert " && ".join(lines) == " && ".join(pieces)
    assert all(line_length(line) <= max_line for line in lines)


@settings(max_examples=40, deadline=None)
@given(
    output=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="[")
                   | st.just("\n"), max_size=200),
    status=st.integers(0, 255),
)
def test_a_framed_command_run_by_a_real_shell_gives_its_output_and_status(tmp_path_factory, output: str, status: int) -> None:
    command = f"printf %s {shlex.quote(output)}; (exit {status})"
    done = subprocess.run(["/bin/sh", "-c", frame(command, "0a1b2c3d4e5f")], capture_output=True, text=True,
                          timeout=20, check=False)
    result = parse_framed(clean(done.stdout), "0a1b2c3d4e5f")
    assert result is not None
    assert (result.output, result.status) == (output, status)
