"""The printer emulator behaves like a network Zebra and can be made to misbehave."""

from __future__ import annotations

import socket
import time

import pytest

from station.labels.emulator import PrinterEmulator, main
from station.labels.printers import parse_host_status
from station.labels.queue import label_job


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(data)


def test_it_records_each_job_with_its_time_and_id(printer, template, unit):
    job = label_job(template, unit)
    before = time.time()
    _send(printer.port, job.data + job.data.replace(job.job_id.encode(), b"second-job"))
    jobs = printer.wait_for_printed(2, timeout=3)
    assert [j.job_id for j in jobs] == [job.job_id, "second-job"]
    assert all(j.received_at >= before for j in jobs)


def test_it_answers_host_status(printer):
    with socket.create_connection(("127.0.0.1", printer.port), timeout=2) as sock:
        sock.sendall(b"~HS")
        reply = b""
        while reply.count(b"\x03") < 3:
            reply += sock.recv(1024)
    assert parse_host_status(reply).state == "ready"


def test_offline_refuses_connections_until_switched_back(printer):
    printer.set_offline()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", printer.port), timeout=1)
    printer.set_offline(False)
    socket.create_connection(("127.0.0.1", printer.port), timeout=1).close()


def test_it_writes_printed_jobs_to_a_folder(tmp_path, template, unit):
    job = label_job(template, unit)
    with PrinterEmulator(out_dir=tmp_path) as emulator:
        _send(emulator.port, job.data)
        emulator.wait_for_printed(1, timeout=3)
    [written] = tmp_path.glob("*.zpl")
    assert written.name == f"0001-{job.job_id}.zpl" and written.read_bytes() == job.data.strip()


def test_its_command_line_reports_a_port_it_cannot_take(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        assert main(["--port", str(taken.getsockname()[1])]) == 3
    assert "cannot listen" in capsys.readouterr().out
