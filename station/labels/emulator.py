"""A ZPL label printer on loopback TCP, for tests, benchmarks and the demo.

It behaves like a network Zebra on port 9100 as far as the station can tell: it takes
``^XA``..``^XZ`` formats, answers ``~HS`` host status, and records every job (bytes, time,
the job id from its ``^FX job=`` comment, and whether it "printed"). Switches make it
misbehave the ways real printers do:

- offline: the port refuses connections (printer off, cable out);
- paper out / paused: ``~HS`` says so; a job that arrives anyway is held (outcome "held")
  and prints when labels are loaded or the printer resumed, as a real printer's buffer does;
- slow: each job takes N seconds, and the printer answers nothing meanwhile;
- drop: the next N jobs have their connection reset before ``^XZ`` arrives.

Run it on its own for the demo or a manual test::

    python -m station.labels.emulator --port 9100 --out printed-labels
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from station.labels.zpl import ZplParseError, parse_zpl

_HS, _START, _END = b"~HS", b"^XA", b"^XZ"


@dataclass(frozen=True)
class ReceivedJob:
    number: int
    data: bytes
    received_at: float
    job_id: str | None
    printed: bool
    outcome: str  # printed, held (paper out or paused; printed later), dropped


class PrinterEmulator:
    """Start with :meth:`start` (or ``with``); ``uri`` is the address to give the station."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, out_dir: Path | None = None,
                 on_job: Callable[[ReceivedJob], None] | None = None):
        self.host = host
        self._port = port
        self.out_dir = out_dir
        self.on_job = on_job
        self._lock = threading.Condition()
        self._jobs: list[ReceivedJob] = []
        self._clients: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._online = True
        self._paper_out = False
        self._paused = False
        self._held: list[bytes] = []
        self._slow = 0.0
        self._drops = 0
        self._running = False
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._applied_generation = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> PrinterEmulator:
        self._open_listener()
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="printer-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_listener()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            _cut(client)

    def __enter__(self) -> PrinterEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def uri(self) -> str:
        return f"tcp://{self.host}:{self._port}"

    # -- switches ------------------------------------------------------------------

    def set_offline(self, offline: bool = True, *, drop_open: bool = True) -> None:
        """Refuse connections until switched back; ``drop_open`` also cuts the open ones
        (power off) rather than letting them finish (network cable pulled at the switch)."""
        with self._lock:
            self._online = not offline
            self._generation += 1
            wanted = self._generation
            if self._thread is not None and self._running:
                self._lock.wait_for(lambda: self._applied_generation >= wanted, timeout=5)
            clients = list(self._clients) if offline and drop_open else []
        for client in clients:
            _cut(client)

    def set_paper_out(self, paper_out: bool = True) -> None:
        with self._lock:
            self._paper_out = paper_out
            self._release_held()

    def set_paused(self, paused: bool = True) -> None:
        with self._lock:
            self._paused = paused
            self._release_held()

    def _release_held(self) -> None:
        if self._paper_out or self._paused:
            return
        held, self._held = self._held, []
        for data in held:
            self._record(data, "printed")

    def set_slow(self, seconds_per_job: float) -> None:
        self._slow = max(0.0, seconds_per_job)

    def drop_next(self, count: int = 1) -> None:
        """Reset the connection of the next ``count`` jobs before they are complete."""
        with self._lock:
            self._drops += count

    # -- what it received ----------------------------------------------------------

    @property
    def jobs(self) -> list[ReceivedJob]:
        with self._lock:
            return list(self._jobs)

    def printed(self) -> list[ReceivedJob]:
        return [job for job in self.jobs if job.printed]

    def printed_ids(self) -> list[str | None]:
        return [job.job_id for job in self.printed()]

    def wait_for_printed(self, count: int, timeout: float = 10.0) -> list[ReceivedJob]:
        """Block until ``count`` jobs printed (or the timeout); returns the printed jobs."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(job.printed for job in self._jobs) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return [job for job in self._jobs if job.printed]

    # -- the server ----------------------------------------------------------------

    def _open_listener(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(128)
        sock.settimeout(0.05)
        self._port = sock.getsockname()[1]
        self._listener = sock

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _serve(self) -> None:
        while self._running:
            with self._lock:
                online, generation = self._online, self._generation
            if online and self._listener is None:
                self._open_listener()
            elif not online and self._listener is not None:
                self._close_listener()
            with self._lock:
                self._applied_generation = generation
                self._lock.notify_all()
            if self._listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                continue
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._handle, args=(client,), name="printer-emulator-conn", daemon=True).start()

    def _host_status(self) -> bytes:
        paper, pause = int(self._paper_out), int(self._paused)
        return (
            f"\x02030,{paper},{pause},0240,000,0,0,0,000,0,0,0\x03\r\n"
            f"\x02001,0,0,0,0,2,4,0,00000000,1,000\x03\r\n"
            f"\x021234,0\x03\r\n"
        ).encode("ascii")

    def _handle(self, client: socket.socket) -> None:
        buffer = b""
        try:
            client.settimeout(30)
            while self._running:
                hs, start = buffer.find(_HS), buffer.find(_START)
                if hs >= 0 and (start < 0 or hs < start):
                    client.sendall(self._host_status())
                    buffer = buffer[hs + len(_HS):]
                    continue
                if start >= 0:
                    with self._lock:
                        drop = self._drops > 0
                        self._drops -= int(drop)
                    if drop:
                        self._record(buffer[start:], "dropped")
                        _reset(client)
                        return
                    end = buffer.find(_END, start)
                    if end >= 0:
                        job = buffer[start:end + len(_END)]
                        buffer = buffer[end + len(_END):]
                        if self._slow:
                            time.sleep(self._slow)
                        with self._lock:
                            if self._paper_out or self._paused:
                                self._held.append(job)
                                self._record(job, "held")
                            else:
                                self._record(job, "printed")
                        continue
                chunk = client.recv(65536)
                if not chunk:
                    return
                buffer += chunk
        except OSError:
            return
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def _record(self, data: bytes, outcome: str) -> None:
        try:
            job_id = parse_zpl(data).job_id if outcome != "dropped" else None
        except (ZplParseError, UnicodeDecodeError):
            job_id = None
        with self._lock:
            job = ReceivedJob(len(self._jobs) + 1, data, time.time(), job_id, outcome == "printed", outcome)
            if self.out_dir is not None and job.printed:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                (self.out_dir / f"{job.number:04d}-{job_id or 'no-id'}.zpl").write_bytes(data)
            self._jobs.append(job)
            self._lock.notify_all()
        if self.on_job is not None:
            self.on_job(job)


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a printer that loses power mid-job does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _cut(sock: socket.socket) -> None:
    """Cut a connection another thread is serving: it wakes up, closes, and the peer gets RST."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.labels.emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="TCP port (default 9100; 0 picks a free one)")
    parser.add_argument("--out", type=Path, help="folder to write each printed job to as NNNN-JOBID.zpl")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds each job takes")
    parser.add_argument("--paper-out", action="store_true", help="start out of labels")
    args = parser.parse_args(argv)

    def show(job: ReceivedJob) -> None:
        try:
            texts = " | ".join(parse_zpl(job.data).texts())
        except (ZplParseError, UnicodeDecodeError):
            texts = ""
        print(f"job {job.number} id={job.job_id} {len(job.data)} bytes {job.outcome}: {texts}", flush=True)

    emulator = PrinterEmulator(args.host, args.port, out_dir=args.out, on_job=show)
    emulator.set_slow(args.slow)
    emulator.set_paper_out(args.paper_out)
    try:
        emulator.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 3
    where = f", jobs written to {args.out}" if args.out else ""
    print(f"label printer emulator on {emulator.uri}{where}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
