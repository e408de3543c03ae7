"""The line runner: many boards at once, hot-plug, and events (issue: the line runner)."""

from __future__ import annotations

import threading
import time

import pytest

from station.provisioning.events import AttemptFinished, EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import (
    LineRunner,
    PortAppeared,
    PortDisappeared,
    SlotChanged,
    SlotState,
)


def make_runner(station, ports=None, **kwargs) -> LineRunner:
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    return LineRunner(provisioner, ports or ManualPorts(), batch="B1", operator="tester", poll_interval=0.05, **kwargs)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_eight_boards_in_parallel_two_faulty_give_six_pass_and_two_fail(station, boards):
    sims = boards(8, faults={2: ["wrong-cn"], 5: ["storage-full"]})
    runner = make_runner(station)

    results = runner.run_once([b.port for b in sims])

    assert [r.passed for r in results] == [True, True, False, True, True, False, True, True]
    assert results[2].code == "CSR_CN_MISMATCH"
    assert results[5].code == "BOARD_STORAGE_FULL"
    attempts = station.records.attempts()
    assert len(attempts) == 8
    assert sorted(a.serial for a in attempts) == sorted(b.serial for b in sims)
    assert station.records.count_units(status="allowed") == 6


def test_boards_really_run_at_the_same_time(station, boards):
    sims = boards(4, keygen_ms=600)
    runner = make_runner(station)

    started = time.monotonic()
    results = runner.run_once([b.port for b in sims])
    elapsed = time.monotonic() - started

    assert all(r.passed for r in results)
    assert elapsed < 4 * 0.6, f"4 boards with 0.6 s keygen each took {elapsed:.2f} s: not parallel"


def test_a_hanging_board_does_not_stall_the_other_slots(station, boards):
    hanging, healthy = boards(2, faults={0: ["stall@keygen"]})
    runner = make_runner(station)
    finished: dict[str, float] = {}
    runner.bus.subscribe(lambda e: finished.setdefault(e.port, time.monotonic()) if isinstance(e, AttemptFinished) else None)

    results = runner.run_once([hanging.port, healthy.port])

    assert results[1].passed
    assert results[0].code == "BOARD_TIMEOUT"
    assert finished[healthy.port] < finished[hanging.port]


def test_a_board_plugged_in_is_provisioned_once_by_itself(station, boards):
    ports = ManualPorts()
    runner = make_runner(station, ports).start()
    try:
        (sim,) = boards(1)
        ports.plug(sim.port)
        wait_for(lambda: any(s.state == SlotState.PASS for s in runner.slots()))
        time.sleep(0.3)  # several more polls: the board must not be provisioned again
        assert len(station.records.attempts(serial=sim.serial)) == 1
    finally:
        runner.stop()


def test_hot_plug_new_boards_are_provisioned_and_a_vanished_one_fails_disconnected(station, boards):
    ports = ManualPorts()
    events: list[object] = []
    runner = make_runner(station, ports)
    runner.bus.subscribe(events.append)
    runner.start()
    try:
        first, slow = boards(2, keygen_ms=0)
        slow_board = boards(1, keygen_ms=3000)[0]
        for sim in (first, slow, slow_board):
            ports.plug(sim.port)
        wait_for(lambda: any(s.port == slow_board.port and s.step == "generate_csr" for s in runner.slots()))
        slow_board.unplug()
        ports.unplug(slow_board.port)
        wait_for(lambda: runner.running() == 0 and len(runner.results) == 3)
        wait_for(lambda: slow_board.port in [e.port for e in events if isinstance(e, PortDisappeared)])
        late = boards(1)[0]  # the system may hand it the pty path the vanished board had: a re-plug
        ports.plug(late.port)
        wait_for(lambda: len(runner.results) == 4)
    finally:
        runner.stop()

    by_serial = {r.serial: r for r in runner.results}
    assert by_serial[slow_board.serial].code == "BOARD_DISCONNECTED"
    assert all(by_serial[b.serial].passed for b in (first, slow, late))
    assert sorted(a.serial for a in station.records.attempts()) == sorted(b.serial for b in (first, slow, slow_board, late))
    assert late.port in [e.port for e in events if isinstance(e, PortAppeared)]


def test_a_slot_resets_to_waiting_when_its_board_is_taken_away(station, boards):
    ports = ManualPorts()
    runner = make_runner(station, ports).start()
    try:
        (sim,) = boards(1)
        ports.plug(sim.port)
        wait_for(lambda: runner.slots() and runner.slots()[0].state == SlotState.PASS)
        ports.unplug(sim.port)
        wait_for(lambda: runner.slots()[0].state == SlotState.WAITING)
        assert runner.slots()[0].serial is None
    finally:
        runner.stop()


def test_retry_runs_the_board_on_a_slot_again(station, boards):
    ports = ManualPorts()
    runner = make_runner(station, ports).start()
    try:
        (sim,) = boards(1, faults={0: ["refuse@commit"]})
        ports.plug(sim.port)
        wait_for(lambda: runner.slots() and runner.slots()[0].state == SlotState.FAIL)
        assert runner.retry(sim.port)
        wait_for(lambda: len(runner.results) == 2)
    finally:
        runner.stop()
    assert len(station.records.attempts(serial=sim.serial)) == 2


def test_slot_events_report_every_step_in_order(station, boards):
    (sim,) = boards(1)
    runner = make_runner(station)
    seen: list[tuple[str, int]] = []
    runner.bus.subscribe(
        lambda e: seen.append((e.slot.step, e.slot.step_index))
        if isinstance(e, SlotChanged) and e.slot.state == SlotState.RUNNING and e.slot.step else None
    )
    runner.run_once([sim.port])
    indexes = [index for _, index in dict.fromkeys(seen)]
    assert indexes == sorted(indexes)
    assert [step for step, _ in dict.fromkeys(seen)][-1] == "record"


def test_stopping_with_a_board_still_running_marks_its_attempt_aborted(station, boards):
    ports = ManualPorts()
    runner = make_runner(station, ports).start()
    (sim,) = boards(1, keygen_ms=10_000)
    ports.plug(sim.port)
    wait_for(lambda: runner.slots() and runner.slots()[0].step == "generate_csr")

    aborted = runner.stop(timeout=0.5)

    assert aborted == 1
    (attempt,) = station.records.attempts()
    assert attempt.result == "aborted"
    assert station.records.get_unit(sim.serial) is None


def test_a_subscriber_that_raises_does_not_disturb_the_run(station, boards):
    (sim,) = boards(1)
    runner = make_runner(station)

    def broken(event: object) -> None:
        raise RuntimeError("watcher bug")

    runner.bus.subscribe(broken)
    (result,) = runner.run_once([sim.port])
    assert result.passed


@pytest.mark.timeout(60)
def test_database_writes_from_many_slots_stay_consistent(station, boards):
    sims = boards(8)
    runner = make_runner(station)
    threads = [threading.Thread(target=runner.run_once, args=([b.port],)) for b in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(station.records.attempts()) == 8
    assert station.records.verify_audit().ok


def test_a_supervisor_override_passed_to_retry_applies_to_that_run_only(station, boards):
    from station.provisioning.pipeline import ReprovisionOverride

    ports = ManualPorts()
    runner = make_runner(station, ports).start()
    try:
        (sim,) = boards(1)
        ports.plug(sim.port)
        wait_for(lambda: runner.slots() and runner.slots()[0].state == SlotState.PASS)
        assert runner.retry(sim.port)
        wait_for(lambda: len(runner.results) == 2)
        assert runner.results[-1].code == "SERIAL_ALREADY_PROVISIONED"
        assert runner.retry(sim.port, override=ReprovisionOverride("SUP1", "rework"))
        wait_for(lambda: len(runner.results) == 3)
    finally:
        runner.stop()
    assert runner.results[-1].passed
    assert station.records.attempts(serial=sim.serial)[0].reprovision_by == "SUP1"


def test_queued_labels_are_counted_until_a_board_takes_one(station):
    runner = make_runner(station)
    runner.queue_label("SIM000001")
    runner.queue_label("SIM000002")
    assert runner.queued_labels() == 2
