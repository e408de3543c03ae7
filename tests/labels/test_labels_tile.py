"""The slot tile of a PASS whose label did not print: amber, still PASS, and says why."""

from __future__ import annotations

from gui.slot_tile import SlotTile
from station.provisioning.runner import Slot, SlotState


def _tile(qtbot, **slot) -> SlotTile:
    tile = SlotTile("A1")
    qtbot.addWidget(tile)
    tile.set_slot(Slot("A1", state=SlotState.PASS, present=True, serial="SIM000042", **slot), armed=True)
    return tile


def test_a_pass_whose_label_is_queued_is_amber_and_says_the_printer_is_offline(qtbot):
    tile = _tile(qtbot, label="queued", label_code="PRINTER_OFFLINE", label_hint="Switch the label printer on.")
    assert tile.property("look") == "label"
    assert tile.word_label.text() == "PASS"
    assert tile.step_label.text() == "PASS — label not printed: printer offline"
    assert tile.hint_label.text() == "Switch the label printer on."


def test_a_pass_whose_label_printed_looks_like_any_pass(qtbot):
    tile = _tile(qtbot, label="printed")
    assert tile.property("look") == "pass"
    assert tile.step_label.text() == "Take the board away"


def test_paper_out_has_its_own_words(qtbot):
    tile = _tile(qtbot, label="queued", label_code="PRINTER_PAPER_OUT")
    assert tile.step_label.text() == "PASS — label not printed: printer out of labels"
