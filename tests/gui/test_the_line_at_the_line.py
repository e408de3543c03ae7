"""The app as a line really meets it (issue 15, the app part): named slots laid out like the
fixture, every slot on a small screen, a board pulled mid-run, focus and keys, no ports,
stray boards, the sign-in page, the batch bar's yield."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget
from serial.tools.list_ports_common import ListPortInfo

from flashing.sim import SimulatedBoard
from gui.demo import DemoSlots, demo_slot_names
from gui.main_window import ports_problem
from gui.slot_tile import SlotTile, format_elapsed
from gui.stats import summarize
from gui.tile_grid import best_columns
from station.provisioning.ports import NamedSlots
from station.provisioning.runner import Slot, SlotState

WAIT_MS = 20_000
SIXTEEN = demo_slot_names(16)


def on_screen(widget: QWidget, window: QWidget) -> bool:
    """The widget lies wholly inside the window (nothing below the fold)."""
    return window.rect().contains(QRect(widget.mapTo(window, QPoint(0, 0)), widget.size()))


def sixteen_slots(make_app, width: int, height: int):
    slots = DemoSlots(SIXTEEN)
    app = make_app(ports=slots, fixed_ports=SIXTEEN)
    app.window.resize(width, height)
    app.sign_in()
    return app, slots


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_sixteen_slots_a_fail_and_its_retry_are_all_on_screen(make_app, boards, width, height):
    app, slots = sixteen_slots(make_app, width, height)
    window = app.window
    (bad,) = boards(1, faults={0: ["wrong-cn"]})
    slots.plug(bad.port, "B8")
    tile = app.wait_state("B8", SlotState.FAIL)
    app.qtbot.waitUntil(tile.retry_button.isVisible, timeout=WAIT_MS)

    assert window.minimumSizeHint().width() <= width and window.minimumSizeHint().height() <= height
    assert (window.width(), window.height()) == (width, height), "the window fits the screen"
    assert len(window.tiles) == 16
    assert all(on_screen(t, window) for t in window.tiles.values()), "no slot below the fold"
    assert on_screen(tile.retry_button, window)
    assert on_screen(window.statusBar(), window)
    assert tile.word == "FAIL" and tile.word_label.font().pointSize() >= 24, "FAIL reads from 3 m"
    assert tile.icon_label.isVisible(), "FAIL is never colour alone"


def test_slots_named_like_a1_to_b8_are_laid_out_like_the_fixture(make_app):
    app, _slots = sixteen_slots(make_app, 1366, 768)
    positions = app.window.grid.positions
    assert positions["A1"] == (0, 0) and positions["A8"] == (0, 7)
    assert positions["B1"] == (1, 0) and positions["B8"] == (1, 7)
    assert app.window.tiles["B3"].port_label.text() == "B3", "the slot's name heads its tile"


def test_sixteen_plain_device_paths_fill_a_grid_that_fits(make_app):
    paths = tuple(f"/dev/ttyACM{n}" for n in range(16))
    app = make_app(fixed_ports=paths)
    app.window.resize(1366, 768)
    app.sign_in()
    app.qtbot.waitUntil(lambda: all(on_screen(t, app.window) for t in app.window.tiles.values()), timeout=WAIT_MS)
    assert app.window.tiles["/dev/ttyACM3"].port_label.text() == "ttyACM3"
    assert min(t.height() for t in app.window.tiles.values()) >= SlotTile.MINIMUM_SIZE[1]


def test_a_grid_of_plain_ports_takes_the_columns_that_give_the_largest_tiles():
    assert best_columns(1, 1340, 440) == 1
    assert best_columns(4, 1340, 440) == 4, "one row of four on a wide page"
    assert best_columns(16, 1340, 440) == 6, "three rows of six: 16 tiles, each as large as it gets"


def test_a_board_pulled_mid_run_leaves_not_provisioned_until_the_next_board(make_app, boards):
    slots = DemoSlots(("A1",))
    app = make_app(ports=slots, fixed_ports=("A1",))
    app.sign_in()
    (slow,) = boards(1, keygen_ms=3000)
    slots.plug(slow.port, "A1")
    tile = app.tile("A1")
    app.qtbot.waitUntil(lambda: tile.slot.step == "generate_csr", timeout=WAIT_MS)

    slow.unplug()
    slots.unplug("A1")
    app.qtbot.waitUntil(lambda: tile.slot.state == SlotState.FAIL and not tile.slot.present, timeout=WAIT_MS)
    app.qtbot.wait(400)  # several polls of the empty slot
    assert tile.word == "FAIL"
    assert tile.step_label.text() == "NOT PROVISIONED — unplugged at step 6 of 9"
    assert tile.look == "fail"

    (fresh,) = boards(1)
    slots.plug(fresh.port, "A1")
    app.qtbot.waitUntil(lambda: tile.slot.state == SlotState.PASS, timeout=WAIT_MS)
    assert tile.slot.serial == fresh.serial


def test_after_sign_in_the_focus_is_on_the_scan_field_and_space_does_not_sign_out(make_app):
    app = make_app()
    app.sign_in()
    window = app.window
    app.qtbot.waitUntil(window.scan_edit.hasFocus, timeout=WAIT_MS)
    assert window.sign_out_button.focusPolicy() == Qt.FocusPolicy.NoFocus
    app.qtbot.keyClick(window.scan_edit, Qt.Key.Key_Space)
    assert window.stack.currentWidget() is window.work
    assert window.line.operator == "OP1"


def test_sign_out_asks_first_and_no_is_the_default(make_app):
    app = make_app()
    app.sign_in()
    window = app.window
    app.click(window.sign_out_button)
    box = window.sign_out_box
    assert box is not None and box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    app.qtbot.keyClick(box, Qt.Key.Key_Return)
    app.qtbot.waitUntil(lambda: window.sign_out_box is None, timeout=WAIT_MS)
    assert window.line.operator == "OP1", "Enter on the question keeps the operator signed in"


def test_f5_retries_the_failed_board(make_app, boards):
    app = make_app()
    app.sign_in()
    (bad,) = boards(1, faults={0: ["wrong-cn"]})
    app.ports.plug(bad.port)
    app.wait_state(bad.port, SlotState.FAIL)
    assert "F5" in app.window.tiles[bad.port].retry_button.toolTip()

    app.qtbot.keyClick(app.window.scan_edit, Qt.Key.Key_F5)
    app.qtbot.waitUntil(lambda: len(app.records.attempts(serial=bad.serial)) == 2, timeout=WAIT_MS)
    app.qtbot.waitUntil(lambda: app.window.line.running() == 0, timeout=WAIT_MS)


def test_f8_opens_the_supervisor_approval_of_a_refused_board(make_app, boards):
    app = make_app()
    app.sign_in()
    (first,) = boards(1)
    app.ports.plug(first.port)
    app.wait_state(first.port, SlotState.PASS)
    app.ports.unplug(first.port)
    again = SimulatedBoard(first.serial).start()
    try:
        app.ports.plug(again.port)
        tile = app.wait_state(again.port, SlotState.FAIL)
        app.qtbot.waitUntil(tile.override_button.isVisible, timeout=WAIT_MS)
        app.qtbot.keyClick(app.window.scan_edit, Qt.Key.Key_F8)
        app.qtbot.waitUntil(lambda: app.window.supervisor_dialog is not None, timeout=WAIT_MS)
        app.window.supervisor_dialog.reject()
    finally:
        again.stop()


def test_a_badge_scanned_while_someone_is_signed_in_says_sign_out_first(make_app, make_station):
    station = make_station()
    station.records.add_user("SUP9", "supervisor", "9999", actor="tester")
    app = make_app(station)
    app.sign_in("OP1")
    window = app.window
    app.qtbot.waitUntil(lambda: "SUP9" in window._badges, timeout=WAIT_MS)
    app.type_into(window.scan_edit, "SUP9")
    assert "sign out first" in window.scan_message.text()
    assert window.line.operator == "OP1"
    assert window.scan_edit.hasFocus()


def test_quitting_with_boards_running_defaults_to_no(make_app, boards):
    app = make_app()
    app.sign_in()
    (slow,) = boards(1, keygen_ms=4000)
    app.ports.plug(slow.port)
    app.wait_state(slow.port, SlotState.RUNNING)
    window = app.window
    seen: list[bool] = []

    def answer_with_enter() -> None:
        box = window.quit_box
        if box is None:
            QTimer.singleShot(50, answer_with_enter)
            return
        seen.append(box.defaultButton() is box.button(QMessageBox.StandardButton.No))
        app.qtbot.keyClick(box, Qt.Key.Key_Return)

    QTimer.singleShot(50, answer_with_enter)
    window.close()
    assert seen == [True]
    assert window.isVisible() and window.line.running() == 1, "Enter kept the line running"
    window.shutdown(timeout=5)  # before pytest-qt closes the window (it would ask again)


def test_a_station_with_no_ports_says_so_and_how_to_fix_it(make_app, make_station):
    station = make_station()
    note = ports_problem(station.config)
    assert note, "station demo leaves ports = empty"
    app = make_app(station, ports_note=note)
    app.sign_in()
    empty = app.window.grid.empty_label
    assert empty.isVisible()
    assert "No ports are configured" in empty.text() and "ports = auto" in empty.text()
    assert str(station.config.path) in empty.text()


def test_a_board_outside_every_named_slot_is_not_provisioned_and_the_line_says_so(make_app, boards):
    (stray,) = boards(1)
    info = ListPortInfo(stray.port, skip_link_detection=True)
    info.location, info.vid, info.pid = "1-1.4:1.0", 0x1915, 0x520F
    app = make_app(ports=NamedSlots([("A1", "1-1.2")], comports=lambda: [info]), fixed_ports=("A1",))
    app.sign_in()
    bar = app.window.stray_bar
    app.qtbot.waitUntil(bar.isVisible, timeout=WAIT_MS)
    assert "1-1.4:1.0" in bar.text() and "NOT provisioned" in bar.text() and "[slots]" in bar.text()
    assert app.records.attempts() == []


def test_the_sign_in_page_shows_boards_already_waiting(make_app, boards):
    app = make_app()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    waiting = app.window.sign_in.waiting
    app.qtbot.waitUntil(waiting.isVisible, timeout=WAIT_MS)
    assert waiting.text() == "1 board is plugged in and waiting: sign in to start."
    app.sign_in()
    app.wait_state(sim.port, SlotState.PASS)


def test_step_n_of_9_and_its_bar_agree(qtbot):
    tile = SlotTile("A1")
    qtbot.addWidget(tile)
    tile.set_slot(Slot("A1", state=SlotState.RUNNING, present=True, step="generate_csr", step_index=5, started_at=0.0), True)
    assert tile.step_label.text().startswith("Step 6 of 9")
    assert (tile.progress.value(), tile.progress.maximum()) == (6, 9)


def test_a_long_hint_on_a_small_tile_keeps_its_first_line_in_view(qtbot):
    tile = SlotTile("A3")
    qtbot.addWidget(tile)
    tile.resize(170, 200)
    hint = "The board put a different serial in its certificate request than it reported. " * 3
    tile.set_slot(Slot("A3", state=SlotState.FAIL, present=True, step="check_csr", step_index=6, started_at=0.0,
                       code="CSR_CN_MISMATCH", hint=hint), True)
    tile.show()
    qtbot.waitExposed(tile)

    assert tile.hint_label.alignment() & Qt.AlignmentFlag.AlignTop  # cut at the bottom, never the top
    assert tile.hint_label.toolTip() == hint
    assert tile.hint_label.geometry().top() >= tile.step_label.geometry().bottom()


def test_a_fast_fail_shows_its_real_elapsed_time(make_app):
    app = make_app()
    app.sign_in()
    app.ports.plug("/dev/no-such-board-here")
    tile = app.wait_state("/dev/no-such-board-here", SlotState.FAIL)
    real = tile.slot.finished_at - tile.slot.started_at
    assert real < 1.0
    assert tile.elapsed_label.text() == format_elapsed(real)
    assert tile.elapsed_label.text() != "0.0 s"


def test_format_elapsed_keeps_what_a_fast_fail_took():
    assert format_elapsed(0.043) == "0.04 s"
    assert format_elapsed(12.34) == "12.3 s"
    assert format_elapsed(125) == "2:05"


def _attempts(path, rows) -> None:
    """Attempts as the pipeline leaves them: (serial, result), oldest first."""
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO attempts (serial, batch, port, station_id, operator, driver, result, started_at, finished_at) "
            "VALUES (?, 'B1', 'p', 'S', 'op', 'agent', ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z')",
            rows,
        )


def test_first_pass_yield_counts_boards_not_attempts(make_station):
    station = make_station()
    # board A: no serial on its first try (a label mismatch), then A passes; board B passes
    _attempts(station.records.path, [(None, "fail"), ("A", "fail"), ("A", "pass"), ("B", "pass")])
    summary = summarize(station.records, "B1")
    assert (summary.boards_tried, summary.first_pass) == (2, 1)
    assert summary.first_pass_yield == 0.5
    assert (summary.passes, summary.fails) == (2, 2)


def test_batch_counters_stay_right_past_100k_attempts(make_station):
    station = make_station()
    rows = [(f"S{n:06d}", "fail" if n % 10 == 0 else "pass") for n in range(100_000)]
    rows += [(f"S{n:06d}", "pass") for n in range(0, 100_000, 10)]  # every failed board retried
    rows += [(None, "fail")] * 500 + [("S000001", "aborted")]
    _attempts(station.records.path, rows)
    summary = summarize(station.records, "B1")
    assert (summary.passes, summary.fails, summary.aborted) == (100_000, 10_500, 1)
    assert (summary.boards_tried, summary.first_pass) == (100_000, 90_000)
    assert summary.failures_by_code["UNKNOWN"] == 10_501


def test_a_wave_of_sixteen_tile_changes_is_drawn_in_slices_and_every_tile_ends_on_its_newest_state(
    make_app, monkeypatch
):
    """Issue 19: drawing 16 changed tiles in one turn of the event loop held it for up to 40 ms;
    each turn now stops after RENDER_BUDGET_S and the rest follow on the next turn."""
    from gui import main_window

    app, _slots = sixteen_slots(make_app, 1366, 768)
    window = app.window
    monkeypatch.setattr(main_window, "RENDER_BUDGET_S", 0.0)  # one tile per turn
    for port in SIXTEEN:
        window._slot_changed(Slot(port, SlotState.RUNNING, present=True, serial=f"SN-{port}", step="read_serial"))
    window._render_slots()
    drawn = [port for port in SIXTEEN if window.tiles[port].slot.state == SlotState.RUNNING]
    assert len(drawn) == 1, "one turn drew more than its budget allows"
    assert window._render_timer.isActive() and window._render_timer.interval() == 0, "the rest is not next"

    late = SIXTEEN[-1]
    window._slot_changed(Slot(late, SlotState.PASS, present=True, serial=f"SN-{late}"))
    app.qtbot.waitUntil(lambda: not window._pending_slots, timeout=WAIT_MS)
    assert all(window.tiles[port].slot.serial == f"SN-{port}" for port in SIXTEEN)
    assert window.tiles[late].slot.state == SlotState.PASS, "an older state was drawn over the newest"
    assert window.tiles[late].word_label.text() == "PASS"
    window._slot_changed(Slot(SIXTEEN[0], SlotState.WAITING, present=False))
    assert window._render_timer.interval() == main_window.RENDER_MS, "a new change waits the usual RENDER_MS again"
