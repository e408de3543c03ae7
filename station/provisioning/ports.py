"""Where boards appear: the ports a runner watches.

A port source answers one question, polled by the runner: which ports have a
board on them right now? A USB board appears as a new serial port when it is
plugged in and the port vanishes when it is pulled, so presence of the port is
presence of the board.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from serial.tools import list_ports

from station.config import StationConfig


class PortSource(Protocol):
    def scan(self) -> set[str]:
        """The ports that have a board on them now. Must be quick and must not raise."""
        ...


def is_device_path(place: str) -> bool:
    """A place that names a device (``/dev/...``, ``COM7``, ``socket://...``), not a USB location."""
    return place.startswith("/") or "://" in place or bool(re.fullmatch(r"(?i)COM\d+", place))


def location_matches(wanted: str, location: str | None) -> bool:
    """``1-1.2`` matches the port at ``1-1.2`` and each interface of it (``1-1.2:1.0``);
    ``1-1.2:1.0`` matches only that interface; ``1-1.2`` never matches ``1-1.20``."""
    if not location:
        return False
    return location == wanted or (":" not in wanted and location.startswith(wanted + ":"))


class NamedSlots:
    """``[slots]``: each physical slot of the fixture has a name and a place.

    ``scan`` answers with the *names* of the slots that hold a board; :meth:`device` says
    which device to open for a name right now. A place is a USB location as pyserial's
    ``ListPortInfo.location`` reports it (the hub port path, the same on Linux and
    Windows), a ``/dev/serial/by-path`` link, or a plain device path (simulated boards).
    A USB serial device whose location is in no slot is never provisioned: it is listed
    by :meth:`strays`, and the runner reports it.
    """

    def __init__(
        self,
        slots: Iterable[tuple[str, str]],
        filters: Iterable[tuple[int, int]] = (),
        *,
        comports: Callable[[], Iterable[object]] | None = None,
    ) -> None:
        self.slots = tuple(slots)
        self.filters = frozenset(filters)
        self._comports = comports or list_ports.comports
        self._devices: dict[str, str] = {}
        self._strays: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _place in self.slots)

    def scan(self) -> set[str]:
        devices: dict[str, str] = {}
        strays: dict[str, str] = {}
        for name, place in self.slots:
            if is_device_path(place) and ("://" in place or os.path.exists(place)):
                devices[name] = os.path.realpath(place) if place.startswith("/dev/serial/") else place
        located = [(name, place) for name, place in self.slots if not is_device_path(place)]
        if located:
            try:
                ports = list(self._comports())
            except Exception:  # noqa: BLE001 - a port source must never stop the runner
                ports = []
            for port in ports:
                device, location = getattr(port, "device", None), getattr(port, "location", None)
                if not device or getattr(port, "vid", None) is None:
                    continue  # not a USB serial device (a built-in UART)
                if self.filters and (port.vid, port.pid) not in self.filters:
                    continue
                name = next((n for n, place in located if location_matches(place, location)), None)
                if name is not None and name not in devices:
                    devices[name] = device
                elif name is None and device not in devices.values():
                    strays[device] = location or "no USB location"
        with self._lock:
            self._devices, self._strays = devices, strays
        return set(devices)

    def device(self, name: str) -> str:
        """The device to open for slot ``name`` (its place when nothing was seen there yet)."""
        with self._lock:
            return self._devices.get(name) or dict(self.slots).get(name, name)

    def strays(self) -> dict[str, str]:
        """USB serial devices (device → location) outside every named slot, at the last scan."""
        with self._lock:
            return dict(self._strays)


def source_for(config: StationConfig) -> PortSource:
    """The port source that ``[slots]`` and ``[ports]`` of station.ini ask for."""
    if config.slots:
        return NamedSlots(config.slots, config.usb_filters)
    if config.auto_ports:
        return UsbPortWatcher(config.usb_filters)
    return ConfiguredPorts(config.ports)


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
