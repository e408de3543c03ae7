"""The two ends a simulated board can sit behind: a pseudo-terminal (POSIX) or a TCP socket.

The station opens the other end with pyserial exactly as it opens a USB port:
the pty's path (``/dev/pts/7``) or ``socket://127.0.0.1:PORT`` on any system.
"""

from __future__ import annotations

import os
import select
import socket
from typing import Protocol


class LinkClosed(Exception):
    """The board's side of the link is gone."""


class Link(Protocol):
    port: str

    def read(self, timeout: float) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def drop(self) -> None: ...


class PtyLink:
    """A pseudo-terminal pair; the station opens the slave's path."""

    def __init__(self) -> None:
        if os.name != "posix":  # pragma: no cover - Windows uses TcpLink
            raise OSError("pseudo-terminals need a POSIX system; use the TCP simulator (socket://) instead")
        import tty

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._closed = False

    def read(self, timeout: float) -> bytes:
        if self._closed:
            raise LinkClosed(self.port)
        try:
            ready, _, _ = select.select([self._master], [], [], timeout)
            return os.read(self._master, 4096) if ready else b""
        except (OSError, ValueError):
            raise LinkClosed(self.port) from None

    def write(self, data: bytes, *, give_up_after: float = 2.0) -> None:
        """Write all of ``data``; if the station stops reading for ``give_up_after`` s the rest is
        lost, as on a UART nobody listens to (a full pty buffer must not hang the board)."""
        view = memoryview(data)
        while view:
            if self._closed:
                raise LinkClosed(self.port)
            try:
                _, writable, _ = select.select([], [self._master], [], give_up_after)
                if not writable:
                    return
                view = view[os.write(self._master, view) :]
            except (OSError, ValueError):
                raise LinkClosed(self.port) from None

    def drop(self) -> None:
        """Pull the cable: the station's next read on the port fails."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpLink:
    """A TCP listener on loopback; one station connection at a time (``socket://`` in pyserial)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0)
        bound_host, bound_port = self._server.getsockname()[:2]
        self.port = f"socket://{bound_host}:{bound_port}"
        self._conn: socket.socket | None = None
        self._closed = False

    def read(self, timeout: float) -> bytes:
        if self._closed:
            raise LinkClosed(self.port)
        if self._conn is None:
            ready, _, _ = select.select([self._server], [], [], timeout)
            if ready:
                self._conn, _ = self._server.accept()
                self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return b""
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return b""
        try:
            data = self._conn.recv(4096)
        except OSError:
            data = b""
        if not data:  # the station closed the port; wait for the next session
            self._conn.close()
            self._conn = None
        return data

    def write(self, data: bytes) -> None:
        if self._closed:
            raise LinkClosed(self.port)
        if self._conn is None:
            return  # like a UART with nobody listening: the bytes are lost
        try:
            self._conn.sendall(data)
        except OSError:
            raise LinkClosed(self.port) from None

    def drop(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._conn is not None:
            self._conn.close()
        self._server.close()
