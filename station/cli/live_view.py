"""``station run``'s terminal view: one line per slot, redrawn in place on a terminal."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

import click

from station.provisioning.events import AttemptFinished
from station.provisioning.runner import LineRunner, Slot, SlotChanged, SlotState

BAR_WIDTH = 12


def slot_line(slot: Slot) -> str:
    port = slot.port[-24:].ljust(24)
    if slot.state == SlotState.WAITING:
        return f"{port}  waiting for a board"
    serial = (slot.serial or "…").ljust(12)
    if slot.state == SlotState.RUNNING:
        filled = int(slot.progress * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        step = f"step {slot.step_index + 1}/{slot.total_steps} {slot.step or ''}"
        return f"{port}  RUNNING  {serial} [{bar}] {step:<24} {slot.elapsed:5.1f} s"
    if slot.state == SlotState.PASS:
        return f"{port}  {click.style('PASS', fg='green', bold=True)}     {serial} {slot.elapsed:5.1f} s  take the board away"
    return f"{port}  {click.style('FAIL', fg='red', bold=True)}     {serial} {slot.code}: {slot.hint}"


class LiveView:
    """Redraws the slots every ``interval`` s on a TTY; elsewhere prints one line per finished board."""

    def __init__(self, runner: LineRunner, stream: TextIO | None = None, interval: float = 0.25) -> None:
        self.runner = runner
        self.stream = stream or sys.stdout
        self.interval = interval
        self.tty = self.stream.isatty()
        self._drawn = 0
        self._unsubscribe = None if self.tty else runner.bus.subscribe(self._print_result)

    def _print_result(self, event: object) -> None:
        if isinstance(event, AttemptFinished):
            word = "PASS" if event.passed else f"FAIL {event.code}: {event.hint}"
            click.echo(f"{event.port}  {event.serial or '(no serial)'}  {word}", file=self.stream)
        elif isinstance(event, SlotChanged) and event.slot.state == SlotState.FAIL and event.slot.attempt_id is None:
            slot = event.slot
            click.echo(f"{slot.port}  not tried: {slot.code}: {slot.detail}\n      what to do: {slot.hint}",
                       file=sys.stderr)

    def draw(self) -> None:
        if not self.tty:
            return
        lines = [slot_line(s) for s in self.runner.slots()] or ["waiting for boards…"]
        out = "\x1b[F\x1b[2K" * self._drawn + "\n".join("\x1b[2K" + line for line in lines) + "\n"
        self.stream.write(out)
        self.stream.flush()
        self._drawn = len(lines)

    def run_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.draw()
        self.draw()

    def close(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
