"""The trust chain end to end: boards provisioned on the line, `station sync`, and the real
pre-provisioning hook deciding on the certificates AWS IoT would issue for the boards' CSRs.

Runs against the loopback DynamoDB-compatible server, or unchanged against the endpoint in
$STATION_TEST_DYNAMODB_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization

from records import Records
from station.admin.stations import register_station, retire_station
from station.allowlist_item import create_stations_table
from station.demo.trust_check import (
    CloudSide,
    ask_hook,
    board_csr,
    check_trust_chain,
    hook_event,
    issue_certificate,
)
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner
from station.sync.engine import run_station_sync, station_signer


@pytest.fixture
def line(station, boards, allowlist_table):
    """Three boards PASSed on the line and synced, signed, to a fresh table whose station key
    the administrator registered; yields what the test needs."""
    sims = boards(3)
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    results = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([b.port for b in sims])
    assert all(r.passed for r in results)
    stations = f"{allowlist_table.name}-stations"
    create_stations_table(allowlist_table.client, stations)
    signer = station_signer(station.config)
    register_station(allowlist_table.client, stations, station.config.station_id, signer.public_der)
    cloud = replace(station.config.cloud, table=allowlist_table.name, endpoint_url=allowlist_table.endpoint_url,
                    region=allowlist_table.region)
    config = replace(station.config, cloud=cloud)
    report = run_station_sync(station.records, config, lock=False)
    assert report.sent == 3

    class Line:
        keys = {b.serial: b.device_private_key for b in sims}
        ca_cert = config.claim.root_ca
        ca_key = config.claim.root_ca.with_name("demo-ca-key.pem")
        claim_sha256 = station.claim().cert_sha256
        side = CloudSide(allowlist_table.name, stations, allowlist_table.endpoint_url, allowlist_table.region)
        table = allowlist_table
        station_key = signer
        settings = config

        @staticmethod
        def sync():
            return run_station_sync(station.records, config, lock=False)

        def ask(self, event, **settings):
            return ask_hook(self.side, event, **settings)

        def certificate(self, serial: str, key=None):
            return issue_certificate(serial, board_csr(serial, key or self.keys[serial]), self.ca_cert, self.ca_key)

        def event(self, serial, certificate, *, key="board", **kwargs):
            device_key = self.keys.get(serial) if key == "board" else key
            return hook_event(serial, certificate, claim_sha256=self.claim_sha256, device_key=device_key, **kwargs)

    yield Line()


def test_a_board_passed_on_the_station_and_synced_is_allowed_once(line):
    serial = next(iter(line.keys))
    certificate = line.certificate(serial)
    first, overrides, _ = line.ask(line.event(serial, certificate))
    second, _, reason = line.ask(line.event(serial, line.certificate(serial)))
    assert first and not second and reason == "ALREADY_PROVISIONED"
    assert overrides["ThingName"].endswith(serial)


def test_a_lost_answer_retried_with_the_same_certificate_is_allowed_again(line):
    serial = next(iter(line.keys))
    certificate = line.certificate(serial)
    assert line.ask(line.event(serial, certificate))[0]
    allowed, _, reason = line.ask(line.event(serial, certificate))
    assert allowed and reason == "SAME_CERTIFICATE"


def test_a_second_certificate_is_allowed_only_when_reprovisioning_is_enabled(line):
    serial = next(iter(line.keys))
    assert line.ask(line.event(serial, line.certificate(serial)), allow_reprovision=True)[0]
    assert line.ask(line.event(serial, line.certificate(serial)), allow_reprovision=True)[0]


def test_a_replayed_csr_without_the_devices_proof_is_refused_and_the_board_still_gets_in(line):
    serial = next(iter(line.keys))
    stolen = line.certificate(serial)  # anyone with the claim key can have the board's CSR signed
    allowed, _, reason = line.ask(line.event(serial, stolen, key=None))
    assert not allowed and reason == "DEVICE_SIGNATURE_MISSING"
    assert line.ask(line.event(serial, line.certificate(serial)))[0], "the genuine board must still get in"


def test_another_claim_certificate_than_the_rows_is_refused(line):
    serial = next(iter(line.keys))
    allowed, _, reason = line.ask(hook_event(serial, line.certificate(serial), claim_sha256="ab" * 32,
                                             device_key=line.keys[serial]))
    assert not allowed and reason == "CLAIM_CERT_MISMATCH"


def test_an_unknown_serial_is_refused(line):
    key = next(iter(line.keys.values()))
    assert not line.ask(line.event("NEVER-MADE", line.certificate("NEVER-MADE", key=key), key=key))[0]


def test_a_serial_revoked_on_the_station_is_refused_after_the_next_sync(station, line):
    serial = next(iter(line.keys))
    station.records.revoke(serial, actor="qa", reason="scrapped")
    line.sync()
    allowed, _, reason = line.ask(line.event(serial, line.certificate(serial)))
    assert not allowed and reason == "REVOKED"


def test_a_clone_with_the_right_serial_but_another_key_pair_is_refused(line):
    from cryptography.hazmat.primitives.asymmetric import ec

    serial = next(iter(line.keys))
    clone_key = ec.generate_private_key(ec.SECP256R1())
    assert not line.ask(line.event(serial, line.certificate(serial, key=clone_key), key=clone_key))[0]
    assert line.ask(line.event(serial, line.certificate(serial)))[0], "the genuine board must still get in"


def test_an_unconditional_update_with_a_forged_key_is_refused_by_its_signature(line):
    from cryptography.hazmat.primitives.asymmetric import ec

    serial = next(iter(line.keys))
    clone_key = ec.generate_private_key(ec.SECP256R1())
    clone_spki = clone_key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    line.table.client.update_item(  # a stolen AWS credential leaves the condition out
        TableName=line.table.name, Key={"serial": {"S": serial}},
        UpdateExpression="SET device_key_sha256 = :key",
        ExpressionAttributeValues={":key": {"S": hashlib.sha256(clone_spki).hexdigest()}},
    )
    allowed, _, reason = line.ask(line.event(serial, line.certificate(serial, key=clone_key), key=clone_key))
    assert not allowed and reason == "ROW_SIGNATURE_INVALID"


def test_rows_of_a_retired_station_are_refused(line):
    retire_station(line.table.client, line.side.stations_table, line.station_key.key_id)
    serial = next(iter(line.keys))
    allowed, _, reason = line.ask(line.event(serial, line.certificate(serial)))
    assert not allowed and reason == "STATION_RETIRED"


def test_a_revoke_after_restoring_an_old_backup_is_refused_in_the_cloud(station, line, tmp_path):
    serial = next(iter(line.keys))
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(station.config.database) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # the unit at rev 1
    station.records.revoke(serial, actor="qa", reason="test")
    station.records.unrevoke(serial, actor="qa", reason="test")
    line.sync()  # the cloud holds rev 3: allowed

    with Records(backup) as restored:  # the station's database restored from the old backup
        restored.revoke(serial, actor="qa", reason="stolen from the line")  # rev 2 there
        report = run_station_sync(restored, line.settings, lock=False)

    assert report.pending_left == 0
    allowed, _, reason = line.ask(line.event(serial, line.certificate(serial)))
    assert not allowed and reason == "REVOKED"


@pytest.mark.parametrize("event", [
    None, "text", {}, {"parameters": {}}, {"parameters": {"SerialNumber": 12}},
    {"parameters": {"SerialNumber": "SIM000001"}, "certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n"},
    {"parameters": {"SerialNumber": "S" * 100_000}, "certificatePem": "x" * 100_000},
], ids=["none", "text", "empty", "no-serial", "serial-not-string", "bad-pem", "huge"])
def test_a_malformed_event_is_refused_without_a_crash(line, event):
    assert line.ask(event)[0] is False


def test_both_documented_event_shapes_are_accepted(line):
    first, second = list(line.keys)[:2]
    assert line.ask(line.event(first, line.certificate(first), shape="parameters"))[0]
    assert line.ask(line.event(second, line.certificate(second), shape="incomingParameters"))[0]


def test_two_simultaneous_requests_for_one_serial_allow_exactly_one(line):
    serial = next(iter(line.keys))
    certificates = [line.certificate(serial), line.certificate(serial)]
    barrier = threading.Barrier(2)
    verdicts: list[bool] = []

    def request(certificate) -> None:
        barrier.wait()
        verdicts.append(line.ask(line.event(serial, certificate))[0])

    threads = [threading.Thread(target=request, args=(c,)) for c in certificates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(verdicts) == [False, True]


def test_the_whole_table_of_cases_as_the_demo_prints_it(station, line):
    serials = list(line.keys)
    station.records.revoke(serials[-1], actor="qa", reason="scrapped")
    line.sync()
    cases = check_trust_chain(line.keys, cloud=line.side, ca_cert=line.ca_cert, ca_key=line.ca_key,
                              claim_sha256=line.claim_sha256, signer=line.station_key, revoked=serials[-1])
    assert [c.name for c in cases if not c.ok] == []
    names = {c.name for c in cases}
    assert {"replayed CSR without the device's proof", "the answer was lost: same certificate again",
            "a row no station signed (stolen AWS credential)", "a row signed by an unregistered key",
            "one device key on two serials", "another claim certificate than the row's"} <= names
