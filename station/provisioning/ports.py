"""Where boards appear: the ports a runner watches.

A port source answers one question, polled by the runner: which ports have a
board on them right now? A USB board appears as a new serial port when it is
plugged in and the port vanishes when it is pulled, so presence of the port is
presence of the board.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from serial.tools import list_ports


class PortSource(Protocol):
    def scan(self) -> set[str]:
        """The ports that have a board on them now. Must be quick and must not raise."""
        ...


class UsbPortWatcher:
    """Ports whose USB VID:PID matches one of the filters (``[ports] ports = auto``)."""

    def __init__(self, filters: Iterable[tuple[int, int]]) -> None:
        self.filters = frozenset(filters)

    def scan(self) -> set[str]:
        try:
            ports = list_ports.comports()
        except OSError:
            return set()
        return {
            p.device for p in ports
            if p.vid is not None and (not self.filters or (p.vid, p.pid) in self.filters)
        }


class ConfiguredPorts:
    """A fixed list of ports; a device path counts as present while it exists.

    URLs (``socket://``, ``rfc2217://``) cannot be probed and count as always present.
    """

    def __init__(self, ports: Iterable[str]) -> None:
        self.ports = tuple(ports)

    def scan(self) -> set[str]:
        present = set()
        for port in self.ports:
            if "://" in port or os.name == "nt" or os.path.exists(port):
                present.add(port)
        return present


class ManualPorts:
    """Ports added and removed by code: tests, simulators and demos use it for hot-plug."""

    def __init__(self, ports: Iterable[str] = ()) -> None:
        self._ports = set(ports)
        self._lock = threading.Lock()

    def plug(self, port: str) -> None:
        with self._lock:
            self._ports.add(port)

    def unplug(self, port: str) -> None:
        with self._lock:
            self._ports.discard(port)

    def scan(self) -> set[str]:
        with self._lock:
            return set(self._ports)


class CallablePorts:
    def __init__(self, scan: Callable[[], Iterable[str]]) -> None:
        self._scan = scan

    def scan(self) -> set[str]:
        try:
            return set(self._scan())
        except Exception:  # noqa: BLE001 - a port source must never stop the runner
            return set()
