"""Heavy jobs of the app (a cloud sync, a report export) run in a child process.

The app's UI thread shares one interpreter lock with every thread of its process. boto3
holds it for 50-100 ms at a time while it loads a client's service model (one C call to
``json.loads``), and a big report holds it while it renders; a tile that cannot repaint
meanwhile is a frozen screen for the operator. So the app hands these jobs to a child
Python (``python -m station.jobs``), waits for it on a worker thread, and reads one JSON
answer: the child may hold its own interpreter as long as it likes.

The job is the same work as ``station sync`` and ``station report`` do (the same
functions), given as JSON on the child's standard input, so that settings the app holds
only in memory (the demo's local cloud, a test's table) reach the child too::

    {"job": "sync", "config": "station.ini", "cloud": {...CloudConfig...}, "retry_for": 15}
    {"job": "report", "config": "station.ini", "batch": "B1", "format": "pdf", "path": "out.pdf"}

The answer, on standard output, is one line: ``{"ok": true, "result": ...}`` or
``{"ok": false, "code": ..., "message": ..., "hint": ..., "title": ...}`` (what
:func:`station.errors.explain` says of the error). Nothing secret crosses: the claim key
and the station's signing key are read by the child from their files, as the CLI does.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from station.config import CloudConfig
from station.errors import StationError, explain

JOB_KINDS = ("sync", "report")
JOB_NICENESS = 10
"""How much a job steps back for the app (POSIX ``nice``; Windows: below-normal priority): on a
two-core line PC the UI and the boards come first, a sync or an export can wait a little."""


class JobFailed(StationError):
    """A child job ended with an error (its code and hint are the child's own)."""

    code = "JOB_FAILED"
    hint = "See the station log (logs/station.log) for details."

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None, title: str = "") -> None:
        super().__init__(message, code=code, hint=hint)
        self.title = title


_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


def run_job(spec: dict[str, Any], *, timeout: float | None = None) -> Any:
    """Run one job (``spec`` as in the module docstring) in a child Python and return its
    result; raises :class:`JobFailed` with the child's code and hint. Blocking: call it
    on a worker thread (waiting for a child holds no lock of this process)."""
    if spec.get("job") not in JOB_KINDS:
        raise ValueError(f"job must be one of {', '.join(JOB_KINDS)}, not {spec.get('job')!r}")
    child = subprocess.Popen(
        [sys.executable, "-m", "station.jobs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=_child_env(),
        # Windows: no console flashing up over the app, and the line's process comes first.
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0),
    )
    with _children_lock:
        _children.add(child)
    try:
        out, err = child.communicate(json.dumps(spec).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise JobFailed(f"the {spec['job']} job did not finish within {timeout:g} s", code="JOB_TIMEOUT",
                        hint="It was stopped; nothing it confirmed is lost. Try again.") from None
    finally:
        with _children_lock:
            _children.discard(child)
    return _answer(spec["job"], child.returncode, out, err)


def stop_jobs() -> int:
    """Stop every child job still running (the app is closing); returns how many.

    A stopped sync loses nothing: what the table did not confirm stays pending."""
    with _children_lock:
        running = [child for child in _children if child.poll() is None]
    for child in running:
        child.terminate()
    return len(running)


def _child_env() -> dict[str, str]:
    """The app's environment; from a source checkout, with the checkout first on the path,
    so the child runs the same code as the app however the app was started. (An installed
    station is found by the child as by the app: nothing is put before the standard library.)"""
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _answer(job: str, returncode: int, out: bytes, err: bytes) -> Any:
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {returncode}"]
        raise JobFailed(f"the {job} job ended without an answer ({last[0][:200]})", code="JOB_CRASHED")
    if answer.get("ok"):
        return answer.get("result")
    raise JobFailed(str(answer.get("message") or "failed"), code=str(answer.get("code") or "JOB_FAILED"),
                    hint=str(answer.get("hint") or JobFailed.hint), title=str(answer.get("title") or ""))


# -- the child ---------------------------------------------------------------------------------


def _sync(spec: dict[str, Any]) -> dict[str, Any]:
    from station.context import open_station
    from station.sync.dynamo import SyncError
    from station.sync.engine import resend_if_the_table_forgot, run_station_sync

    station = open_station(spec["config"])
    try:
        cloud = CloudConfig(**spec["cloud"]) if spec.get("cloud") else station.config.cloud
        config = replace(station.config, cloud=cloud)
        resend_if_the_table_forgot(station.records, config.cloud)
        try:
            report = run_station_sync(station.records, config, retry_for_seconds=float(spec.get("retry_for", 15.0)))
        except SyncError as exc:
            if exc.report is None:
                raise
            report = exc.report
        return report.to_dict()
    finally:
        station.close()


def _report(spec: dict[str, Any]) -> str:
    from station.context import open_station
    from station.reports.data import build_report
    from station.reports.formats import ONE_PASS, save_report

    station = open_station(spec["config"], read_only=True)
    try:
        fmt = spec["format"]
        report = build_report(station.records, spec["batch"], station_id=station.config.station_id,
                              stream_units=fmt in ONE_PASS)
        return str(save_report(report, fmt, spec["path"]))
    finally:
        station.close()


def cloud_spec(cloud: CloudConfig) -> dict[str, Any]:
    """``[cloud]`` as the JSON a sync job carries."""
    return asdict(cloud)


def main() -> int:
    """``python -m station.jobs``: read one job from standard input, print one answer line.
    SIGTERM (:func:`stop_jobs`) stops it like Ctrl-C: it still answers, and cleans up."""
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if hasattr(os, "nice"):
        os.nice(JOB_NICENESS)
    spec: Any = None
    try:
        spec = json.loads(sys.stdin.read())
        result = {"sync": _sync, "report": _report}[spec["job"]](spec)
        answer: dict[str, Any] = {"ok": True, "result": result}
    except KeyboardInterrupt:
        answer = {"ok": False, "code": "JOB_STOPPED", "message": "stopped before it finished",
                  "hint": "Nothing it confirmed is lost; run it again.", "title": "Stopped"}
    except Exception as exc:
        explained = explain(exc)
        if explained.code == "INTERNAL_ERROR":
            logging.getLogger(__name__).exception("%s job failed", spec.get("job") if isinstance(spec, dict) else "a")
        answer = {"ok": False, "code": explained.code, "message": explained.message,
                  "hint": explained.hint, "title": explained.title}
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
