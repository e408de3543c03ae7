"""Ctrl-C of a sync ends it within 2 s, even while a request hangs on a dead endpoint."""

from __future__ import annotations

import signal
import socket
import threading
import time

from cli_helpers import Running, ini_set

from records import Records


def test_ctrl_c_of_a_sync_with_a_hung_endpoint_takes_effect_within_2_s(station_folder, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(hung.accept()[0]) for _ in range(16)], daemon=True).start()
    ini = station_folder / "station.ini"
    ini_set(ini, "cloud", "table", "t")
    ini_set(ini, "cloud", "region", "us-east-1")
    ini_set(ini, "cloud", "endpoint_url", f"http://127.0.0.1:{hung.getsockname()[1]}")
    with Records(station_folder / "station.sqlite") as records:
        records.open_batch("B1", "GW", 1, "t")
    run = Running("sync", cwd=station_folder)
    deadline = time.monotonic() + 20
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accepted, "the sync never reached the endpoint"
    time.sleep(0.5)

    started = time.monotonic()
    run.signal(signal.SIGINT)
    code = run.wait(timeout=10)

    assert time.monotonic() - started < 2
    assert code == 130
    hung.close()
