"""The station's pipeline, line runner and batch report work with gateways like with any board."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from gg_helpers import needs_namespaces

from flashing.greengrass import GreengrassBoard
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner

pytestmark = needs_namespaces


def test_the_line_runner_provisions_gateways_in_parallel_and_reports_them(station, gateways, settings, password):
    from station.reports.data import build_report

    sims = [gateways("GW000301"), gateways("GW000302", faults=("read-only-fs",)), gateways("GW000303")]
    config = replace(station.config, driver="greengrass", serial_pattern=re.compile(r"GW[0-9]{6}"))
    provisioner = Provisioner(
        config, station.records, station.claim(), bus=EventBus(),
        board_opener=lambda _config, port: GreengrassBoard.open(port, settings),
    )
    results = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([g.port for g in sims])

    assert [r.passed for r in results] == [True, False, True], [(r.code, r.detail) for r in results]
    assert results[1].code == "GG_READ_ONLY_FS"
    assert results[1].hint and "read-only" in results[1].hint
    units = {u.serial: u for u in station.records.units(batch="B1")}
    assert set(units) == {"GW000301", "GW000303"}
    report = build_report(station.records, "B1")
    assert (report.counts.units_passed, report.counts.units_failed) == (2, 1)
    assert [f.code for f in report.failures] == ["GG_READ_ONLY_FS"]
    for gateway in (sims[0], sims[2]):
        assert gateway.read_file(settings.marker_path).startswith(f"serial={gateway.serial}\n".encode())


@pytest.mark.slow
def test_soak_four_gateways_at_115200_baud_with_kernel_chatter(station, gateways, settings, password):
    sims = [gateways(f"GW00050{i}", baud=115200, kmsg_seconds=0.2) for i in range(1, 5)]
    config = replace(station.config, driver="greengrass", serial_pattern=re.compile(r"GW[0-9]{6}"))
    provisioner = Provisioner(
        config, station.records, station.claim(), bus=EventBus(),
        board_opener=lambda _config, port: GreengrassBoard.open(port, settings, baudrate=115200),
    )
    results = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([g.port for g in sims])

    assert all(r.passed for r in results), [(r.code, r.detail) for r in results]
    assert sum(g.kernel_messages for g in sims) > 20
