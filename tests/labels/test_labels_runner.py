"""Labels on the line: a PASS prints exactly one label after the unit is recorded, a FAIL
none, and a printer that is off turns the slot amber without losing the PASS."""

from __future__ import annotations

import time

import pytest
from labels_support import SAMPLE

from station.labels.queue import MemoryStore
from station.labels.service import LabelService, RecordsHistory
from station.labels.settings import load_label_settings
from station.labels.zpl import parse_zpl
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner, SlotState


@pytest.fixture
def labels(station, printer):
    settings = load_label_settings({"printer": printer.uri, "template": str(SAMPLE), "connect_seconds": "0.5",
                                    "reject_tag": "no"}, station.config.folder)
    service = LabelService(settings, station.config.station_id, history=RecordsHistory(station.records),
                           store=MemoryStore())
    service.queue.backoff_first, service.queue.backoff_max = 0.05, 0.2
    yield service
    service.stop()


def make_runner(station, labels) -> LineRunner:
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    return LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester", poll_interval=0.05, labels=labels)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_a_pass_prints_exactly_one_label_with_the_serial_in_text_and_code(station, boards, printer, labels):
    (sim,) = boards(1)
    runner = make_runner(station, labels)
    [result] = runner.run_once([sim.port])
    assert result.passed
    assert labels.flush(5)
    [job] = printer.printed()
    label = parse_zpl(job.data)
    assert result.serial in label.texts()
    assert [c.data for c in label.codes()] == [result.serial]
    assert [(r.kind, r.state) for r in station.records.labels(result.serial)] == [("label", "printed")]
    wait_for(lambda: runner.slots()[0].label == "printed")


def test_a_fail_prints_no_label(station, boards, printer, labels):
    (sim,) = boards(1, faults={0: ["wrong-cn"]})
    [result] = make_runner(station, labels).run_once([sim.port])
    assert not result.passed
    assert labels.flush(2)
    assert printer.jobs == []


def test_an_offline_printer_turns_the_pass_amber_then_prints_once_when_back(station, boards, printer, labels):
    printer.set_offline()
    (sim,) = boards(1)
    runner = make_runner(station, labels)
    [result] = runner.run_once([sim.port])
    assert result.passed and station.records.get_unit(result.serial) is not None
    wait_for(lambda: runner.slots()[0].label == "queued")
    slot = runner.slots()[0]
    assert slot.state == SlotState.PASS and slot.label_code == "PRINTER_OFFLINE"
    printer.set_offline(False)
    wait_for(lambda: runner.slots()[0].label == "printed")
    assert len(printer.printed()) == 1


def test_a_slow_printer_does_not_slow_the_line(station, boards, printer, labels):
    sims = boards(2)
    runner = make_runner(station, labels)
    started = time.monotonic()
    runner.run_once([s.port for s in sims])
    fast = time.monotonic() - started
    printer.set_slow(2.0)
    sims = boards(2)
    started = time.monotonic()
    results = runner.run_once([s.port for s in sims])
    assert all(r.passed for r in results)
    assert time.monotonic() - started < fast + 1.5, "the line waited for the printer"
