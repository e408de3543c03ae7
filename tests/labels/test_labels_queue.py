"""The print queue: the line never waits for the printer, and every label prints exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from station.labels.errors import LabelError
from station.labels.printers import TcpPrinter
from station.labels.queue import JobOutcome, JsonFileStore, MemoryStore, PrintQueue, label_job
from station.labels.template import LabelData


class Outcomes:
    """The listener the runner would be: remembers every outcome, lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[JobOutcome] = []
        self._cond = threading.Condition()

    def __call__(self, outcome: JobOutcome) -> None:
        with self._cond:
            self.items.append(outcome)
            self._cond.notify_all()

    def wait(self, state: str, job_id: str, timeout: float = 5.0) -> JobOutcome:
        with self._cond:
            assert self._cond.wait_for(lambda: self._find(state, job_id), timeout), (state, job_id, self.items)
            return self._find(state, job_id)

    def _find(self, state: str, job_id: str) -> JobOutcome | None:
        return next((o for o in self.items if o.state == state and o.job_id == job_id), None)


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


def _queue(printer, outcomes, store=None) -> PrintQueue:
    transport = TcpPrinter("127.0.0.1", printer.port, connect_seconds=0.5, io_seconds=3)
    return PrintQueue(transport, store=store, listener=outcomes, backoff_first=0.05, backoff_max=0.2)


@pytest.fixture
def queue(printer, outcomes) -> Iterator[PrintQueue]:
    started = _queue(printer, outcomes).start()
    yield started
    started.stop()


def _jobs(template, count: int, start: int = 1):
    return [label_job(template, LabelData(serial=f"SIM{n:06d}")) for n in range(start, start + count)]


def test_a_submitted_label_prints_once_and_reports_its_latency(queue, printer, outcomes, template, unit):
    job = label_job(template, unit)
    assert queue.submit(job)
    printed = outcomes.wait("printed", job.job_id)
    assert printed.latency_seconds is not None and printed.latency_seconds < 2
    assert printer.printed_ids() == [job.job_id]
    assert queue.wait_idle(2) and queue.pending() == []


def test_an_offline_printer_queues_then_prints_every_label_exactly_once_when_back(queue, printer, outcomes, template):
    printer.set_offline()
    jobs = _jobs(template, 3)
    for job in jobs:
        queue.submit(job)
    for job in jobs:
        queued = outcomes.wait("queued", job.job_id)
        assert queued.code == "PRINTER_OFFLINE" and queued.hint
    assert len(queue.pending()) == 3
    assert queue.status().printer.state == "offline"
    time.sleep(0.3)  # several retries while it is off
    printer.set_offline(False)
    assert queue.wait_idle(5)
    assert printer.printed_ids() == [job.job_id for job in jobs]
    assert queue.status().printer.state == "ready"


def test_a_dropped_job_is_retried_and_prints_once(queue, printer, outcomes, template, unit):
    printer.drop_next()
    job = label_job(template, unit)
    queue.submit(job)
    outcomes.wait("printed", job.job_id)
    assert [j.outcome for j in printer.jobs] == ["dropped", "printed"]
    assert printer.printed_ids() == [job.job_id]
    assert outcomes.wait("printed", job.job_id).attempts == 2


def test_paper_out_queues_with_its_own_code_until_labels_are_loaded(queue, printer, outcomes, template, unit):
    printer.set_paper_out()
    job = label_job(template, unit)
    queue.submit(job)
    assert outcomes.wait("queued", job.job_id).code == "PRINTER_PAPER_OUT"
    printer.set_paper_out(False)
    queue.retry_now()
    outcomes.wait("printed", job.job_id)
    assert printer.printed_ids() == [job.job_id]


def test_the_same_job_submitted_twice_prints_once(queue, printer, template, unit):
    job = label_job(template, unit)
    assert queue.submit(job)
    assert not queue.submit(job)
    assert queue.wait_idle(3)
    assert not queue.submit(job)
    time.sleep(0.1)
    assert printer.printed_ids() == [job.job_id]


def test_submit_returns_at_once_while_a_slow_printer_works(queue, printer, template):
    printer.set_slow(0.5)
    jobs = _jobs(template, 4)
    started = time.monotonic()
    for job in jobs:
        queue.submit(job)
    assert time.monotonic() - started < 0.1
    assert queue.wait_idle(10)
    assert printer.printed_ids() == [job.job_id for job in jobs]


def test_labels_not_printed_survive_a_restart_and_print_once(tmp_path, printer, outcomes, template):
    store = JsonFileStore(tmp_path / "label-queue.json")
    printer.set_offline()
    first = _queue(printer, outcomes, store).start()
    jobs = _jobs(template, 2)
    for job in jobs:
        first.submit(job)
    outcomes.wait("queued", jobs[-1].job_id)
    first.stop()
    assert [job.job_id for job in store.load()] == [job.job_id for job in jobs]

    printer.set_offline(False)
    second = _queue(printer, outcomes, JsonFileStore(tmp_path / "label-queue.json")).start()
    try:
        assert second.wait_idle(5)
    finally:
        second.stop()
    assert printer.printed_ids() == [job.job_id for job in jobs]
    assert store.load() == []


def test_an_unreadable_queue_file_is_a_typed_error(tmp_path):
    path = tmp_path / "label-queue.json"
    path.write_text("{not json")
    with pytest.raises(LabelError) as caught:
        JsonFileStore(path).load()
    assert caught.value.code == "LABEL_QUEUE_UNREADABLE" and "station label print" in caught.value.hint


def test_a_failing_listener_does_not_stop_the_printing(printer, template):
    calls = []

    def broken(outcome: JobOutcome) -> None:
        calls.append(outcome)
        raise RuntimeError("listener bug")

    queue = PrintQueue(TcpPrinter("127.0.0.1", printer.port), store=MemoryStore(), listener=broken).start()
    try:
        jobs = _jobs(template, 2)
        for job in jobs:
            queue.submit(job)
        assert queue.wait_idle(5)
    finally:
        queue.stop()
    assert printer.printed_ids() == [job.job_id for job in jobs] and len(calls) == 2


def test_a_queue_can_be_started_twice_and_restarted_after_stop(printer, template):
    queue = PrintQueue(TcpPrinter("127.0.0.1", printer.port), store=MemoryStore())
    queue.start().start()
    queue.stop()
    queue.start()
    try:
        job = label_job(template, LabelData(serial="SIM000001"))
        queue.submit(job)
        assert queue.wait_idle(5)
    finally:
        queue.stop()
    assert printer.printed_ids() == [job.job_id]
