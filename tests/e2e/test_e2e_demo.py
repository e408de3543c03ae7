"""`station demo` ends with a sync and the cloud check; --endpoint-url points it elsewhere for good."""

from __future__ import annotations

import json

from click.testing import CliRunner

from station.cli import main
from station.config import load_config


def test_the_demo_syncs_to_an_existing_endpoint_and_the_cloud_check_passes(tmp_path, dynamodb_endpoint, dynamodb_env):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", "--dir", str(folder), "--boards", "3", "--endpoint-url", dynamodb_endpoint, "--json"]
    )

    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["sync"]["sent"] == 2
    assert all(case["ok"] for case in output["cloud_check"])
    assert {row["serial"] for row in output["table"]} == {r["serial"] for r in output["results"] if r["result"] == "PASS"}
    assert load_config(folder / "station.ini").cloud.endpoint_url == dynamodb_endpoint


def test_each_demo_folder_gets_its_own_table(tmp_path):
    from station.demo.line import prepare_folder

    first = load_config(prepare_folder(tmp_path / "a")).cloud.table
    second = load_config(prepare_folder(tmp_path / "b")).cloud.table
    assert first != second and first.startswith("station-demo-")
