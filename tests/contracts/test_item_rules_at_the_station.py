"""The station refuses, at batch open and at serial read, what the cloud would refuse,
whatever the site's own ``[serial] pattern`` allows."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from integration_harness import ini_set

from station.allowlist_item import ItemRuleError, check_batch, check_serial
from station.cli import main
from station.config import load_config
from station.provisioning.pipeline import Provisioner, ProvisionRequest

PERMISSIVE = r"(?s).*"


@pytest.mark.parametrize("batch", ["Line 1 Nov", "", "B\u00e9", "B" * 129, "B\n1"])
def test_a_batch_the_cloud_would_refuse_is_not_opened(station_folder, batch):
    result = CliRunner().invoke(
        main, ["--config", str(station_folder / "station.ini"), "batch", "open", batch,
               "--product", "GW", "--quantity", "5"])
    assert result.exit_code == 3
    assert "BATCH_INVALID" in result.output
    assert "what to do" in result.output


def test_a_product_with_spaces_is_refused_at_batch_open(station_folder):
    result = CliRunner().invoke(
        main, ["--config", str(station_folder / "station.ini"), "batch", "open", "B-1",
               "--product", "Gateway two", "--quantity", "5"])
    assert result.exit_code == 3 and "PRODUCT_INVALID" in result.output


@pytest.mark.parametrize("serial", ["SN.0001", "", "SN 1", "S\x00N", "S\tN", "S\x7fN", "SN\u00e9",
                                    "A" * 65, "SN1\r\x1b[2KFAKE LOG LINE"])
def test_serials_the_hook_refuses_are_refused_by_the_rule(serial):
    with pytest.raises(ItemRuleError) as caught:
        check_serial(serial)
    assert caught.value.code == "SERIAL_INVALID" and caught.value.hint


def test_the_longest_serial_the_protocol_allows_is_accepted():
    assert check_serial("A" * 64) == "A" * 64
    assert check_batch("B2026-11/line:1#a=[x]") == "B2026-11/line:1#a=[x]"


def test_a_board_whose_serial_the_cloud_refuses_fails_even_with_a_permissive_site_pattern(station, boards):
    ini_set(station.config.path, "serial", "pattern", PERMISSIVE)
    config = load_config(station.config.path)
    sim = boards(1, serial_prefix="SN.")[0]
    provisioner = Provisioner(config, station.records, station.claim())

    result = provisioner.provision(ProvisionRequest(port=sim.port, operator="op", batch="B1"))

    assert not result.passed and result.code == "SERIAL_INVALID"
    assert "64" in result.hint
    assert station.records.get_unit(sim.serial) is None
    assert station.records.count_units() == 0
