"""How a label job reaches a printer: one small interface, four transports.

:class:`PrinterTransport` is all the rest of the station sees: ``send(job)`` hands one
job (bytes in the printer's language, ZPL today) to the printer or raises a
:class:`~station.labels.errors.PrinterError`; ``status()`` never raises. Another printer
language only needs another renderer; another connection only another transport.

Printer addresses (station.ini ``[labels] printer``):

- ``tcp://HOST[:PORT]``: a network printer on raw TCP (port 9100 by default). With
  ``host_status`` on, the transport asks ``~HS`` before the job (paper out, paused) and
  after it (the connection held until the printer answered, so the job arrived).
- ``cups:QUEUE``: a CUPS raw queue on Linux (``lp -d QUEUE -o raw``). CUPS keeps jobs
  for a printer that is off, so an offline printer shows up in CUPS, not here.
- ``windows:PRINTER NAME``: the Windows spooler, as a RAW job through winspool.drv
  (ctypes; no pywin32). Not tested on this project's Linux CI.
- ``usb:/dev/usb/lp0``: a USB printer device file (Linux).
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from station.labels.errors import (
    LabelError,
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterPaperOut,
    PrinterPaused,
    PrinterTimeout,
)

DEFAULT_TCP_PORT = 9100
STX, ETX = 0x02, 0x03


@dataclass(frozen=True)
class PrinterStatus:
    """``state`` is one of ready, offline, paper_out, paused, unknown."""

    state: str
    detail: str = ""
    code: str | None = None

    @property
    def ready(self) -> bool:
        return self.state in ("ready", "unknown")

    @classmethod
    def from_error(cls, error: LabelError) -> PrinterStatus:
        state = {
            "PRINTER_PAPER_OUT": "paper_out",
            "PRINTER_PAUSED": "paused",
        }.get(error.code, "offline")
        return cls(state, error.message, error.code)


@runtime_checkable
class PrinterTransport(Protocol):
    name: str

    def send(self, job: bytes) -> None:
        """Hand one job to the printer, or raise a PrinterError (the job is then not printed)."""

    def status(self) -> PrinterStatus:
        """What the printer says now; never raises."""


def parse_host_status(reply: bytes) -> PrinterStatus:
    """A Zebra ``~HS`` answer: three STX..ETX strings; paper out, pause and head-open flags."""
    strings = [chunk.split(bytes([ETX]))[0].decode("ascii", "replace") for chunk in reply.split(bytes([STX]))[1:]]
    if len(strings) < 2:
        return PrinterStatus("unknown", "the printer's host status answer is incomplete")
    first, second = strings[0].split(","), strings[1].split(",")
    if len(first) < 3 or len(second) < 3:
        return PrinterStatus("unknown", "the printer's host status answer is not in ~HS format")
    if first[1].strip() == "1":
        return PrinterStatus("paper_out", "the printer is out of labels", "PRINTER_PAPER_OUT")
    if second[2].strip() == "1":
        return PrinterStatus("paper_out", "the print head is open", "PRINTER_PAPER_OUT")
    if len(second) > 3 and second[3].strip() == "1":
        return PrinterStatus("paper_out", "the printer is out of ribbon", "PRINTER_PAPER_OUT")
    if first[2].strip() == "1":
        return PrinterStatus("paused", "the printer is paused", "PRINTER_PAUSED")
    return PrinterStatus("ready", "ready")


def _raise_for(status: PrinterStatus, name: str) -> None:
    if status.code == "PRINTER_PAPER_OUT":
        raise PrinterPaperOut(f"{name}: {status.detail}")
    if status.code == "PRINTER_PAUSED":
        raise PrinterPaused(f"{name}: {status.detail}")


class TcpPrinter:
    """A network printer on raw TCP (JetDirect, port 9100)."""

    def __init__(self, host: str, port: int = DEFAULT_TCP_PORT, *, connect_seconds: float = 2.0,
                 io_seconds: float = 5.0, host_status: bool = True):
        self.host, self.port = host, port
        self.connect_seconds, self.io_seconds = connect_seconds, io_seconds
        self.host_status = host_status
        self.name = f"tcp://{host}:{port}"

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_seconds)
        except TimeoutError:
            raise PrinterOffline(f"{self.name} did not accept a connection within {self.connect_seconds:g} s") from None
        except OSError as exc:
            raise PrinterOffline(f"{self.name} cannot be reached: {exc.strerror or exc}") from None
        sock.settimeout(self.io_seconds)
        # ~HS, the job and ~HS again are small writes that each wait for an answer: without
        # this, Nagle and the printer's delayed ACK add some 40 ms to every label.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _query(self, sock: socket.socket) -> PrinterStatus:
        deadline = time.monotonic() + self.io_seconds
        try:
            sock.sendall(b"~HS")
            reply = b""
            while reply.count(bytes([ETX])) < 3:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(1024)
                if not chunk:
                    raise PrinterOffline(f"{self.name} closed the connection before answering its status")
                reply += chunk
        except TimeoutError:
            raise PrinterTimeout(f"{self.name} did not answer ~HS within {self.io_seconds:g} s") from None
        except OSError as exc:
            raise PrinterOffline(f"{self.name} dropped the connection: {exc.strerror or exc}") from None
        return parse_host_status(reply)

    def send(self, job: bytes) -> None:
        with self._connect() as sock:
            if self.host_status:
                _raise_for(self._query(sock), self.name)
            try:
                sock.settimeout(self.io_seconds)
                sock.sendall(job)
            except TimeoutError:
                raise PrinterTimeout(f"{self.name} took more than {self.io_seconds:g} s to take the job") from None
            except OSError as exc:
                raise PrinterOffline(f"{self.name} dropped the connection during the job: {exc.strerror or exc}") from None
            if self.host_status:
                self._query(sock)

    def status(self) -> PrinterStatus:
        try:
            with self._connect() as sock:
                return self._query(sock) if self.host_status else PrinterStatus("unknown", "connected")
        except PrinterError as exc:
            return PrinterStatus.from_error(exc)


class CupsPrinter:
    """A CUPS queue that passes the job to the printer unchanged (``-o raw``)."""

    def __init__(self, queue: str, *, io_seconds: float = 10.0, lp: str = "lp", lpstat: str = "lpstat"):
        self.queue, self.io_seconds, self.lp, self.lpstat = queue, io_seconds, lp, lpstat
        self.name = f"cups:{queue}"

    def _run(self, args: list[str], job: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(args, input=job, capture_output=True, timeout=self.io_seconds, check=False)
        except FileNotFoundError:
            raise PrinterConfigError(f"{args[0]} is not installed; {self.name} needs the CUPS client",
                                     hint="Install the CUPS client (Debian: apt-get install cups-client) or use tcp://HOST:9100.") from None
        except subprocess.TimeoutExpired:
            raise PrinterTimeout(f"{args[0]} did not return within {self.io_seconds:g} s") from None

    def send(self, job: bytes) -> None:
        done = self._run([self.lp, "-d", self.queue, "-o", "raw", "-t", "station label"], job)
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
            if "not exist" in why or "Unknown" in why:
                raise PrinterConfigError(f"{self.name}: {why}")
            raise PrinterOffline(f"{self.name}: {why}")

    def status(self) -> PrinterStatus:
        try:
            done = self._run([self.lpstat, "-p", self.queue])
        except PrinterError as exc:
            return PrinterStatus.from_error(exc)
        text = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            return PrinterStatus("offline", done.stderr.decode("utf-8", "replace").strip(), "PRINTER_CONFIG")
        if "disabled" in text:
            return PrinterStatus("offline", f"CUPS queue {self.queue} is disabled", "PRINTER_OFFLINE")
        return PrinterStatus("ready", text.strip())


class UsbPrinter:
    """A USB printer device file such as ``/dev/usb/lp0`` (Linux usblp)."""

    def __init__(self, path: str, *, io_seconds: float = 5.0):
        self.path, self.io_seconds = path, io_seconds
        self.name = f"usb:{path}"

    def _open(self) -> int:
        flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            return os.open(self.path, flags)
        except FileNotFoundError:
            raise PrinterOffline(f"{self.path} does not exist: the printer is unplugged or off") from None
        except PermissionError:
            raise PrinterConfigError(f"no permission to write {self.path}",
                                     hint="Add the station's user to the lp group (Linux) and log in again.") from None
        except OSError as exc:
            raise PrinterOffline(f"{self.path} cannot be opened: {exc.strerror or exc}") from None

    def send(self, job: bytes) -> None:
        fd = self._open()
        try:
            view = memoryview(job)
            deadline = time.monotonic() + self.io_seconds
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PrinterTimeout(f"{self.path} took more than {self.io_seconds:g} s to take the job")
                if os.name == "posix":
                    select.select([], [fd], [], remaining)
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise PrinterOffline(f"{self.path}: {exc.strerror or exc}") from None
                view = view[written:]
        finally:
            os.close(fd)

    def status(self) -> PrinterStatus:
        if not os.path.exists(self.path):
            return PrinterStatus("offline", f"{self.path} does not exist", "PRINTER_OFFLINE")
        if not os.access(self.path, os.W_OK):
            return PrinterStatus("offline", f"no permission to write {self.path}", "PRINTER_CONFIG")
        return PrinterStatus("unknown", "device present")


class _DocInfo1(ctypes.Structure):
    _fields_ = [("pDocName", ctypes.c_wchar_p), ("pOutputFile", ctypes.c_wchar_p), ("pDatatype", ctypes.c_wchar_p)]


class WindowsPrinter:
    """A printer known to the Windows spooler, sent a RAW job through winspool.drv."""

    def __init__(self, printer: str):
        self.printer = printer
        self.name = f"windows:{printer}"

    def _winspool(self):  # pragma: no cover - Windows only
        if sys.platform != "win32":
            raise PrinterConfigError(f"{self.name}: the Windows spooler exists only on Windows",
                                     hint="On Linux use cups:QUEUE, tcp://HOST:9100 or usb:/dev/usb/lp0.")
        return ctypes.WinDLL("winspool.drv", use_last_error=True)

    def _open(self, spool) -> ctypes.c_void_p:  # pragma: no cover - Windows only
        handle = ctypes.c_void_p()
        if not spool.OpenPrinterW(ctypes.c_wchar_p(self.printer), ctypes.byref(handle), None):
            raise PrinterConfigError(f"{self.name}: no such printer (Windows error {ctypes.get_last_error()})",
                                     hint="Write the printer's name exactly as Windows shows it in Printers & scanners.")
        return handle

    def send(self, job: bytes) -> None:  # pragma: no cover - Windows only
        spool = self._winspool()
        handle = self._open(spool)
        try:
            info = _DocInfo1("station label", None, "RAW")
            if not spool.StartDocPrinterW(handle, 1, ctypes.byref(info)):
                raise PrinterOffline(f"{self.name}: the spooler refused the job (Windows error {ctypes.get_last_error()})")
            try:
                spool.StartPagePrinter(handle)
                written = ctypes.c_ulong()
                ok = spool.WritePrinter(handle, job, len(job), ctypes.byref(written))
                spool.EndPagePrinter(handle)
                if not ok or written.value != len(job):
                    raise PrinterOffline(f"{self.name}: the spooler took {written.value} of {len(job)} bytes")
            finally:
                spool.EndDocPrinter(handle)
        finally:
            spool.ClosePrinter(handle)

    def status(self) -> PrinterStatus:
        try:
            spool = self._winspool()
            spool.ClosePrinter(self._open(spool))  # pragma: no cover - Windows only
        except PrinterError as exc:
            return PrinterStatus.from_error(exc)
        return PrinterStatus("unknown", "known to the spooler")  # pragma: no cover - Windows only


def printer_from_uri(uri: str, *, connect_seconds: float = 2.0, io_seconds: float = 5.0,
                     host_status: bool = True) -> PrinterTransport:
    """The transport for a printer address; raises PrinterConfigError for a bad one."""
    uri = uri.strip()
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "tcp":
        parts = urlsplit(uri)
        try:
            port = parts.port or DEFAULT_TCP_PORT
        except ValueError:
            raise PrinterConfigError(f"printer address {uri!r} has a bad port") from None
        if not parts.hostname:
            raise PrinterConfigError(f"printer address {uri!r} has no host; write tcp://HOST:9100")
        return TcpPrinter(parts.hostname, port, connect_seconds=connect_seconds, io_seconds=io_seconds,
                          host_status=host_status)
    if scheme == "cups" and rest.strip("/"):
        return CupsPrinter(unquote(rest.strip("/")), io_seconds=max(io_seconds, 10.0))
    if scheme == "windows" and rest.strip():
        return WindowsPrinter(rest.strip())
    if scheme == "usb" and rest.strip():
        return UsbPrinter(rest.strip(), io_seconds=io_seconds)
    raise PrinterConfigError(f"printer address {uri!r} is not one of tcp://HOST:PORT, cups:QUEUE, windows:NAME, usb:DEVICE")
