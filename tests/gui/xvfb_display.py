"""A private Xvfb X server, and running the real app on it (tests and the docs' screenshots)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREEN = "1600x1000x24"


def xvfb_path() -> str | None:
    return shutil.which("Xvfb")


@contextmanager
def xvfb(screen: str = SCREEN) -> Iterator[str]:
    """Start ``Xvfb :N`` on a free display number; yields the DISPLAY value."""
    binary = xvfb_path()
    if binary is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    for number in range(91, 140):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        process = subprocess.Popen(
            [binary, f":{number}", "-screen", "0", screen, "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.05)
        if process.poll() is not None:
            continue  # lost a race for this display number: try the next
        try:
            yield f":{number}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return
    raise RuntimeError("no free X display number for Xvfb")


def run_app(display: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run ``python -m gui.app ARGS`` on ``display`` with the xcb platform."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "gui.app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
