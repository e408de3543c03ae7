"""``station-gui``: the operator and QA app.

    station-gui [--config station.ini]           the station in this folder (or $STATION_CONFIG)
    station-gui --demo [--boards 4] [--dir DIR]  simulated boards and a local cloud, no setup

Startup problems (no config, bad config, unreadable claim key, database locked,
line taken by another process) are shown as a dialog that says what to do, and
the app exits with code 3, like the ``station`` command.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QWidget

from flashing.errors import BoardError
from records import RecordsError
from station.context import Station, open_station
from station.errors import StationError
from station.provisioning.ports import ManualPorts, PortSource, source_for

from .errors import install_excepthook, show_error
from .theme import apply_theme

log = logging.getLogger(__name__)

EXIT_ERROR = 3
DEMO_SYNC_INTERVAL_MS = 20_000
STARTUP_ERRORS = (StationError, RecordsError, BoardError, OSError, ValueError)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="station-gui", description="Provisioning station: the operator and QA app."
    )
    parser.add_argument("--config", help="station.ini to use (default: ./station.ini or $STATION_CONFIG)")
    demo = parser.add_argument_group("demo (simulated boards, a local cloud, no setup)")
    demo.add_argument("--demo", action="store_true", help="run on simulated boards, for training and trying out")
    demo.add_argument("--boards", type=int, default=4, help="simulated boards plugged in at start (default 4)")
    demo.add_argument("--slots", type=int, default=0, help="a fixture of N named slots (A1..A8, B1..), 0: none (default)")
    demo.add_argument("--dir", help="folder of the demo station (default: a per-user data folder)")
    demo.add_argument(
        "--fault", action="append", default=None, metavar="N=FAULT",
        help="fault of simulated board N (1-based), e.g. 2=wrong-cn (the default); repeatable",
    )
    demo.add_argument("--keygen-ms", type=float, default=1500.0, help="simulated key generation time (default 1500)")
    demo.add_argument("--scene", help=argparse.SUPPRESS)  # scripted demo states for the docs' screenshots
    tools = parser.add_argument_group("kiosk and tooling")
    tools.add_argument("--sign-in", metavar="ID", help="sign this operator ID in at start")
    tools.add_argument("--screenshot", metavar="PATH", help="save a screenshot of the window before quitting")
    tools.add_argument("--quit-after", type=float, metavar="SECONDS", help="quit after this many seconds")
    tools.add_argument("--startup-stamp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.boards < 0 or args.boards > 32:
        parser.error("--boards must be 0..32")
    if args.slots < 0 or args.slots > 32:
        parser.error("--slots must be 0..32")
    if args.scene and not args.demo:
        parser.error("--scene needs --demo")
    return args


@dataclass
class Built:
    window: QWidget
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    demo_start: Callable[[], None] | None = None

    def cleanup(self) -> None:
        for step in reversed(self.cleanups):
            try:
                step()
            except Exception:
                log.exception("cleanup step failed")


def ask_passphrase() -> str:
    text, ok = QInputDialog.getText(
        None, "Claim key passphrase", "The claim key is encrypted. Passphrase:", QLineEdit.EchoMode.Password
    )
    if not ok or not text:
        raise StationError(
            "the claim key is encrypted and no passphrase was given",
            code="CLAIM_KEY_PASSPHRASE_NEEDED",
            hint="Start again and enter the passphrase, or set the environment variable named by "
            "[claim] passphrase_env.",
        )
    return text


def port_source(station: Station) -> tuple[PortSource, tuple[str, ...]]:
    """The port source of station.ini and the slots that have a tile from the start."""
    config = station.config
    source = source_for(config)
    if config.slots:
        return source, tuple(name for name, _place in config.slots)
    return source, () if config.auto_ports else tuple(config.ports)


def build(args: argparse.Namespace) -> Built:
    """Open the station and make the window (raises the startup errors)."""
    from .line import LineSession
    from .main_window import MainWindow, ports_problem

    if args.demo:
        return build_demo(args)
    station = open_station(args.config)
    built_cleanups: list[Callable[[], None]] = [station.close]
    try:
        station.take_line()
        claim = station.claim(prompt=ask_passphrase)
        ports, fixed = port_source(station)
        line = LineSession(station, claim, ports)
        window = MainWindow(station, line, fixed_ports=fixed, ports_note=ports_problem(station.config))
    except BaseException:
        station.close()
        raise
    line.start()
    built_cleanups.append(window.shutdown)
    return Built(window, built_cleanups)


def build_demo(args: argparse.Namespace) -> Built:
    from station.demo.line import prepare_folder

    from . import demo as demo_mod
    from .line import LineSession
    from .main_window import MainWindow
    from .worker import run_in_thread

    folder = Path(args.dir).expanduser() if args.dir else demo_mod.default_demo_dir()
    ini = prepare_folder(folder.resolve())
    station = open_station(ini)
    cleanups: list[Callable[[], None]] = [station.close]
    try:
        station.take_line()
        claim = station.claim()
        demo_mod.prepare_demo_records(station)
        names = demo_mod.demo_slot_names(args.slots)
        ports: ManualPorts | demo_mod.DemoSlots = demo_mod.DemoSlots(names) if names else ManualPorts()
        line = LineSession(station, claim, ports, poll_interval=0.1)
        demo_line = demo_mod.DemoLine(
            ports, first_number=demo_mod.next_serial_number(station), keygen_ms=args.keygen_ms
        )
        window = MainWindow(station, line, demo=demo_line, demo_note=demo_mod.DEMO_NOTE, fixed_ports=names)
    except BaseException:
        station.close()
        raise
    cloud = demo_mod.DemoCloud()
    cleanups += [cloud.stop, window.shutdown]
    line.start()
    faults = demo_faults(args)

    def start() -> None:
        def cloud_ready(_result: object) -> None:
            window.sync.timer.setInterval(DEMO_SYNC_INTERVAL_MS)  # the demo shows the sync working
            window.sync.sync_now()

        def cloud_failed(exc: BaseException) -> None:
            log.warning("demo: no local cloud: %s", exc)
            window.sync_panel.error_label.setText(f"demo cloud not started: {exc}")

        run_in_thread(lambda: cloud.start(station), cloud_ready, cloud_failed, owner=window)
        if args.scene:
            from .scenes import play

            play(args.scene, window, demo_line, args)
            return
        if args.sign_in:
            window.sign_in.id_edit.setText(args.sign_in)
            window.sign_in.submit_id()
        for index in range(args.boards):
            QTimer.singleShot(300 + 400 * index, lambda i=index: demo_line.plug_new(faults.get(i, [])))

    return Built(window, cleanups, start)


def demo_faults(args: argparse.Namespace) -> dict[int, list[str]]:
    from station.demo.line import parse_board_faults

    from .demo import DEFAULT_FAULTS

    if args.fault is None:
        return {i: f for i, f in DEFAULT_FAULTS.items() if i < args.boards}
    return parse_board_faults(args.fault, max(1, args.boards))


def take_screenshot(window: QWidget, path: str) -> bool:
    """Save what is on screen where the window is (dialogs included); False if empty."""
    screen = window.screen()
    frame = window.frameGeometry()
    shot = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()) if screen else None
    if shot is None or shot.isNull():
        shot = window.grab()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return shot.save(path, None, 0 if path.lower().endswith(".png") else -1)  # PNG: smallest file


def main(argv: Sequence[str] | None = None) -> int:
    started = time.time()
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "station-gui"])
    app.setApplicationName("station-gui")
    app.setApplicationDisplayName("Provisioning station")
    apply_theme(app)
    install_excepthook()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        built = build(args)
    except STARTUP_ERRORS as exc:
        log.error("station-gui could not start: %s", exc)
        show_error(None, exc)
        return EXIT_ERROR
    window = built.window
    window.showMaximized()
    if args.startup_stamp:
        QTimer.singleShot(0, lambda: print(f"STARTUP {started:.6f} SHOWN {time.time():.6f}", flush=True))
    if built.demo_start is not None:
        QTimer.singleShot(0, built.demo_start)
    elif args.sign_in:
        window.sign_in.id_edit.setText(args.sign_in)  # type: ignore[attr-defined]
        window.sign_in.submit_id()  # type: ignore[attr-defined]
    if args.quit_after is not None:
        done = []

        def finish() -> None:
            if done:
                return
            done.append(True)
            if args.screenshot:
                ok = take_screenshot(window, args.screenshot)
                print(f"screenshot {'saved' if ok else 'FAILED'}: {args.screenshot}", flush=True)
            shutdown = getattr(window, "shutdown", None)
            if shutdown is not None:
                shutdown(timeout=2.0)
            window.close()
            app.quit()

        window.finish_now = finish  # type: ignore[attr-defined] - scenes call it when ready
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    try:
        return app.exec()
    finally:
        built.cleanup()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
