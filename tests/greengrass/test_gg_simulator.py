"""The simulated gateway itself: what `station sim --driver greengrass` starts."""

from __future__ import annotations

import pytest
from gg_helpers import PASSWORD, make_settings, needs_namespaces

from flashing.greengrass import GreengrassBoard
from flashing.sim import FaultSpecError, check_fault, start_simulated
from flashing.sim.greengrass_board import SimulatedGateway


def test_unknown_gateway_faults_are_refused_with_the_known_ones() -> None:
    check_fault("greengrass", "disk-full")
    with pytest.raises(FaultSpecError, match="known gateway faults: .*read-only-fs"):
        check_fault("greengrass", "melt@keygen")


@needs_namespaces
def test_a_gateway_cannot_keep_a_system_folder_for_itself() -> None:
    settings = make_settings(config_path="/etc/greengrass/config.yaml", marker_path="/etc/station-provisioned")
    with pytest.raises(ValueError, match="system folder"):
        SimulatedGateway("GW000401", settings)


@needs_namespaces
def test_start_simulated_starts_gateways_with_unique_serials_on_ptys() -> None:
    settings = make_settings(login_seconds="8")
    gateways = start_simulated("greengrass", 2, greengrass=settings, password=PASSWORD, first_number=7)
    try:
        assert [g.serial for g in gateways] == ["GW000007", "GW000008"]
        board = GreengrassBoard.open(gateways[1].port, settings, password=lambda: PASSWORD)
        try:
            board.identify()
            assert board.read_serial() == "GW000008"
        finally:
            board.close()
    finally:
        for gateway in gateways:
            gateway.stop()


def test_gateways_need_the_greengrass_settings_and_a_pty() -> None:
    with pytest.raises(ValueError, match=r"\[greengrass\] settings"):
        start_simulated("greengrass", 1)
    with pytest.raises(ValueError, match="pseudo-terminals only"):
        start_simulated("greengrass", 1, greengrass=make_settings(), transport="tcp")
