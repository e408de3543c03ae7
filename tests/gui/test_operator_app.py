"""The operator app driven like an operator: sign in, batch, boards to PASS and FAIL,
retry, unplug, a supervisor's override with PIN, and the sync status (issue: the operator app)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from flashing.sim import SimulatedBoard
from station.provisioning.runner import SlotState

WAIT_MS = 20_000


def test_an_operator_signs_in_with_an_id_and_the_one_open_batch_is_taken(make_app):
    app = make_app()
    window = app.window
    assert window.stack.currentWidget() is window.sign_in
    app.qtbot.waitUntil(window.sign_in.id_edit.hasFocus, timeout=WAIT_MS)  # the badge scan lands here

    app.sign_in("OP-7")

    assert window.line.operator == "OP-7"
    assert window.role == "operator"
    assert window.line.batch == "B1"
    assert window.batch_panel.batch_label.text() == "Batch B1"
    assert window.batch_panel.done_label.text() == "0 / 100"
    assert not window.tabs.isTabVisible(window.qa_index), "operators do not see the QA tab"


def test_an_invalid_id_is_refused(make_app):
    app = make_app()
    app.type_into(app.window.sign_in.id_edit, "  ")
    assert "not a valid ID" in app.window.sign_in.message.text()
    assert app.window.stack.currentWidget() is app.window.sign_in


def test_qa_rights_need_the_pin_and_a_wrong_pin_is_refused(make_app, make_station):
    station = make_station()
    station.records.add_user("QA7", "qa", "4321", actor="tester")
    app = make_app(station)
    page = app.window.sign_in

    app.type_into(page.id_edit, "QA7")
    app.qtbot.waitUntil(page.pin_row.isVisible, timeout=WAIT_MS)
    assert page.pin_edit.hasFocus()
    app.type_into(page.pin_edit, "1111")
    app.qtbot.waitUntil(lambda: "Wrong PIN" in page.message.text(), timeout=WAIT_MS)
    assert app.window.stack.currentWidget() is page

    app.type_into(page.pin_edit, "4321")
    app.qtbot.waitUntil(lambda: app.window.role == "qa", timeout=WAIT_MS)
    assert app.window.tabs.isTabVisible(app.window.qa_index)
    app.qtbot.waitUntil(lambda: app.window.qa_tab.summary is not None, timeout=WAIT_MS)
    assert app.window.qa_tab.summary.batch == "B1"


def test_qa_may_continue_as_operator_without_the_pin(make_app, make_station):
    station = make_station()
    station.records.add_user("SUP9", "supervisor", "9999", actor="tester")
    app = make_app(station)
    app.type_into(app.window.sign_in.id_edit, "SUP9")
    app.qtbot.waitUntil(app.window.sign_in.pin_row.isVisible, timeout=WAIT_MS)
    app.click(app.window.sign_in.as_operator_button)
    app.qtbot.waitUntil(lambda: app.window.role == "operator", timeout=WAIT_MS)


def test_with_no_open_batch_the_operator_opens_one(make_app):
    app = make_app(batch=None)
    app.sign_in("OP1", expect_batch=False)
    app.qtbot.waitUntil(lambda: app.window.batch_dialog is not None, timeout=WAIT_MS)
    dialog = app.window.batch_dialog
    app.type_into(dialog.batch_edit, "B2026-0042")
    dialog.product_edit.setText("ACME-GW-2")
    dialog.quantity_spin.setValue(500)
    dialog.submit()

    app.qtbot.waitUntil(lambda: app.window.summary is not None, timeout=WAIT_MS)
    assert app.window.line.batch == "B2026-0042"
    assert app.records.get_batch("B2026-0042").planned_quantity == 500
    assert app.window.batch_panel.done_label.text() == "0 / 500"


def test_four_boards_go_to_pass_and_fail_tiles_and_the_counters_follow(make_app, boards):
    app = make_app()
    app.sign_in()
    sims = boards(4, faults={1: ["wrong-cn"]})
    for sim in sims:
        app.ports.plug(sim.port)

    tiles = [app.tile(sim.port) for sim in sims]
    app.qtbot.waitUntil(
        lambda: all(t.slot.state in (SlotState.PASS, SlotState.FAIL) for t in tiles), timeout=WAIT_MS
    )
    assert [t.word for t in tiles] == ["PASS", "FAIL", "PASS", "PASS"]
    assert [t.look for t in tiles] == ["pass", "fail", "pass", "pass"]
    good, bad = tiles[0], tiles[1]
    assert good.serial_label.text() == sims[0].serial
    assert good.progress.value() == good.progress.maximum()
    assert "Take the board away" in good.step_label.text()
    assert bad.code_label.text() == "CSR_CN_MISMATCH"
    assert bad.hint_label.text(), "a FAIL shows the operator's hint"
    assert bad.retry_button.isVisible() and not good.retry_button.isVisible()
    assert not bad.override_button.isVisible()

    panel = app.window.batch_panel
    app.qtbot.waitUntil(lambda: panel.pass_label.text() == "3" and panel.fail_label.text() == "1", timeout=WAIT_MS)
    assert panel.done_label.text() == "3 / 100"
    assert panel.fpy_label.text() == "75.0 %"
    assert "3 PASS" in app.window.line_status.text()
    app.window.tabs.setCurrentIndex(1)  # the recent units
    app.qtbot.waitUntil(lambda: app.window.units_model.rowCount() == 3, timeout=WAIT_MS)
    assert {app.window.units_model.unit(i).serial for i in range(3)} == {sims[i].serial for i in (0, 2, 3)}


def test_retry_runs_the_board_again(make_app, boards):
    app = make_app()
    app.sign_in()
    (sim,) = boards(1, faults={0: ["wrong-cn"]})
    app.ports.plug(sim.port)
    tile = app.wait_state(sim.port, SlotState.FAIL)
    first = tile.slot.attempt_id

    app.click(tile.retry_button)

    app.qtbot.waitUntil(lambda: tile.slot.attempt_id not in (None, first), timeout=WAIT_MS)
    app.wait_state(sim.port, SlotState.FAIL)
    assert len(app.records.attempts(serial=sim.serial)) == 2
    app.qtbot.waitUntil(lambda: app.window.batch_panel.fail_label.text() == "2", timeout=WAIT_MS)


def test_a_scanned_label_is_matched_and_a_mismatch_fails_until_retried_with_the_right_label(make_app, boards):
    app = make_app(require_label=True)
    app.sign_in()
    window = app.window
    assert window.label_bar.isVisible()
    app.qtbot.waitUntil(window.label_edit.hasFocus, timeout=WAIT_MS)  # the next scan goes here

    (sim,) = boards(1)
    app.type_into(window.label_edit, "SIM999999")
    assert "1 label(s) waiting" in window.labels_waiting.text()
    app.ports.plug(sim.port)
    tile = app.wait_state(sim.port, SlotState.FAIL)
    assert tile.code_label.text() == "SERIAL_LABEL_MISMATCH"

    app.type_into(window.label_edit, sim.serial)
    app.click(tile.retry_button)
    app.wait_state(sim.port, SlotState.PASS)
    assert app.records.get_unit(sim.serial) is not None
    assert window.label_edit.hasFocus()


def test_a_tile_resets_when_its_board_is_unplugged(make_app, boards):
    app = make_app()
    app.sign_in()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    tile = app.wait_state(sim.port, SlotState.PASS)

    app.ports.unplug(sim.port)

    app.wait_state(sim.port, SlotState.WAITING)
    assert tile.word == "READY"
    assert tile.look == "waiting"
    assert tile.serial_label.text() == ""
    assert not tile.progress.isVisible()


def test_boards_plugged_in_before_sign_in_wait_and_then_start(make_app, boards):
    app = make_app()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    tile = app.tile(sim.port)
    app.qtbot.waitUntil(lambda: tile.slot.present, timeout=WAIT_MS)
    assert tile.word == "BOARD IN" and tile.slot.state == SlotState.WAITING
    assert not app.records.attempts()

    app.sign_in()
    app.wait_state(sim.port, SlotState.PASS)
    assert app.records.attempts()[0].operator == "OP1"


def test_a_supervisor_override_with_pin_reprovisions_a_serial_that_already_passed(make_app, make_station, boards):
    station = make_station()
    station.records.add_user("SUP1", "supervisor", "2468", actor="tester")
    station.records.add_user("QA2", "qa", "1357", actor="tester")
    app = make_app(station)
    app.sign_in()
    window = app.window
    (first,) = boards(1)
    app.ports.plug(first.port)
    app.wait_state(first.port, SlotState.PASS)
    app.ports.unplug(first.port)

    again = SimulatedBoard(first.serial).start()  # the same serial on another board
    try:
        app.ports.plug(again.port)
        tile = app.wait_state(again.port, SlotState.FAIL)
        assert tile.code_label.text() == "SERIAL_ALREADY_PROVISIONED"
        assert tile.override_button.isVisible()

        app.click(tile.override_button)
        app.qtbot.waitUntil(lambda: window.supervisor_dialog is not None, timeout=WAIT_MS)
        dialog = window.supervisor_dialog
        app.qtbot.waitUntil(dialog.name_edit.hasFocus, timeout=WAIT_MS)
        dialog.name_edit.setText("SUP1")
        dialog.reason_edit.setText("label reprinted")
        app.type_into(dialog.pin_edit, "0000")
        app.qtbot.waitUntil(lambda: "Wrong name or PIN" in dialog.message.text(), timeout=WAIT_MS)
        assert dialog.isVisible() and dialog.approved_by is None
        # a QA user with the right PIN is not a supervisor either
        dialog.name_edit.setText("QA2")
        app.type_into(dialog.pin_edit, "1357")
        app.qtbot.waitUntil(lambda: dialog.wrong_tries == 2, timeout=WAIT_MS)
        assert dialog.isVisible()
        assert tile.slot.state == SlotState.FAIL

        dialog.name_edit.setText("SUP1")
        app.type_into(dialog.pin_edit, "2468")
        app.qtbot.waitUntil(lambda: window.supervisor_dialog is None, timeout=WAIT_MS)
        app.wait_state(again.port, SlotState.PASS)
    finally:
        again.stop()

    audit = [e for e in app.records.audit_entries(subject=first.serial) if e.action == "unit.reprovision_override"]
    assert len(audit) == 1
    assert audit[0].actor == "SUP1"
    assert audit[0].details["reason"] == "label reprinted"
    latest = app.records.attempts(serial=first.serial)[0]
    assert latest.result == "pass" and latest.reprovision_by == "SUP1"
    assert app.records.get_unit(first.serial).rev == 2


def test_closing_the_batch_needs_a_supervisor(make_app, make_station):
    station = make_station()
    station.records.add_user("SUP1", "supervisor", "2468", actor="tester")
    app = make_app(station)
    app.sign_in()
    app.click(app.window.batch_panel.close_button)
    app.qtbot.waitUntil(lambda: app.window.supervisor_dialog is not None, timeout=WAIT_MS)
    dialog = app.window.supervisor_dialog
    dialog.name_edit.setText("SUP1")
    app.type_into(dialog.pin_edit, "2468")
    app.qtbot.waitUntil(lambda: app.records.get_batch("B1").closed_at is not None, timeout=WAIT_MS)
    assert app.records.get_batch("B1").closed_by == "SUP1"
    app.qtbot.waitUntil(lambda: app.window.line.batch == "", timeout=WAIT_MS)
    app.qtbot.waitUntil(lambda: app.window.batch_dialog is not None, timeout=WAIT_MS)
    app.window.batch_dialog.reject()


def test_sign_out_returns_to_the_sign_in_page_and_new_boards_wait(make_app, boards):
    app = make_app()
    app.sign_in()
    app.click(app.window.sign_out_button)
    box = app.window.sign_out_box
    assert box is not None, "sign-out asks first"
    app.click(box.button(box.StandardButton.Yes))
    assert app.window.stack.currentWidget() is app.window.sign_in
    app.qtbot.waitUntil(app.window.sign_in.id_edit.hasFocus, timeout=WAIT_MS)
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    tile = app.tile(sim.port)
    app.qtbot.waitUntil(lambda: tile.slot.present, timeout=WAIT_MS)
    assert tile.slot.state == SlotState.WAITING


def test_units_search_filters_by_serial(make_app, boards):
    app = make_app()
    app.sign_in()
    sims = boards(2)
    for sim in sims:
        app.ports.plug(sim.port)
    for sim in sims:
        app.wait_state(sim.port, SlotState.PASS)
    app.window.tabs.setCurrentIndex(1)
    app.qtbot.waitUntil(lambda: app.window.units_model.rowCount() == 2, timeout=WAIT_MS)
    app.qtbot.keyClicks(app.window.units_search, sims[1].serial[-3:])
    app.qtbot.waitUntil(lambda: app.window.units_model.rowCount() == 1, timeout=WAIT_MS)
    assert app.window.units_model.unit(0).serial == sims[1].serial


@pytest.mark.parametrize("role", ["qa"])
def test_the_qa_tab_shows_the_batch_summary_and_failures_by_code(make_app, make_station, boards, role):
    station = make_station()
    station.records.add_user("QA1", role, "1234", actor="tester")
    app = make_app(station)
    app.type_into(app.window.sign_in.id_edit, "QA1")
    app.qtbot.waitUntil(app.window.sign_in.pin_row.isVisible, timeout=WAIT_MS)
    app.type_into(app.window.sign_in.pin_edit, "1234")
    app.qtbot.waitUntil(lambda: app.window.summary is not None, timeout=WAIT_MS)
    sims = boards(3, faults={2: ["storage-full"]})
    for sim in sims:
        app.ports.plug(sim.port)
    for sim in sims:
        app.qtbot.waitUntil(lambda s=sim: app.tile(s.port).slot.state in (SlotState.PASS, SlotState.FAIL), timeout=WAIT_MS)

    qa = app.window.qa_tab
    app.window.tabs.setCurrentWidget(qa)
    qa.reload_batches(select="B1")
    app.qtbot.waitUntil(lambda: qa.summary is not None and qa.summary.fails == 1, timeout=WAIT_MS)
    assert qa.fields["done"].text() == "2 / 100"
    assert qa.fields["fpy"].text() == "66.7 %"
    assert qa.failures_table.item(0, 0).text() == "BOARD_STORAGE_FULL"
    assert qa.failures_table.item(0, 1).text() == "1"
    app.qtbot.waitUntil(lambda: qa.model.rowCount() == 2, timeout=WAIT_MS)
    assert qa.findChild(type(qa.reports_box), "reportExports") is qa.reports_box
    clicked = []
    button = qa.add_report_button("Export CSV", clicked.append)
    app.qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert clicked == ["B1"]
