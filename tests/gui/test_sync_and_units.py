"""The status bar's sync against a local DynamoDB-compatible server, and the units table
at the scale of a 100,000-unit batch (issue: the operator app)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import replace

import boto3
import pytest
from PySide6.QtWidgets import QTableView

from gui.units_model import UnitsModel
from station.config import CloudConfig
from station.provisioning.runner import SlotState

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def dynamo():
    from station.sync.local_server import LocalDynamo

    with LocalDynamo() as server:
        yield server


@pytest.fixture
def cloud_table(dynamo, monkeypatch):
    from station.allowlist_item import create_allowlist_table

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = f"allowlist-{uuid.uuid4().hex[:8]}"
    client = boto3.session.Session().client("dynamodb", endpoint_url=dynamo.endpoint_url, region_name="us-east-1")
    create_allowlist_table(client, name)
    yield client, CloudConfig(table=name, region="us-east-1", endpoint_url=dynamo.endpoint_url)
    client.close()


def test_sync_now_sends_the_passed_units_and_the_status_bar_follows(make_app, make_station, boards, cloud_table):
    client, cloud = cloud_table
    station = make_station()
    station.config = replace(station.config, cloud=cloud)
    app = make_app(station)
    panel = app.window.sync_panel
    app.qtbot.waitUntil(lambda: panel.success_label.text() == "·  last sync OK: never", timeout=WAIT_MS)
    assert panel.button.isEnabled()

    app.sign_in()
    sims = boards(2)
    for sim in sims:
        app.ports.plug(sim.port)
    for sim in sims:
        app.wait_state(sim.port, SlotState.PASS)
    app.qtbot.waitUntil(lambda: panel.pending_label.text() == "2 waiting for the cloud", timeout=WAIT_MS)

    app.click(panel.button)

    app.qtbot.waitUntil(lambda: app.window.sync.runs == 1, timeout=WAIT_MS)
    outcome = app.window.sync.last_outcome
    assert outcome.sent == 2 and outcome.error is None
    app.qtbot.waitUntil(lambda: panel.pending_label.text() == "0 waiting for the cloud", timeout=WAIT_MS)
    assert "never" not in panel.success_label.text()
    assert panel.error_label.text() == ""
    item = client.get_item(TableName=cloud.table, Key={"serial": {"S": sims[0].serial}}, ConsistentRead=True)["Item"]
    assert item["status"]["S"] == "allowed"
    assert item["batch"]["S"] == "B1"


def test_a_failing_sync_shows_its_error_and_the_app_goes_on(make_app, make_station, boards, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    station = make_station()
    # nothing listens on port 9 of loopback: the endpoint is unreachable
    station.config = replace(station.config, cloud=CloudConfig(table="t", region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    app = make_app(station)
    app.window.sync.service.options["retry_for_seconds"] = 0.5
    app.sign_in()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)

    app.window.sync.sync_now()

    app.qtbot.waitUntil(lambda: app.window.sync.runs == 1, timeout=WAIT_MS)
    assert app.window.sync.last_outcome.error
    app.qtbot.waitUntil(lambda: "last error" in app.window.sync_panel.error_label.text(), timeout=WAIT_MS)
    assert "1 waiting" in app.window.sync_panel.pending_label.text()


def test_without_a_cloud_table_the_sync_button_is_off_and_says_why(make_app, make_station):
    station = make_station()
    station.config = replace(station.config, cloud=CloudConfig())
    app = make_app(station)
    panel = app.window.sync_panel
    app.qtbot.waitUntil(lambda: "not configured" in panel.pending_label.text(), timeout=WAIT_MS)
    assert not panel.button.isEnabled()


def test_the_scheduled_sync_runs_on_its_timer(make_app, make_station, cloud_table):
    _client, cloud = cloud_table
    station = make_station()
    station.config = replace(station.config, cloud=cloud)
    app = make_app(station)
    sync = app.window.sync
    assert sync.timer.isActive()
    assert sync.timer.interval() == int(station.config.sync_interval_seconds * 1000)
    sync.timer.setInterval(50)
    app.qtbot.waitUntil(lambda: sync.runs >= 1, timeout=WAIT_MS)


def _fill_units(path, count: int) -> None:
    """Bulk-insert ``count`` units of batch BIG straight into SQLite (a test shortcut)."""
    conn = sqlite3.connect(path)
    rows = [
        (f"SIM{i:06d}", "BIG", "GW", "allowed", f"{i:064x}", "0" * 64, "ST", "op",
         f"2026-01-01T00:00:{i % 60:02d}.{i % 1000:03d}Z", f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
         1, 0, None, "2026-01-01T00:00:00.000Z")
        for i in range(count)
    ]
    with conn:
        conn.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def test_the_units_table_of_a_100000_unit_batch_opens_in_under_a_second(qtbot, make_station):
    station = make_station(batch="BIG")
    station.records.close()  # write the rows with a plain connection, then reopen
    _fill_units(station.config.database, 100_000)
    from records import Records

    station.records = Records(station.config.database)

    started = time.perf_counter()
    model = UnitsModel(station.records, batch="BIG")
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=WAIT_MS)  # the view asks for the first page
    opened = time.perf_counter() - started

    assert model.rowCount() == UnitsModel.PAGE_SIZE, "only the first page is read"
    assert model.pages_read == 1
    assert opened < 1.0, f"opening took {opened:.2f} s"

    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() == 2 * UnitsModel.PAGE_SIZE, timeout=WAIT_MS)
    serials = [model.unit(i).serial for i in range(model.rowCount())]
    assert len(set(serials)) == len(serials)

    started = time.perf_counter()
    model.set_filter(search="SIM054321")  # read on a worker thread
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=WAIT_MS)
    assert time.perf_counter() - started < 1.0
    assert model.unit(0).serial == "SIM054321"


def test_a_sync_error_is_shown_in_full_with_what_to_do(make_app, make_station, boards, cloud_table, monkeypatch):
    from gui.sync_adapter import SyncService

    _client, cloud = cloud_table
    station = make_station()
    station.config = replace(station.config, cloud=replace(cloud, table="no-such-table-here"))
    app = make_app(station, sync_service=SyncService(station, retry_for_seconds=0.5))
    app.sign_in()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)
    app.qtbot.waitUntil(app.window.sync_panel.button.isEnabled, timeout=WAIT_MS)

    app.click(app.window.sync_panel.button)

    bar = app.window.sync_error_bar
    app.qtbot.waitUntil(lambda: app.window.sync.last_outcome is not None and bar.isVisible(), timeout=WAIT_MS)
    outcome = app.window.sync.last_outcome
    assert outcome.error and outcome.hint
    assert outcome.error in bar.text(), "the whole error, not a line cut at 520 px"
    assert f"What to do: {outcome.hint}" in bar.text()
    assert bar.wordWrap()


def test_the_units_and_qa_tables_refresh_after_a_sync(make_app, make_station, boards, cloud_table):
    from gui.units_model import COLUMNS

    _client, cloud = cloud_table
    station = make_station()
    station.config = replace(station.config, cloud=cloud)
    station.records.add_user("QA7", "qa", "4321", actor="tester")
    app = make_app(station)
    window = app.window
    app.type_into(window.sign_in.id_edit, "QA7")
    app.qtbot.waitUntil(window.sign_in.pin_row.isVisible, timeout=WAIT_MS)
    app.type_into(window.sign_in.pin_edit, "4321")
    app.qtbot.waitUntil(lambda: window.role == "qa" and window.summary is not None, timeout=WAIT_MS)
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)
    cloud_column = next(i for i, (key, _title) in enumerate(COLUMNS) if key == "cloud")

    def shown(model) -> str | None:
        return model.data(model.index(0, cloud_column)) if model.rowCount() else None

    window.units_model.refresh()
    window.qa_tab.refresh()
    app.qtbot.waitUntil(lambda: shown(window.units_model) == "pending" and shown(window.qa_tab.model) == "pending", timeout=WAIT_MS)
    app.qtbot.waitUntil(window.sync_panel.button.isEnabled, timeout=WAIT_MS)

    app.click(window.sync_panel.button)

    app.qtbot.waitUntil(lambda: shown(window.units_model) == "synced", timeout=WAIT_MS)
    app.qtbot.waitUntil(lambda: shown(window.qa_tab.model) == "synced", timeout=WAIT_MS)
    app.qtbot.waitUntil(lambda: window.sync_panel.pending_label.text() == "0 waiting for the cloud", timeout=WAIT_MS)


def test_a_report_export_runs_off_the_ui_thread_and_says_where_the_file_went(make_app, boards, tmp_path):
    from concurrent.futures import Future

    from gui.report_export import export_in_background

    app = make_app()
    app.sign_in()
    (sim,) = boards(1)
    app.ports.plug(sim.port)
    app.wait_state(sim.port, SlotState.PASS)
    qa = app.window.qa_tab
    target = tmp_path / "reports" / ".." / "batch.csv"

    job = export_in_background(qa, app.station, "B1", "csv", target)

    assert isinstance(job, Future), "the export is a worker-thread job"
    assert qa.report_status.text().startswith("Saving the CSV report of B1")
    app.qtbot.waitUntil(lambda: qa.last_report is not None, timeout=WAIT_MS)
    where = (tmp_path / "batch.csv").resolve()
    assert qa.report_status.text() == f"CSV report of B1 saved to {where}"
    assert sim.serial in where.read_text()


def test_a_report_that_cannot_be_written_says_why_and_what_to_do(make_app, tmp_path):
    from gui.report_export import export_in_background

    app = make_app()
    qa = app.window.qa_tab
    export_in_background(qa, app.station, "B1", "csv", tmp_path / "no-such-folder" / "r.csv")
    app.qtbot.waitUntil(lambda: "NOT saved" in qa.report_status.text(), timeout=WAIT_MS)
    assert "What to do:" in qa.report_status.text()


def test_the_apps_sync_sends_everything_again_to_a_table_that_forgot(make_station, cloud_table):
    import hashlib

    from gui.sync_adapter import SyncService
    from records import StepTiming
    from station.allowlist_item import create_allowlist_table

    client, cloud = cloud_table
    station = make_station()
    station.config = replace(station.config, cloud=cloud)
    records = station.records
    records.open_batch("B9", "GW", 10, "tester")
    attempt = records.start_attempt(port="COM1", station_id=station.config.station_id, operator="op",
                                    driver="agent", batch="B9")
    records.set_attempt_serial(attempt, "SN-FORGOT-1")
    records.finish_attempt_pass(
        attempt, serial="SN-FORGOT-1", batch="B9", product="GW",
        device_key_sha256=hashlib.sha256(b"a key").hexdigest(), claim_cert_sha256="c" * 64,
        station_id=station.config.station_id, operator="op",
        steps=(StepTiming("read_serial", "2026-12-03T10:00:00.000Z", 1.0, True),),
    )
    service = SyncService(station)
    assert service.run().error is None

    client.delete_table(TableName=cloud.table)  # a local server restarted with an empty memory
    client.get_waiter("table_not_exists").wait(TableName=cloud.table)
    create_allowlist_table(client, cloud.table)
    assert service.run().error is None

    item = client.get_item(TableName=cloud.table, Key={"serial": {"S": "SN-FORGOT-1"}}, ConsistentRead=True)
    assert "Item" in item
