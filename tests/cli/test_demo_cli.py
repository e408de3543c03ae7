"""``station demo``: options checked before any board runs, the folder left as the demo ran,
the README's fault examples end as expected, Ctrl-C records aborted boards."""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cli_helpers import Running, station, wait_until

from records import Records
from station.config import load_config
from station.demo.line import ended_as_expected


def test_an_endpoint_url_that_is_no_url_is_refused_before_anything_is_written(tmp_path):
    done = station("demo", "--endpoint-url", "notaurl", cwd=tmp_path)

    assert done.code == 3
    assert "SYNC_ENDPOINT_INVALID" in done.err
    assert list(tmp_path.iterdir()) == []


def test_an_endpoint_url_where_nothing_answers_is_refused_before_any_board_runs(tmp_path):
    done = station("demo", "--endpoint-url", "http://127.0.0.1:9", cwd=tmp_path)

    assert done.code == 3
    assert "DEMO_ENDPOINT_UNREACHABLE" in done.err
    assert list(tmp_path.iterdir()) == []


def _cloud_failing_the_forged_rows(upstream: str) -> ThreadingHTTPServer:
    """A proxy to ``upstream`` that passes every request but the trust check's forged rows,
    which get DynamoDB's 500 every time: the cloud fails in the middle of the demo."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if b"FORGED-" in body:
                status, headers, answer = 500, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(
                    {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "down"}).encode()
            else:
                request = urllib.request.Request(upstream, data=body, method="POST", headers={
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(request, timeout=10) as reply:
                        status, headers, answer = reply.status, dict(reply.headers), reply.read()
                except urllib.error.HTTPError as error:
                    status, headers, answer = error.code, dict(error.headers), error.read()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def test_a_cloud_that_fails_during_the_demo_is_a_named_error_not_an_internal_one(
    tmp_path, dynamodb_endpoint, dynamodb_env,
):
    server = _cloud_failing_the_forged_rows(dynamodb_endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = station("demo", "--endpoint-url", f"http://127.0.0.1:{server.server_port}", "--boards", "1",
                       "--keygen-ms", "0", cwd=tmp_path, timeout=180)
    finally:
        server.shutdown()

    assert done.code != 0
    assert "SYNC_SERVER_ERROR" in done.err and "INTERNAL_ERROR" not in done.err, done.err
    with Records(tmp_path / "station.sqlite") as records:  # what the line did stays recorded
        assert "SIM000001" in {unit.serial for unit in records.units()}


def test_the_trust_checks_own_writes_are_patient_where_the_hooks_calls_are_not():
    from station.demo.trust_check import CloudSide

    side = CloudSide("t", "t-stations", "http://127.0.0.1:9", "us-east-1")

    assert side.writer_client().meta.config.read_timeout >= 10
    assert side.client().meta.config.read_timeout < 1


def test_the_demo_leaves_the_driver_it_ran_in_station_ini(tmp_path):
    station("demo", "--driver", "nrf91", "--boards", "1", "--keygen-ms", "10", cwd=tmp_path, timeout=120)

    assert load_config(tmp_path / "station.ini").driver == "nrf91"


@dataclass
class _Result:
    passed: bool
    code: str | None = None


def test_one_reuse_key_board_alone_passes_as_expected():
    assert ended_as_expected([_Result(True), _Result(True)], {1: ["reuse-key"]})


def test_of_two_reuse_key_boards_one_fails_with_a_repeated_key_as_expected():
    results = [_Result(True), _Result(False, "DEVICE_KEY_REPEATED")]

    assert ended_as_expected(results, {0: ["reuse-key"], 1: ["reuse-key"]})


def test_two_reuse_key_boards_that_both_pass_are_unexpected():
    assert not ended_as_expected([_Result(True), _Result(True)], {0: ["reuse-key"], 1: ["reuse-key"]})


def test_ctrl_c_during_the_demo_records_the_running_boards_as_aborted(tmp_path):
    run = Running("demo", "--boards", "2", "--keygen-ms", "30000", cwd=tmp_path)
    database = tmp_path / "station.sqlite"

    def running() -> bool:
        if not database.exists():
            return False
        with Records(database) as records:
            return len([a for a in records.attempts() if a.result == "running"]) == 2

    assert wait_until(running, timeout=60), run.seen
    run.signal(signal.SIGINT)
    run.wait(timeout=20)

    with Records(database) as records:
        assert {a.result for a in records.attempts()} == {"aborted"}
