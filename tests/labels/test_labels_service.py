"""LabelService: what the station calls on PASS, FAIL and reprint, with its history hook."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from labels_support import GOOD, write_template

from station.labels.errors import LabelError, PrinterError
from station.labels.queue import JobOutcome, LabelJob, MemoryStore
from station.labels.service import LabelService, short_fingerprint
from station.labels.settings import load_label_settings
from station.labels.zpl import parse_zpl

KEY_SHA = "3f9a01c2b7de" + "0" * 52


class History:
    def __init__(self) -> None:
        self.requested: list[tuple[str, str, str]] = []
        self.outcomes: list[JobOutcome] = []
        self.printed = threading.Event()

    def label_requested(self, job: LabelJob, requested_by: str) -> None:
        self.requested.append((job.serial, job.kind, requested_by))

    def label_outcome(self, outcome: JobOutcome) -> None:
        self.outcomes.append(outcome)


def _service(tmp_path, printer, reject_tag: str = "no", history=None) -> LabelService:
    write_template(tmp_path, GOOD)
    settings = load_label_settings({"printer": printer.uri, "template": "label.ini", "reject_tag": reject_tag,
                                    "connect_seconds": "0.5"}, tmp_path)
    return LabelService(settings, "LINE1-ST01", history=history, store=MemoryStore())


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
def service(tmp_path, printer, history) -> Iterator[LabelService]:
    started = _service(tmp_path, printer, history=history).start()
    yield started
    started.stop()


def test_a_pass_prints_one_label_with_the_serial_in_text_and_code(service, printer, history):
    job = service.print_pass(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, operator="ana")
    assert service.queue.wait_idle(5)
    [printed] = printer.printed()
    label = parse_zpl(printed.data)
    assert printed.job_id == job.job_id
    assert "SIM000042" in label.texts() and label.codes()[0].data == "SIM000042"
    assert history.requested == [("SIM000042", "label", "ana")]
    assert [o.state for o in history.outcomes] == ["printed"]


def test_a_fail_prints_nothing_unless_reject_tags_are_on(tmp_path, service, printer):
    assert service.print_reject(serial="SIM000007", product="GW", reason="CSR_CN_MISMATCH", operator="ana") is None
    assert service.queue.wait_idle(2)
    assert printer.jobs == []

    tagged = _service(tmp_path, printer, reject_tag="yes").start()
    try:
        job = tagged.print_reject(serial="SIM000007", product="GW", reason="CSR_CN_MISMATCH", operator="ana")
        assert tagged.queue.wait_idle(5)
    finally:
        tagged.stop()
    assert printer.printed_ids() == [job.job_id]
    assert parse_zpl(printer.printed()[0].data).texts()[0] == "REJECT"


def test_a_reprint_is_a_new_job_of_kind_reprint_by_the_supervisor(service, printer, history):
    first = service.print_pass(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, operator="ana")
    again = service.reprint(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, supervisor="sam")
    assert service.queue.wait_idle(5)
    assert printer.printed_ids() == [first.job_id, again.job_id]
    assert again.kind == "reprint" and history.requested[-1] == ("SIM000042", "reprint", "sam")


def test_a_reprint_without_a_serial_is_refused(service):
    with pytest.raises(LabelError) as caught:
        service.reprint(serial="", product="GW", batch="B1", device_key_sha256="", supervisor="sam")
    assert caught.value.code == "LABEL_REPRINT_INVALID"


def test_the_label_shows_a_short_fingerprint_of_the_device_key(service):
    layout = service.preview(service.data(serial="S1", product="GW", batch="B1", device_key_sha256=KEY_SHA))
    assert short_fingerprint(KEY_SHA) == "3F9A01C2B7DE"
    assert layout.code.content == "S1"


def test_listeners_hear_a_queued_label_when_the_printer_is_off(service, printer):
    printer.set_offline()
    heard = threading.Event()
    outcomes: list[JobOutcome] = []

    def listen(outcome: JobOutcome) -> None:
        outcomes.append(outcome)
        heard.set()

    service.add_listener(listen)
    service.print_pass(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, operator="ana")
    assert heard.wait(5)
    assert outcomes[0].state == "queued" and outcomes[0].code == "PRINTER_OFFLINE"
    assert service.status().pending == 1


def test_a_reprint_from_the_command_line_prints_at_once_without_the_queue(service, printer, history):
    job = service.reprint_now(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, supervisor="sam")
    assert printer.printed_ids() == [job.job_id]
    assert service.queue.pending() == []
    assert [(o.kind, o.state) for o in history.outcomes] == [("reprint", "printed")]


def test_a_reprint_from_the_command_line_to_an_offline_printer_raises_and_is_recorded(service, printer, history):
    printer.set_offline()
    with pytest.raises(PrinterError) as caught:
        service.reprint_now(serial="SIM000042", product="GW", batch="B1", device_key_sha256=KEY_SHA, supervisor="sam")
    assert caught.value.code == "PRINTER_OFFLINE"
    assert [(o.state, o.code) for o in history.outcomes] == [("queued", "PRINTER_OFFLINE")]
    assert service.queue.pending() == []
