"""`station demo --driver greengrass`: a line of simulated gateways, and a cloud check that
plays each gateway's own first boot (its CSR file and config.yaml) against the real hook."""

from __future__ import annotations

import json

from click.testing import CliRunner
from gg_helpers import needs_namespaces

from station.cli import main

pytestmark = needs_namespaces


def test_the_gateway_demo_provisions_and_each_gateways_first_boot_is_judged(tmp_path, dynamodb_endpoint, dynamodb_env):
    result = CliRunner().invoke(main, ["demo", "--driver", "greengrass", "--boards", "3", "--dir", str(tmp_path / "gw"),
                                       "--endpoint-url", dynamodb_endpoint, "--json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output[result.output.index("{"):])
    assert [r["result"] for r in output["results"]] == ["PASS", "FAIL", "PASS"]  # board 2: read-only fs
    cases = output["cloud_check"]
    assert all(case["ok"] for case in cases)
    first_boots = [c for c in cases if c["case"] == "first boot with the board's own CSR and config"]
    assert [c["got"] for c in first_boots] == ["allow", "deny"]  # the second gateway was revoked
    assert any(c["case"] == "clone: right serial, other key pair" and c["got"] == "deny" for c in cases)
