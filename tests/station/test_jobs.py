"""The app's heavy jobs (a sync, a report export) run in a child Python: the same work as
``station sync`` and ``station report``, one JSON answer back, errors with their own code
and hint, and the app's process never loads boto3 (whose model loading holds the
interpreter lock for tens of milliseconds while the tiles wait)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from records import StepTiming
from station.config import CloudConfig
from station.jobs import JobFailed, cloud_spec, run_job, stop_jobs


def add_passed_unit(station, serial: str, batch: str = "J1") -> None:
    records = station.records
    if records.get_batch(batch) is None:
        records.open_batch(batch, "GW", 10, "tester")
    attempt = records.start_attempt(port="COM1", station_id=station.config.station_id, operator="op",
                                    driver="agent", batch=batch)
    records.set_attempt_serial(attempt, serial)
    records.finish_attempt_pass(
        attempt, serial=serial, batch=batch, product="GW",
        device_key_sha256=hashlib.sha256(serial.encode()).hexdigest(), claim_cert_sha256="c" * 64,
        station_id=station.config.station_id, operator="op",
        steps=(StepTiming("read_serial", "2026-12-03T10:00:00.000Z", 1.0, True),),
    )


@pytest.fixture
def cloud(allowlist_table) -> CloudConfig:
    return CloudConfig(table=allowlist_table.name, region=allowlist_table.region,
                       endpoint_url=allowlist_table.endpoint_url)


def test_a_sync_job_sends_the_pending_units_with_the_cloud_settings_it_was_given(station, cloud, allowlist_table):
    add_passed_unit(station, "SN-JOB-1")

    report = run_job({"job": "sync", "config": str(station.config.path), "cloud": cloud_spec(cloud), "retry_for": 1})

    assert report["sent"] == 1 and report["pending_left"] == 0 and report["error"] is None
    item = allowlist_table.client.get_item(TableName=cloud.table, Key={"serial": {"S": "SN-JOB-1"}})
    assert "Item" in item
    assert station.records.count_pending_sync() == 0  # the app's own connection sees the child's bookkeeping


def test_a_sync_job_to_a_missing_table_answers_the_syncs_own_code_and_hint(station, cloud):
    add_passed_unit(station, "SN-JOB-2")

    report = run_job({"job": "sync", "config": str(station.config.path),
                      "cloud": cloud_spec(replace(cloud, table="no-such-table-here")), "retry_for": 0.5})

    assert report["error_code"] == "SYNC_TABLE_MISSING", report
    assert report["hint"]
    assert report["pending_left"] == 1


def test_a_report_job_writes_the_whole_file_and_answers_its_path(station, tmp_path):
    add_passed_unit(station, "SN-JOB-3")
    target = tmp_path / "out" / ".." / "report.csv"

    where = run_job({"job": "report", "config": str(station.config.path), "batch": "J1", "format": "csv",
                     "path": str(target)})

    assert Path(where) == (tmp_path / "report.csv").resolve()
    assert "SN-JOB-3" in Path(where).read_text()
    assert not list(tmp_path.glob("*.part"))


def test_a_report_job_that_cannot_write_says_so_and_leaves_no_file(station, tmp_path):
    add_passed_unit(station, "SN-JOB-4")

    with pytest.raises(JobFailed) as failed:
        run_job({"job": "report", "config": str(station.config.path), "batch": "J1", "format": "csv",
                 "path": str(tmp_path / "no-such-folder" / "r.csv")})

    assert failed.value.code == "REPORT_WRITE_FAILED"
    assert "Choose another file" in failed.value.hint
    assert not (tmp_path / "no-such-folder").exists()


def test_a_report_job_of_an_unknown_batch_answers_the_reports_code(station, tmp_path):
    with pytest.raises(JobFailed) as failed:
        run_job({"job": "report", "config": str(station.config.path), "batch": "NOPE", "format": "html",
                 "path": str(tmp_path / "r.html")})

    assert failed.value.code == "BATCH_NOT_FOUND"


def test_an_unknown_job_is_refused_before_any_child_starts():
    with pytest.raises(ValueError, match="job must be one of"):
        run_job({"job": "format-disk"})


def test_stopping_the_jobs_ends_a_running_child_with_an_answer(station, tmp_path):
    cloud = CloudConfig(table="t", region="us-east-1", endpoint_url="http://127.0.0.1:9")  # nothing listens
    add_passed_unit(station, "SN-JOB-5")
    outcome: dict = {}

    def sync() -> None:
        try:
            outcome["report"] = run_job({"job": "sync", "config": str(station.config.path),
                                         "cloud": cloud_spec(cloud), "retry_for": 60})
        except JobFailed as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=sync)
    worker.start()
    time.sleep(1.5)
    stopped = stop_jobs()
    worker.join(20)

    assert stopped == 1
    assert not worker.is_alive()
    assert outcome, "the job answered"
    assert station.records.count_pending_sync() == 1  # nothing lost: it goes out next time


def test_the_apps_process_never_loads_boto3_for_a_sync_or_an_export(station, cloud, tmp_path):
    add_passed_unit(station, "SN-JOB-6")
    script = textwrap.dedent(f"""
        import sys
        from dataclasses import replace
        from station.config import CloudConfig
        from station.context import open_station
        from gui.sync_adapter import SyncService
        from gui.report_export import export_job
        station = open_station({str(station.config.path)!r})
        station.config = replace(station.config, cloud=CloudConfig(**{cloud_spec(cloud)!r}))
        outcome = SyncService(station, retry_for_seconds=1).run()
        assert outcome.error is None and outcome.sent == 1, outcome
        export_job(station, "J1", "html", __import__("pathlib").Path({str(tmp_path / "r.html")!r}))
        loaded = sorted(name for name in ("boto3", "botocore") if name in sys.modules)
        print("loaded:", loaded)
    """)
    station.close()

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})

    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout
    assert (tmp_path / "r.html").exists()
