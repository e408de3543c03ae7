"""Scripted demo states, for the operator guide's screenshots (``--demo --scene NAME``).

Each scene drives the demo window like a trainee would (sign in, plug boards,
pull them, ask a supervisor) and calls ``window.finish_now()`` (screenshot and
quit, set up by ``--quit-after``) once the state it shows is on screen.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from PySide6.QtCore import QTimer

from station.provisioning.runner import SlotState

from .demo import DemoLine
from .main_window import MainWindow

Step = tuple[Callable[[], bool], Callable[[], None]]

SCENES = ("signin", "waiting", "running", "pass", "fail", "supervisor", "qa", "line16", "signin16")


class _Script:
    def __init__(self, window: MainWindow, steps: list[Step]) -> None:
        self.window = window
        self.steps = steps
        self.timer = QTimer(window)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        while self.steps:
            condition, action = self.steps[0]
            if not condition():
                return
            self.steps.pop(0)
            action()
        self.timer.stop()


def _states(window: MainWindow) -> list[SlotState]:
    return [tile.slot.state for tile in window.tiles.values() if tile.slot.present]


def _all_done(window: MainWindow, count: int) -> Callable[[], bool]:
    def check() -> bool:
        states = _states(window)
        return len(states) >= count and all(s in (SlotState.PASS, SlotState.FAIL) for s in states)

    return check


def _finish(window: MainWindow, delay_ms: int = 600) -> Callable[[], None]:
    def go() -> None:
        finish = getattr(window, "finish_now", None)
        if finish is not None:
            QTimer.singleShot(delay_ms, finish)

    return go


def play(scene: str, window: MainWindow, demo: DemoLine, args: argparse.Namespace) -> None:
    if scene not in SCENES:
        raise SystemExit(f"unknown scene {scene!r}; scenes: {', '.join(SCENES)}")
    boards = max(1, args.boards)
    always: Callable[[], bool] = lambda: True  # noqa: E731
    batch_ready = lambda: bool(window.line.batch) and window.summary is not None  # noqa: E731

    def sign_in(name: str = "TRAINEE", role: str = "operator") -> Callable[[], None]:
        return lambda: window.signed_in(name, role)

    def plug(count: int, faults: dict[int, list[str]] | None = None, keygen_ms: float | None = None) -> Callable[[], None]:
        def go() -> None:
            for index in range(count):
                demo.plug_new((faults or {}).get(index, []), keygen_ms=keygen_ms)

        return go

    if scene == "line16":  # 16 named slots (--slots 16): PASS, FAIL, RUNNING, unplugged mid-run
        slow_slot: list[str] = []

        def plug_mixed() -> None:
            for index, name in enumerate(demo.ports.names):  # type: ignore[union-attr]
                faults = ["wrong-cn"] if index in (2, 11) else []
                keygen = 30_000 if index in (5, 12, 13, 14, 15) else 200
                demo.plug_new(faults, keygen_ms=keygen, slot=name)
            slow_slot.append(demo.ports.names[5])  # type: ignore[union-attr]

        def settled() -> bool:
            tiles = list(window.tiles.values())
            return sum(t.slot.state in (SlotState.PASS, SlotState.FAIL) for t in tiles) >= 11 and all(
                t.slot.step_index >= 4 for t in tiles if t.slot.state == SlotState.RUNNING
            )

        steps = [
            (always, sign_in("OP-1042")),
            (batch_ready, plug_mixed),
            (settled, lambda: window.demo_unplug(slow_slot[0])),
            (lambda: window.tiles[slow_slot[0]].slot.state == SlotState.FAIL, _finish(window, 1200)),
        ]
    elif scene == "signin16":  # boards plugged in before anyone signed in
        steps = [
            (always, lambda: [demo.plug_new([], slot=name) for name in demo.ports.names[:3]]),  # type: ignore[union-attr]
            (lambda: window.sign_in.waiting.isVisible(), lambda: window.sign_in.id_edit.setText("OP-1042")),
            (always, _finish(window, 800)),
        ]
    elif scene == "signin":
        steps: list[Step] = [(always, lambda: window.sign_in.id_edit.setText("OP-1042")), (always, _finish(window))]
    elif scene == "waiting":
        steps = [
            (always, sign_in()),
            (batch_ready, plug(boards, keygen_ms=0)),
            (_all_done(window, boards), window.demo_unplug_finished),
            (lambda: not _states(window), _finish(window)),
        ]
    elif scene == "running":
        steps = [
            (always, sign_in()),
            (batch_ready, plug(boards, keygen_ms=30_000)),
            (lambda: sum(s == SlotState.RUNNING for s in _states(window)) >= boards
             and all(t.slot.step_index >= 4 for t in window.tiles.values()), _finish(window, 1200)),
        ]
    elif scene == "pass":
        steps = [
            (always, sign_in()),
            (batch_ready, plug(boards, keygen_ms=300)),
            (_all_done(window, boards), _finish(window)),
        ]
    elif scene == "fail":
        steps = [
            (always, sign_in()),
            (batch_ready, plug(boards, {1: ["wrong-cn"]}, keygen_ms=300)),
            (_all_done(window, boards), _finish(window)),
        ]
    elif scene == "supervisor":
        first_port: list[str] = []

        def plug_one() -> None:
            first_port.append(demo.plug_new([], keygen_ms=0))

        def duplicate() -> None:
            serial = demo.serial_on(first_port[0])
            window.demo_unplug(first_port[0])
            # after the runner saw the port go (the new board may get the same pty path)
            QTimer.singleShot(600, lambda: demo.plug_new([], serial=serial, keygen_ms=0))

        def refused() -> bool:
            return any(t.slot.code == "SERIAL_ALREADY_PROVISIONED" for t in window.tiles.values())

        def open_dialog() -> None:
            tile = next(t for t in window.tiles.values() if t.slot.code == "SERIAL_ALREADY_PROVISIONED")
            window.ask_override(tile.port)

        def fill() -> None:
            dialog = window.supervisor_dialog
            if dialog is not None:
                dialog.name_edit.setText("SUP1")
                dialog.pin_edit.setText("12")
                if dialog.reason_edit is not None:
                    dialog.reason_edit.setText("label reprinted, board re-flashed")
                dialog.pin_edit.setFocus()

        steps = [
            (always, sign_in()),
            (batch_ready, plug_one),
            (_all_done(window, 1), duplicate),
            (refused, open_dialog),
            (lambda: window.supervisor_dialog is not None, fill),
            (always, _finish(window, 800)),
        ]
    else:  # qa
        steps = [
            (always, sign_in("QA1", "qa")),
            (batch_ready, plug(boards, {1: ["wrong-cn"]}, keygen_ms=0)),
            (_all_done(window, boards), lambda: window.tabs.setCurrentWidget(window.qa_page)),
            (lambda: window.qa_tab.summary is not None and window.qa_tab.summary.passes >= boards - 1
             and window.qa_tab.model.rowCount() >= boards - 1, _finish(window, 800)),
        ]
    window._scene = _Script(window, steps)  # type: ignore[attr-defined] - kept alive with the window
