"""``station report`` and ``station trace`` as a user meets them: where output goes, exit
codes, one-line errors with a hint and never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from report_fixtures import BATCH, EMPTY_BATCH, EXPECTED_COUNTS, build_known_database

from station.cli import main as station_main
from station.demo.line import prepare_folder


@pytest.fixture(scope="module")
def station_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station folder (demo station.ini) whose database holds the known batches."""
    folder = tmp_path_factory.mktemp("station")
    prepare_folder(folder)
    build_known_database(folder / "station.sqlite")
    return folder


def station(folder: Path, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(
        station_main, ["--config", str(folder / "station.ini"), *args],
        env={"STATION_CONFIG": None, "STATION_OPERATOR": "tester"}, catch_exceptions=False,
    )


def assert_one_line_error(result: Result, code: str) -> None:
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {code}: "), lines
    assert lines[1].startswith("  what to do: "), lines
    assert len(lines) == 2, lines
    assert "Traceback" not in result.output


def test_html_goes_to_report_batch_html_by_default(
    station_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = station(station_dir, "report", "--batch", BATCH)
    assert result.exit_code == 0, result.output
    written = tmp_path / f"report-{BATCH}.html"
    assert written.read_bytes().startswith(b"<!DOCTYPE html>")
    assert f"written to report-{BATCH}.html" in result.stdout
    assert "6 units attempted, 4 PASS, 1 revoked, 1 FAIL, 2 re-tested" in result.stdout
    assert "first-pass yield 66.7 %, final yield 66.7 %" in result.stdout


def test_pdf_goes_to_a_file_by_default(
    station_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = station(station_dir, "report", "--batch", BATCH, "--format", "pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"report-{BATCH}.pdf").read_bytes().startswith(b"%PDF")


def test_csv_and_json_go_to_stdout(station_dir: Path) -> None:
    result = station(station_dir, "report", "--batch", BATCH, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout_bytes)
    assert data["counts"] == EXPECTED_COUNTS
    assert data["header"]["generated_by"]  # the station id from station.ini

    result = station(station_dir, "report", "--batch", BATCH, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
    assert rows[0] == ["Batch report", BATCH]
    assert ["units_attempted", "6"] in rows


def test_output_option(station_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "r.json"
    target.parent.mkdir()
    result = station(station_dir, "report", "--batch", BATCH, "--format", "json", "-o",
                     str(target))
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_bytes())["schema_version"] == 1
    result = station(station_dir, "report", "--batch", BATCH, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"<!DOCTYPE html>")


def test_no_units(station_dir: Path) -> None:
    result = station(station_dir, "report", "--batch", BATCH, "--format", "json", "--no-units")
    data = json.loads(result.stdout_bytes)
    assert data["units"] is None and data["units_included"] is False
    assert data["counts"] == EXPECTED_COUNTS


def test_batch_that_does_not_exist(station_dir: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for fmt in ("html", "json"):
        result = station(station_dir, "report", "--batch", "NOPE", "--format", fmt)
        assert_one_line_error(result, "BATCH_NOT_FOUND")
        assert "station batch list" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_batch_with_no_attempts_is_a_valid_report(
    station_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = station(station_dir, "report", "--batch", EMPTY_BATCH)
    assert result.exit_code == 0, result.output
    assert "no attempts yet" in result.stdout
    html = (tmp_path / f"report-{EMPTY_BATCH}.html").read_text()
    assert "No attempts in this batch yet" in html
    result = station(station_dir, "report", "--batch", EMPTY_BATCH, "--format", "json")
    assert json.loads(result.stdout_bytes)["counts"]["attempts"] == 0


def test_unwritable_output(station_dir: Path, tmp_path: Path) -> None:
    result = station(station_dir, "report", "--batch", BATCH, "-o",
                     str(tmp_path / "missing-folder" / "r.html"))
    assert_one_line_error(result, "REPORT_WRITE_FAILED")


def test_cloud_options_need_source_cloud(station_dir: Path) -> None:
    result = station(station_dir, "report", "--batch", BATCH, "--table", "t")
    assert_one_line_error(result, "REPORT_OPTION_INVALID")


def test_trace(station_dir: Path) -> None:
    result = station(station_dir, "trace", "SN003")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SN003: ALLOWED in batch B1" in out
    assert "attempts (2, oldest first)" in out
    assert "FAIL BOARD_TIMEOUT" in out and "PASS" in out
    assert "generate_csr" in out and "3000.0" in out  # step timings
    assert "unit.pass" in out  # audit


def test_trace_json(station_dir: Path) -> None:
    result = station(station_dir, "trace", "SN005", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout_bytes)
    assert data["kind"] == "serial_trace" and data["schema_version"] == 1
    assert data["unit"]["status"] == "revoked"
    assert [a["result"] for a in data["attempts"]] == ["pass"]
    assert data["attempts"][0]["duration_ms"] == 60000.0
    assert [s["name"] for s in data["attempts"][0]["steps"]] == [
        "read_serial", "install_claim", "generate_csr"]
    assert [e["action"] for e in data["audit"]] == ["unit.pass", "unit.revoke"]


def test_trace_of_an_unknown_serial(station_dir: Path) -> None:
    assert_one_line_error(station(station_dir, "trace", "NOPE"), "SERIAL_UNKNOWN")
    assert_one_line_error(station(station_dir, "trace", "NOPE", "--json"), "SERIAL_UNKNOWN")


def test_pdf_of_a_big_batch_as_a_real_process(tmp_path: Path) -> None:
    """A real ``station`` process draws a long PDF and exits cleanly (regression: the
    installed PySide6 drops a reference to None on every void call, which aborted the
    interpreter at exit after a few thousand draw calls; see gui.charts)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "report_speed", Path(__file__).parents[2] / "bench" / "report_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = tmp_path / "station"
    prepare_folder(folder)
    bench.build_database(folder / "station.sqlite", 3000)
    env = {k: v for k, v in os.environ.items() if k not in ("STATION_CONFIG", "DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)  # the renderer must manage on its own
    repo = str(Path(__file__).parents[2])  # this checkout, whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "station", "report", "--batch", bench.BATCH, "--format", "pdf",
         "-o", str(tmp_path / "big.pdf")],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Fatal" not in done.stderr
    assert (tmp_path / "big.pdf").read_bytes().startswith(b"%PDF")
