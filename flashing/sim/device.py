"""What every simulated board shares: a thread that serves its link until stopped or unplugged."""

from __future__ import annotations

import threading
from typing import Self

from .links import Link


class SimulatedDevice:
    """Subclasses set ``link`` and implement ``_run`` (which returns when ``_stop`` is set)."""

    link: Link

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.link.drop()

    def unplug(self) -> None:
        """Drop the line now, as if the cable were pulled."""
        self._stop.set()
        self.link.drop()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
