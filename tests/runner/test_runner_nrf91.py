"""The runner, the records and the reports work unchanged with nRF91 modems (a second board family)."""

from __future__ import annotations

from dataclasses import replace

from flashing.sim import start_nrf91_modems
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner


def test_the_line_runner_provisions_nrf91_modems_in_parallel(station):
    config = replace(station.config, driver="nrf91")
    modems = start_nrf91_modems(3, faults={1: ["wrong-cn"]})
    try:
        provisioner = Provisioner(config, station.records, station.claim(), bus=EventBus())
        runner = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester")
        results = runner.run_once([m.port for m in modems])
    finally:
        for modem in modems:
            modem.stop()

    assert [r.passed for r in results] == [True, False, True]
    assert results[1].code == "CSR_CN_MISMATCH"
    units = {u.serial: u for u in station.records.units(batch="B1")}
    assert set(units) == {modems[0].serial, modems[2].serial}
    assert all(len(u.device_key_sha256) == 64 for u in units.values())
    assert all(a.driver == "nrf91" for a in station.records.attempts())


def test_the_batch_report_counts_nrf91_modems_like_any_board(station):
    import json

    from station.reports.data import build_report
    from station.reports.formats import render

    config = replace(station.config, driver="nrf91")
    modems = start_nrf91_modems(2, faults={1: ["storage-full"]})
    try:
        provisioner = Provisioner(config, station.records, station.claim(), bus=EventBus())
        LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([m.port for m in modems])
    finally:
        for modem in modems:
            modem.stop()

    report = build_report(station.records, "B1")
    assert (report.counts.units_passed, report.counts.units_failed) == (1, 1)
    (failure,) = report.failures
    assert failure.code.startswith("BOARD_CME_") and failure.attempts == 1  # memory full, as the modem says it
    data = json.loads(render(report, "json"))
    assert data["counts"]["units_passed"] == 1
