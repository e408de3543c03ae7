"""`station doctor`: the security posture on one screen."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner

from station.cli import main
from station.config import load_config
from station.doctor import FAIL, OK, diagnose


def by_area(checks):
    return {c.area: c for c in checks}


def test_a_fresh_demo_station_has_no_failures(station_folder):
    checks = diagnose(station_folder / "station.ini")
    assert not [c for c in checks if c.status == FAIL]
    assert by_area(checks)["claim key permissions"].status == OK


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_group_readable_claim_key_is_a_failure_with_the_chmod_to_fix_it(station_folder):
    key = load_config(station_folder / "station.ini").claim.private_key
    key.chmod(0o644)
    check = by_area(diagnose(station_folder / "station.ini"))["claim key permissions"]
    assert check.status == FAIL
    assert f"chmod 600 {key}" in check.hint


def test_aws_keys_in_station_ini_are_a_failure(station_folder):
    ini = station_folder / "station.ini"
    ini.write_text(ini.read_text() + "\n[cloud]\naws_secret_access_key = abc\n")
    assert by_area(diagnose(ini))["station.ini secrets"].status == FAIL


def test_an_edited_audit_log_is_a_failure(station):
    station.records.audit(actor="qa", action="note", subject="X", details={"n": 1})
    station.records.audit(actor="qa", action="note", subject="Y", details={"n": 2})
    database = station.config.database
    station.close()
    connection = sqlite3.connect(database)
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        connection.execute(f'DROP TRIGGER "{name}"')
    connection.execute("UPDATE audit SET actor = 'mallory' WHERE subject = 'X'")
    connection.commit()
    connection.close()
    assert by_area(diagnose(station.config.path))["audit log"].status == FAIL


def test_doctor_exits_1_on_a_failure_and_prints_no_key_material(station_folder):
    config = load_config(station_folder / "station.ini")
    config.claim.private_key.chmod(0o640)
    result = CliRunner().invoke(main, ["--config", str(station_folder / "station.ini"), "doctor"])
    assert result.exit_code == 1
    assert "FAIL" in result.output
    key_body = config.claim.private_key.read_text().splitlines()[1]
    assert key_body not in result.output


def test_doctor_json_lists_every_check(station_folder):
    result = CliRunner().invoke(main, ["--config", str(station_folder / "station.ini"), "doctor", "--json"])
    areas = {c["area"] for c in json.loads(result.output)}
    assert {"config", "claim key permissions", "claim certificate", "database", "log", "cloud"} <= areas


def test_doctor_without_a_config_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    (check,) = diagnose(None)
    assert check.status == FAIL and "station.ini" in check.finding
