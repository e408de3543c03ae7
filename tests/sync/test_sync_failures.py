"""The sync when things go wrong: offline, throttled, server errors, lost replies, missing
table, bad credentials. Faults are real HTTP: a closed loopback port, or a relay in front of
the endpoint that answers some requests itself (tests/sync/sync_relay.py)."""

from __future__ import annotations

import os

import pytest
from sync_helpers import fingerprint, free_port
from sync_relay import Forward, Relay, Reply

from station.sync.dynamo import SyncError
from station.sync.engine import AllowlistSync, classify_error


def test_offline_units_stay_queued_and_go_out_when_the_endpoint_is_back(
        db, syncer, clients, fake_time, all_items, dynamodb_endpoint):
    db.provision_many(12)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    client = clients(endpoint)

    report = syncer(db, client=client, retry_for_seconds=20).run()
    assert report.error_code == "SYNC_ENDPOINT_UNREACHABLE"
    assert not report.permanent and report.exit_code == 4
    assert report.sent == 0 and report.failed > 0
    assert report.pending_left == 12
    assert db.records.count_pending_sync() == 12
    assert db.records.last_sync()["error"].startswith("SYNC_ENDPOINT_UNREACHABLE")
    # It backed off (jittered, capped) and gave up after the time allowed, not at once.
    assert len(fake_time.sleeps) >= 3
    assert max(fake_time.sleeps) <= 5.0
    assert sum(fake_time.sleeps) == pytest.approx(20, abs=0.01)

    # The endpoint comes back on the same port.
    if os.environ.get("STATION_TEST_DYNAMODB_ENDPOINT", "").strip():
        server = Relay(dynamodb_endpoint, port=port).start()  # in front of the external one
    else:
        from station.sync.local_server import LocalDynamo

        server = LocalDynamo(port=port)  # moto's data is per process: same tables
        server.start()
    try:
        report = syncer(db, client=client).run()
    finally:
        server.stop()
    assert (report.sent, report.failed, report.pending_left, report.error) == (12, 0, 0, None)
    assert len(all_items()) == 12
    assert db.records.last_successful_sync() is not None


def test_throttling_and_server_errors_are_retried_with_backoff(
        db, syncer, clients, allowlist_table, fake_time, all_items):
    db.provision_many(20)
    failures = iter(["throttle"] * 6 + ["500"] * 3 + ["limit"] * 2)

    def rule(seen):
        if seen.operation != "UpdateItem":
            return None
        fault = next(failures, None)
        if fault == "throttle":
            return Reply(400, "ProvisionedThroughputExceededException")
        if fault == "limit":
            return Reply(400, "ThrottlingException")
        if fault == "500":
            return Reply(500, "InternalServerError")
        return None

    with Relay(allowlist_table.endpoint_url, rule=rule) as relay:
        sync = syncer(db, client=clients(relay.url), workers=6)
        report = sync.run()
    assert (report.sent, report.failed, report.error) == (20, 0, None)
    assert report.ok
    assert len(all_items()) == 20
    assert fake_time.sleeps and all(0 <= s <= 5.0 for s in fake_time.sleeps)
    assert len(relay.operations("UpdateItem")) == 20 + 11


def test_a_lost_reply_is_retried_and_found_already_applied(
        db, syncer, clients, allowlist_table, cloud_item):
    db.provision_many(3)
    dropped: list[int] = []

    def rule(seen):
        if seen.operation == "UpdateItem" and seen.body["Key"]["serial"]["S"] == "SN00001" \
                and not dropped:
            dropped.append(seen.number)
            return Forward(drop_response=True)  # DynamoDB applied it; the answer is lost
        return None

    with Relay(allowlist_table.endpoint_url, rule=rule) as relay:
        report = syncer(db, client=clients(relay.url)).run()
    assert dropped
    assert (report.sent, report.unchanged, report.failed) == (2, 1, 0)
    assert cloud_item("SN00001")["rev"] == 1


def test_an_endpoint_that_does_not_return_the_old_item_is_read_back(
        make_db, syncer, clients, allowlist_table, cloud_item, tmp_path):
    a = make_db("a", "ST-A")
    a.provision("SN1")
    a.provision("SN2")
    replay = a.copy_to(tmp_path / "replay.sqlite")  # ST-A's own copy, same revs
    syncer(a).run()
    b = make_db("b", "ST-B")
    b.provision("SN2", key=fingerprint("other"))  # another station claims SN2

    def rule(seen):  # an endpoint without ReturnValuesOnConditionCheckFailure
        return Forward(strip_item=True) if seen.operation == "UpdateItem" else None

    with Relay(allowlist_table.endpoint_url, rule=rule) as relay:
        conflict = syncer(b, client=clients(relay.url)).run()
        replayed = syncer(replay, client=clients(relay.url)).run()
    assert (conflict.conflicts, conflict.sent) == (1, 0)
    assert "ST-A" in b.records.sync_conflicts()[0]["detail"]
    assert (replayed.unchanged, replayed.sent, replayed.conflicts) == (2, 0, 0)
    assert len(relay.operations("GetItem")) == 3
    assert cloud_item("SN2")["station_id"] == "ST-A"
    replay.close()


def test_a_missing_table_is_one_permanent_error(db, clients, allowlist_table):
    db.provision_many(40)
    sync = AllowlistSync(db.records, clients(), station_id="ST-A",
                         table_name=allowlist_table.name + "-missing", workers=8)
    with pytest.raises(SyncError) as caught:
        sync.run()
    error = caught.value
    assert error.code == "SYNC_TABLE_MISSING" and error.permanent
    assert "station table create" in error.hint
    assert allowlist_table.name + "-missing" in error.message
    assert error.report is not None and error.report.exit_code == 3
    assert error.report.pending_left == 40
    assert db.records.count_pending_sync() == 40
    run = db.records.last_sync()
    assert run["error"].startswith("SYNC_TABLE_MISSING: ")
    assert run["sent"] == 0


@pytest.mark.parametrize(
    ("status", "aws_code", "station_code"),
    [
        (400, "UnrecognizedClientException", "SYNC_BAD_CREDENTIALS"),
        (400, "InvalidSignatureException", "SYNC_BAD_CREDENTIALS"),
        (400, "ExpiredTokenException", "SYNC_BAD_CREDENTIALS"),
        (400, "AccessDeniedException", "SYNC_ACCESS_DENIED"),
        (400, "ResourceNotFoundException", "SYNC_TABLE_MISSING"),
        (400, "ValidationException", "SYNC_REQUEST_REJECTED"),
    ],
)
def test_permanent_errors_stop_the_run_with_a_clear_code(
        db, syncer, clients, allowlist_table, status, aws_code, station_code):
    db.provision_many(10)
    with Relay(allowlist_table.endpoint_url,
               rule=lambda seen: Reply(status, aws_code)) as relay:
        with pytest.raises(SyncError) as caught:
            syncer(db, client=clients(relay.url), workers=4).run()
    assert caught.value.code == station_code and caught.value.permanent
    assert len(relay.operations("UpdateItem")) <= 4  # it stopped at once
    assert db.records.count_pending_sync() == 10
    assert db.records.last_sync()["error"].startswith(station_code)


def test_missing_credentials_are_a_permanent_error(db, allowlist_table, monkeypatch, tmp_path):
    from station.config import CloudConfig
    from station.sync.dynamo import make_client

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # An AWS endpoint: the request is refused while signing, before anything is sent. (A
    # loopback endpoint would get placeholder credentials: emulators check none.)
    client = make_client(CloudConfig(table=allowlist_table.name, region=allowlist_table.region,
                                     endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"))
    db.provision("SN1")
    with pytest.raises(SyncError) as caught:
        AllowlistSync(db.records, client, station_id="ST-A", table_name=allowlist_table.name).run()
    assert caught.value.code == "SYNC_NO_CREDENTIALS"


def test_a_loopback_emulator_needs_no_real_credentials(db, allowlist_table, monkeypatch, tmp_path):
    from station.config import CloudConfig
    from station.sync.dynamo import make_client

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = make_client(CloudConfig(table=allowlist_table.name, region=allowlist_table.region,
                                     endpoint_url=allowlist_table.endpoint_url))
    db.provision("SN1")
    report = AllowlistSync(db.records, client, station_id="ST-A", table_name=allowlist_table.name).run()
    assert report.sent == 1


def test_transient_errors_are_classified_as_such():
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    def client_error(code, status):
        return ClientError({"Error": {"Code": code, "Message": "m"},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateItem")

    cases = [
        (client_error("ProvisionedThroughputExceededException", 400), True, "SYNC_THROTTLED"),
        (client_error("RequestLimitExceeded", 400), True, "SYNC_THROTTLED"),
        (client_error("ThrottlingException", 400), True, "SYNC_THROTTLED"),
        (client_error("InternalServerError", 500), False, "SYNC_SERVER_ERROR"),
        (client_error("Whatever", 503), False, "SYNC_SERVER_ERROR"),
        (EndpointConnectionError(endpoint_url="http://x"), False, "SYNC_ENDPOINT_UNREACHABLE"),
        (ReadTimeoutError(endpoint_url="http://x"), False, "SYNC_ENDPOINT_UNREACHABLE"),
    ]
    for exc, throttled, code in cases:
        got_throttled, error = classify_error(exc, table="t", endpoint="e")
        assert (got_throttled, error.code, error.permanent) == (throttled, code, False)
