"""Printer transports against the loopback printer emulator (TCP 9100) and real files and processes."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
import time

import pytest

from station.labels.errors import (
    PrinterConfigError,
    PrinterOffline,
    PrinterPaperOut,
    PrinterPaused,
    PrinterTimeout,
)
from station.labels.printers import (
    CupsPrinter,
    TcpPrinter,
    UsbPrinter,
    WindowsPrinter,
    parse_host_status,
    printer_from_uri,
)
from station.labels.queue import label_job


def _tcp(emulator, **kwargs) -> TcpPrinter:
    return TcpPrinter("127.0.0.1", emulator.port, connect_seconds=1, io_seconds=kwargs.pop("io_seconds", 3), **kwargs)


def test_a_job_sent_over_tcp_is_recorded_once_with_its_id(printer, template, unit):
    job = label_job(template, unit)
    _tcp(printer).send(job.data)
    assert printer.printed_ids() == [job.job_id]
    assert printer.jobs[0].data == job.data.strip()


def test_the_status_of_a_ready_printer_is_ready(printer):
    assert _tcp(printer).status().state == "ready"


def test_an_offline_printer_refuses_and_the_error_says_so(printer, template, unit):
    printer.set_offline()
    with pytest.raises(PrinterOffline) as caught:
        _tcp(printer).send(label_job(template, unit).data)
    assert caught.value.code == "PRINTER_OFFLINE" and "switch the label printer on" in caught.value.hint.lower()
    assert _tcp(printer).status().state == "offline"
    printer.set_offline(False)
    _tcp(printer).send(label_job(template, unit).data)
    assert len(printer.printed()) == 1


def test_a_printer_out_of_labels_gets_no_job(printer, template, unit):
    printer.set_paper_out()
    with pytest.raises(PrinterPaperOut) as caught:
        _tcp(printer).send(label_job(template, unit).data)
    assert caught.value.code == "PRINTER_PAPER_OUT"
    assert printer.jobs == []
    assert _tcp(printer).status().state == "paper_out"


def test_a_paused_printer_gets_no_job(printer, template, unit):
    printer.set_paused()
    with pytest.raises(PrinterPaused):
        _tcp(printer).send(label_job(template, unit).data)
    assert printer.jobs == []


def test_without_host_status_a_job_reaches_a_printer_out_of_labels_and_prints_once_loaded(printer, template, unit):
    printer.set_paper_out()
    job = label_job(template, unit)
    _tcp(printer, host_status=False).send(job.data)
    deadline = time.monotonic() + 3
    while not printer.jobs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [j.outcome for j in printer.jobs] == ["held"] and printer.printed() == []
    printer.set_paper_out(False)
    assert printer.printed_ids() == [job.job_id]


def test_a_dropped_connection_mid_job_is_an_offline_error_and_nothing_printed(printer, template, unit):
    printer.drop_next()
    with pytest.raises(PrinterOffline, match="dropped|closed"):
        _tcp(printer).send(label_job(template, unit).data)
    assert [job.outcome for job in printer.jobs] == ["dropped"]


def test_a_slow_printer_holds_the_sender_for_its_job_time(printer, template, unit):
    printer.set_slow(0.5)
    started = time.monotonic()
    _tcp(printer).send(label_job(template, unit).data)
    assert time.monotonic() - started >= 0.5
    assert len(printer.printed()) == 1


def test_a_printer_that_never_answers_is_a_timeout():
    with socket.create_server(("127.0.0.1", 0)) as server:
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
        thread.start()
        with pytest.raises(PrinterTimeout) as caught:
            TcpPrinter("127.0.0.1", server.getsockname()[1], connect_seconds=1, io_seconds=0.3).send(b"^XA^XZ")
        assert caught.value.code == "PRINTER_TIMEOUT"
        thread.join(1)
        for sock in accepted:
            sock.close()


@pytest.mark.parametrize(("reply", "state"), [
    (b"\x02030,0,0,0240,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,0,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n", "ready"),
    (b"\x02030,1,0,0240,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,0,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n", "paper_out"),
    (b"\x02030,0,1,0240,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,0,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n", "paused"),
    (b"\x02030,0,0,0240,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,1,0,0,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n", "paper_out"),
    (b"\x02garbage\x03", "unknown"),
])
def test_host_status_answers_are_read(reply, state):
    assert parse_host_status(reply).state == state


def test_a_usb_device_file_receives_the_job(tmp_path, template, unit):
    device = tmp_path / "lp0"
    device.touch()
    job = label_job(template, unit)
    UsbPrinter(str(device)).send(job.data)
    assert device.read_bytes() == job.data


def test_a_missing_usb_device_is_an_unplugged_printer(tmp_path, template, unit):
    printer = UsbPrinter(str(tmp_path / "lp9"))
    with pytest.raises(PrinterOffline, match="unplugged"):
        printer.send(label_job(template, unit).data)
    assert printer.status().state == "offline"


@pytest.mark.skipif(os.name != "posix", reason="a stand-in lp script needs a POSIX shell")
def test_a_cups_raw_queue_gets_the_job_through_lp(tmp_path, template, unit):
    received = tmp_path / "received.zpl"
    lp = tmp_path / "lp"
    lp.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {received}\n')
    lp.chmod(lp.stat().st_mode | stat.S_IEXEC)
    job = label_job(template, unit)
    CupsPrinter("ZEBRA1", lp=str(lp)).send(job.data)
    assert received.read_bytes() == job.data
    assert (tmp_path / "args").read_text().split()[:4] == ["-d", "ZEBRA1", "-o", "raw"]


def test_a_missing_lp_command_is_a_config_error(tmp_path):
    with pytest.raises(PrinterConfigError, match="not installed"):
        CupsPrinter("ZEBRA1", lp=str(tmp_path / "no-lp")).send(b"^XA^XZ")


@pytest.mark.skipif(sys.platform == "win32", reason="checks the guard on other systems")
def test_the_windows_spooler_transport_imports_everywhere_and_refuses_off_windows():
    printer = printer_from_uri("windows:ZDesigner GK420d")
    assert isinstance(printer, WindowsPrinter)
    with pytest.raises(PrinterConfigError, match="only on Windows"):
        printer.send(b"^XA^XZ")
    assert printer.status().state == "offline"


def test_printer_addresses_pick_their_transport():
    assert isinstance(printer_from_uri("tcp://10.0.0.5"), TcpPrinter)
    assert printer_from_uri("tcp://10.0.0.5").port == 9100
    assert printer_from_uri("tcp://printer.local:6101").port == 6101
    assert isinstance(printer_from_uri("cups:ZEBRA1"), CupsPrinter)
    assert isinstance(printer_from_uri("usb:/dev/usb/lp0"), UsbPrinter)
