"""``station label print SERIAL``: a supervisor's reprint, audited; ``station label status``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from labels_support import SAMPLE

from station.cli import main as station_main
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner


@pytest.fixture
def passed_serial(station, boards) -> str:
    (sim,) = boards(1)
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    [result] = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([sim.port])
    assert result.passed
    station.records.add_user("SUP", "supervisor", "2468", actor="admin")
    return result.serial


def _with_printer(station, printer) -> None:
    folder = station.config.folder
    (folder / "label.ini").write_text(SAMPLE.read_text())
    (folder / "labels.ini").write_text(f"[labels]\nprinter = {printer.uri}\ntemplate = label.ini\nconnect_seconds = 0.5\n")


def _run(station, *args: str, pin: str = "2468"):
    return CliRunner().invoke(station_main, ["--config", str(station.config.path), "label", *args], input=f"{pin}\n")


def test_a_supervisor_reprints_a_label_and_it_is_audited(station, printer, passed_serial):
    _with_printer(station, printer)
    result = _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin")
    assert result.exit_code == 0, result.output
    assert f"label for {passed_serial} sent to {printer.uri}" in result.output
    [job] = printer.printed()
    assert job.job_id.startswith("reprint-") and passed_serial in job.job_id
    entries = [e for e in station.records.audit_entries(subject=passed_serial) if e.action == "label.reprint"]
    assert [(e.actor, e.details["job_id"]) for e in entries] == [("SUP", job.job_id)]


def test_a_wrong_pin_prints_nothing(station, printer, passed_serial):
    _with_printer(station, printer)
    result = _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin", pin="0000")
    assert result.exit_code == 3 and "SUPERVISOR_PIN_WRONG" in result.output
    assert printer.jobs == []


def test_a_reprint_to_an_offline_printer_says_so_and_exits_3(station, printer, passed_serial):
    _with_printer(station, printer)
    printer.set_offline()
    result = _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin")
    assert result.exit_code == 3 and "PRINTER_OFFLINE" in result.output
    assert "switch the label printer on" in result.output.lower()


def test_an_unknown_serial_or_no_labels_ini_is_a_clear_error(station, printer, passed_serial):
    assert "LABELS_NOT_CONFIGURED" in _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin").output
    _with_printer(station, printer)
    result = _run(station, "print", "NOPE0001", "--by", "SUP", "--pin-stdin")
    assert result.exit_code == 3 and "SERIAL_UNKNOWN" in result.output


def test_label_status_shows_the_printer_and_the_waiting_labels(station, printer):
    _with_printer(station, printer)
    result = _run(station, "status", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["status"]["state"] == "ready" and answer["pending"] == []


def test_station_show_lists_the_labels_of_a_serial(station, printer, passed_serial):
    _with_printer(station, printer)
    assert _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin").exit_code == 0
    shown = CliRunner().invoke(station_main, ["--config", str(station.config.path), "show", passed_serial, "--json"])
    assert shown.exit_code == 0, shown.output
    [entry] = json.loads(shown.output)["labels"]
    assert (entry["kind"], entry["requested_by"], entry["state"]) == ("reprint", "SUP", "printed")


def test_station_trace_lists_the_labels_of_a_serial(station, printer, passed_serial):
    _with_printer(station, printer)
    assert _run(station, "print", passed_serial, "--by", "SUP", "--pin-stdin").exit_code == 0
    config = ["--config", str(station.config.path)]
    traced = CliRunner().invoke(station_main, [*config, "trace", passed_serial, "--json"])
    assert traced.exit_code == 0, traced.output
    [entry] = json.loads(traced.output)["labels"]
    assert (entry["kind"], entry["requested_by"], entry["state"]) == ("reprint", "SUP", "printed")
    text = CliRunner().invoke(station_main, [*config, "trace", passed_serial]).output
    assert "labels (1):" in text and "reprint  by SUP  printed" in text
