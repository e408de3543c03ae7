"""The sync against a real DynamoDB-compatible endpoint over HTTP (LocalDynamo, or
$STATION_TEST_DYNAMODB_ENDPOINT): what goes out, what is never overwritten, and what is
never sent twice."""

from __future__ import annotations

import dataclasses
import threading

import boto3
import pytest
from sync_helpers import CLAIM, count_requests, fingerprint

from station.allowlist_item import HOOK_ATTRIBUTES
from station.sync.engine import AllowlistSync, SyncReport


def test_first_sync_writes_every_unit_with_the_contract_attributes(db, syncer, all_items):
    units = db.provision_many(30)
    report = syncer(db).run()

    assert (report.sent, report.unchanged, report.conflicts, report.failed) == (30, 0, 0, 0)
    assert report.pending_left == 0 and report.ok and report.exit_code == 0
    items = all_items()
    assert set(items) == {u.serial for u in units}
    unit = db.unit("SN00007")
    assert items["SN00007"] == {
        "serial": "SN00007",
        "status": "allowed",
        "batch": "B1",
        "product": "sensor-v2",
        "station_id": "ST-A",
        "device_key_sha256": unit.device_key_sha256,
        "claim_cert_sha256": CLAIM,
        "factory_at": unit.last_pass_at,  # the last PASS: the fingerprints come from it
        "rev": 1,
    }
    assert all(u.synced_rev == u.rev for u in db.records.units())
    run = db.records.last_sync()
    assert (run["sent"], run["failed"], run["error"]) == (30, 0, None)
    assert db.records.last_successful_sync()["id"] == run["id"]


def test_the_report_is_a_frozen_dataclass(db, syncer):
    report = syncer(db).run()
    assert isinstance(report, SyncReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.sent = 3  # type: ignore[misc]


def test_a_no_op_sync_makes_no_cloud_call(db, syncer, clients):
    db.provision_many(5)
    client = clients()
    assert syncer(db, client=client).run().sent == 5

    requests = count_requests(client)
    report = syncer(db, client=client).run()
    assert requests == []  # not one HTTP request
    assert (report.sent, report.unchanged, report.pending_left, report.error) == (0, 0, 0, None)
    assert report.exit_code == 0

    # And with no endpoint at all: a client factory that must not be called.
    def no_client():
        raise AssertionError("a no-op sync must not create a client")

    report = AllowlistSync(db.records, no_client, station_id="ST-A", table_name="x").run()
    assert report.ok and report.sent == 0
    assert db.records.last_sync()["error"] is None


def test_a_no_op_sync_succeeds_with_the_endpoint_gone(db, syncer, clients):
    from sync_helpers import free_port

    db.provision_many(3)
    syncer(db).run()
    dead = clients(f"http://127.0.0.1:{free_port()}")
    report = syncer(db, client=dead).run()
    assert report.ok and report.pending_left == 0


def test_only_changed_rows_are_sent(db, syncer, clients, cloud_item):
    db.provision_many(10)
    client = clients()
    syncer(db, client=client).run()

    db.records.revoke("SN00003", actor="qa", reason="cracked case")
    db.provision("SN00003", key=fingerprint("new key"))  # re-flashed: new key, stays revoked
    db.provision("NEW-1")
    requests = count_requests(client)
    report = syncer(db, client=client).run()

    assert (report.sent, report.unchanged) == (2, 0)
    # one write each; the new allowed unit's key is first looked up in the key index
    assert sorted(requests) == ["Query", "UpdateItem", "UpdateItem"]
    item = cloud_item("SN00003")
    assert (item["status"], item["rev"], item["device_key_sha256"]) == (
        "revoked", 3, fingerprint("new key"))
    assert cloud_item("NEW-1")["rev"] == 1


def test_a_replayed_sync_changes_nothing(db, make_db, syncer, cloud_item, tmp_path):
    db.provision_many(4)
    replay = db.copy_to(tmp_path / "replay.sqlite")  # the same revs, never marked synced
    syncer(db).run()
    before = cloud_item("SN00001")

    report = syncer(replay).run()
    assert (report.sent, report.unchanged, report.conflicts) == (0, 4, 0)
    assert cloud_item("SN00001") == before
    assert replay.records.count_pending_sync() == 0  # confirmed: the cloud has it
    replay.close()


def test_an_older_copy_of_the_database_never_overwrites_newer_data(db, syncer, cloud_item,
                                                                    tmp_path):
    db.provision("SN1")
    db.provision("SN2")
    older = db.copy_to(tmp_path / "older.sqlite")  # SN1 at rev 1, allowed
    db.records.revoke("SN1", actor="qa", reason="stolen from the line")  # rev 2
    assert syncer(db).run().sent == 2

    report = syncer(older).run()  # syncs after the newer one: out of order
    # SN2 says the same as the cloud: unchanged. SN1 says "allowed" where the cloud holds
    # this station's newer "revoked": a conflict for a person, never a silent "unchanged".
    assert (report.sent, report.unchanged, report.conflicts) == (0, 1, 1)
    assert report.conflict_serials == ("SN1",) and report.exit_code == 4
    item = cloud_item("SN1")
    assert (item["status"], item["rev"]) == ("revoked", 2)
    older.close()


def test_a_revoke_after_restoring_an_old_backup_reaches_the_cloud(db, syncer, cloud_item, tmp_path):
    db.provision("SN1")  # rev 1
    backup = db.copy_to(tmp_path / "backup.sqlite")
    db.records.revoke("SN1", actor="qa", reason="test")  # rev 2
    db.records.unrevoke("SN1", actor="qa", reason="test")  # rev 3, allowed
    syncer(db).run()
    assert cloud_item("SN1")["rev"] == 3

    backup.records.revoke("SN1", actor="qa", reason="stolen")  # rev 2 in the restored copy
    report = syncer(backup).run()

    item = cloud_item("SN1")
    assert item["status"] == "revoked" and item["rev"] > 3
    assert report.ok and report.pending_left == 0
    assert backup.records.get_unit("SN1").rev == item["rev"]
    assert any(e.action == "unit.rebase" for e in backup.records.audit_entries(subject="SN1"))
    backup.close()


def test_hook_attributes_survive_a_resync(db, syncer, allowlist_table, cloud_item):
    unit = db.provision("SN1")
    syncer(db).run()
    # What the pre-provisioning hook does when the board registers.
    allowlist_table.client.update_item(
        TableName=allowlist_table.name,
        Key={"serial": {"S": "SN1"}},
        UpdateExpression="SET provisioned_at = :now, certificate_id = :cert, thing_name = :thing",
        ConditionExpression="attribute_exists(serial) AND #status = :allowed "
        "AND device_key_sha256 = :key AND attribute_not_exists(provisioned_at)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":now": {"S": "2026-12-01T08:00:00Z"}, ":cert": {"S": "c" * 64},
            ":thing": {"S": "gw-SN1"}, ":allowed": {"S": "allowed"},
            ":key": {"S": unit.device_key_sha256},
        },
    )
    db.records.revoke("SN1", actor="qa", reason="returned by customer")
    db.provision("SN1", key=fingerprint("refurbished"), batch="B2")
    report = syncer(db).run()

    assert report.sent == 1
    item = cloud_item("SN1")
    assert item["provisioned_at"] == "2026-12-01T08:00:00Z"
    assert item["certificate_id"] == "c" * 64
    assert item["thing_name"] == "gw-SN1"
    assert (item["status"], item["batch"], item["rev"]) == ("revoked", "B2", 3)
    assert item["device_key_sha256"] == fingerprint("refurbished")
    assert set(HOOK_ATTRIBUTES) <= set(item)


def test_revoke_and_unrevoke_propagate(db, syncer, cloud_item):
    db.provision("SN1")
    syncer(db).run()
    db.records.revoke("SN1", actor="qa", reason="failed burn-in")
    assert syncer(db).run().sent == 1
    assert (cloud_item("SN1")["status"], cloud_item("SN1")["rev"]) == ("revoked", 2)
    db.records.unrevoke("SN1", actor="qa", reason="burn-in passed on retest")
    assert syncer(db).run().sent == 1
    assert (cloud_item("SN1")["status"], cloud_item("SN1")["rev"]) == ("allowed", 3)


def test_a_table_resource_can_be_given(db, allowlist_table, cloud_item):
    db.provision("SN1")
    resource = boto3.session.Session().resource(
        "dynamodb", endpoint_url=allowlist_table.endpoint_url, region_name=allowlist_table.region
    )
    report = AllowlistSync(db.records, resource.Table(allowlist_table.name), station_id="ST-A",
                           workers=2).run()
    assert report.sent == 1 and cloud_item("SN1")["station_id"] == "ST-A"


def test_two_stations_sync_into_one_table_at_once(make_db, syncer, all_items, cloud_item):
    a = make_db("a", "LINE1-ST01")
    b = make_db("b", "LINE2-ST07")
    a.provision_many(25, prefix="A-")
    b.provision_many(25, prefix="B-")
    a.provision("SHARED-1", key=fingerprint("key seen on station A"))
    b.provision("SHARED-1", key=fingerprint("key seen on station B"))

    reports: dict[str, SyncReport] = {}
    barrier = threading.Barrier(2)

    def sync(name, db):
        sync = syncer(db, workers=4)
        barrier.wait()
        reports[name] = sync.run()

    threads = [threading.Thread(target=sync, args=args) for args in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert reports["a"].conflicts + reports["b"].conflicts == 1
    loser, winner = (("a", "b") if reports["a"].conflicts else ("b", "a"))
    dbs = {"a": a, "b": b}
    items = all_items()
    assert len(items) == 51
    assert all(items[f"A-{i:05d}"]["station_id"] == "LINE1-ST01" for i in range(25))
    assert all(items[f"B-{i:05d}"]["station_id"] == "LINE2-ST07" for i in range(25))
    shared = cloud_item("SHARED-1")
    assert shared["station_id"] == dbs[winner].station_id  # the first writer's data, intact
    assert shared["device_key_sha256"] == dbs[winner].unit("SHARED-1").device_key_sha256
    assert reports[loser].conflict_serials == ("SHARED-1",)
    assert reports[loser].exit_code == 4 and reports[winner].exit_code == 0
    conflicts = dbs[loser].records.sync_conflicts()
    assert [c["serial"] for c in conflicts] == ["SHARED-1"]
    assert dbs[winner].station_id in conflicts[0]["detail"]

    # Not resent on every run: the conflict is recorded once, until the unit changes again.
    again = syncer(dbs[loser]).run()
    assert (again.sent, again.conflicts, again.exit_code) == (0, 0, 0)
    dbs[loser].records.revoke("SHARED-1", actor="qa", reason="which station is right?")
    again = syncer(dbs[loser]).run()
    assert again.conflicts == 1 and len(dbs[loser].records.sync_conflicts()) == 2
    assert cloud_item("SHARED-1")["station_id"] == dbs[winner].station_id
    assert cloud_item("SHARED-1")["status"] == "allowed"


def test_an_item_no_station_wrote_is_a_conflict_not_overwritten(db, syncer, allowlist_table,
                                                               cloud_item):
    allowlist_table.client.put_item(
        TableName=allowlist_table.name,
        Item={"serial": {"S": "SN1"}, "status": {"S": "revoked"}, "note": {"S": "by hand"}},
    )
    db.provision("SN1")
    report = syncer(db).run()
    assert report.conflicts == 1
    assert "no station_id" in db.records.sync_conflicts()[0]["detail"]
    assert cloud_item("SN1") == {"serial": "SN1", "status": "revoked", "note": "by hand"}


def test_an_item_of_this_station_without_rev_is_taken_over(db, syncer, allowlist_table,
                                                          cloud_item):
    allowlist_table.client.put_item(
        TableName=allowlist_table.name,
        Item={"serial": {"S": "SN1"}, "station_id": {"S": "ST-A"}, "thing_name": {"S": "t"}},
    )
    db.provision("SN1")
    report = syncer(db).run()
    assert report.sent == 1
    item = cloud_item("SN1")
    assert (item["rev"], item["status"], item["thing_name"]) == (1, "allowed", "t")


def test_a_unit_the_cloud_would_refuse_fails_alone(db, syncer, cloud_item):
    db.provision("SN1")
    db.provision("HUGE", product="x" * 410_000)
    db.provision("SN2")
    report = syncer(db).run()
    assert (report.sent, report.failed) == (2, 1)
    assert report.failures[0].serial == "HUGE"
    assert report.failures[0].code == "SYNC_ITEM_INVALID"
    assert "product" in report.failures[0].message and "refused by the cloud" in report.failures[0].message
    assert report.exit_code == 4 and report.pending_left == 1
    assert cloud_item("HUGE") is None
    assert db.records.last_successful_sync() is None


def test_many_units_in_several_pages_with_a_small_window(db, syncer, all_items):
    db.provision_many(45)
    report = syncer(db, workers=3, page_size=10, flush_every=7).run()
    assert report.sent == 45 and report.pending_left == 0
    assert len(all_items()) == 45


def test_progress_is_reported_and_an_interrupt_keeps_what_was_confirmed(db, syncer):
    db.provision_many(12)
    calls = []
    report = syncer(db, workers=2).run(progress=lambda done, total: calls.append((done, total)))
    assert report.sent == 12 and calls[-1] == (12, 12)
    assert [done for done, _ in calls] == list(range(1, 13))

    db.provision_many(10, prefix="MORE-")

    def interrupt(done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        syncer(db, workers=1, flush_every=1000).run(progress=interrupt)
    assert db.records.last_sync()["error"].startswith("SYNC_INTERRUPTED")
    assert db.records.count_pending_sync() <= 10 - 4  # confirmed ones were recorded


def test_a_station_sync_takes_the_lock(station_folder, allowlist_table, cloud_item):
    from sync_helpers import provision_into

    from station.context import open_station
    from station.locks import FileLock, LockBusy, lock_path
    from station.sync.engine import run_station_sync

    ini = station_folder / "station.ini"
    ini.write_text(ini.read_text() + f"\n[cloud]\ntable = {allowlist_table.name}\n"
                   f"region = {allowlist_table.region}\nendpoint_url = {allowlist_table.endpoint_url}\n")
    with open_station(ini) as station:
        provision_into(station.config.database, station.config.station_id, "SIM000001")
        with FileLock(lock_path(station.config, "sync"), purpose="test"):
            with pytest.raises(LockBusy):
                run_station_sync(station.records, station.config)
        assert run_station_sync(station.records, station.config).sent == 1
    assert cloud_item("SIM000001")["station_id"] == "DEMO-STATION-1"


def test_a_device_key_another_serial_holds_in_the_table_is_a_conflict(make_db, syncer, cloud_item):
    first, second = make_db("a", "ST-A"), make_db("b", "ST-B")
    key = fingerprint("one key on two boards")
    first.provision("SN1", key=key)
    assert syncer(first).run().sent == 1

    second.provision("SN2", key=key)  # another station, another serial, the same key
    report = syncer(second).run()

    assert report.conflict_serials == ("SN2",) and report.exit_code == 4
    assert cloud_item("SN2") is None
    assert "SN1" in second.records.sync_conflicts()[0]["detail"]


def test_signed_rows_carry_a_signature_the_station_key_verifies(db, syncer, cloud_item, tmp_path):
    from station.allowlist_item import decode_item
    from station.sync.signing import create_signing_key, verify_row

    signer = create_signing_key(tmp_path / "key.pem", "ST-A")
    db.provision("SN1")
    syncer(db, signer=signer).run()

    raw = cloud_item("SN1")
    item = decode_item(raw)
    assert item is not None and item.signer_key_id == signer.key_id
    assert verify_row(item, signer.public_der)
    forged = decode_item({**raw, "device_key_sha256": fingerprint("a clone's key")})
    assert not verify_row(forged, signer.public_der)
