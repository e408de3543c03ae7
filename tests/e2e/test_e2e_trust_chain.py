"""The trust chain end to end: boards provisioned on the line, `station sync`, and the real
pre-provisioning hook deciding on the certificates AWS IoT would issue for the boards' CSRs.

Runs against the loopback DynamoDB-compatible server, or unchanged against the endpoint in
$STATION_TEST_DYNAMODB_ENDPOINT.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from station.demo.trust_check import (
    ask_hook,
    board_csr,
    check_trust_chain,
    hook_environment,
    hook_event,
    issue_certificate,
)
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner
from station.sync.engine import run_station_sync


@pytest.fixture
def line(station, boards, allowlist_table):
    """Three boards PASSed on the line and synced to a fresh table; yields what the test needs."""
    sims = boards(3)
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    results = LineRunner(provisioner, ManualPorts(), batch="B1", operator="tester").run_once([b.port for b in sims])
    assert all(r.passed for r in results)
    cloud = replace(station.config.cloud, table=allowlist_table.name, endpoint_url=allowlist_table.endpoint_url,
                    region=allowlist_table.region)
    config = replace(station.config, cloud=cloud)
    report = run_station_sync(station.records, config, lock=False)
    assert report.sent == 3

    class Line:
        keys = {b.serial: b.device_private_key for b in sims}
        ca_cert = config.claim.root_ca
        ca_key = config.claim.root_ca.with_name("demo-ca-key.pem")

        @staticmethod
        def sync() -> None:
            run_station_sync(station.records, config, lock=False)

        @staticmethod
        def hook(**settings: str):
            return hook_environment(cloud.table, cloud.endpoint_url, cloud.region, **settings)

        def certificate(self, serial: str, key=None):
            return issue_certificate(serial, board_csr(serial, key or self.keys[serial]), self.ca_cert, self.ca_key)

    yield Line()


def test_a_board_passed_on_the_station_and_synced_is_allowed_once(line):
    serial = next(iter(line.keys))
    certificate = line.certificate(serial)
    with line.hook():
        first, overrides = ask_hook(hook_event(serial, certificate))
        second, _ = ask_hook(hook_event(serial, certificate))
    assert first and not second
    assert overrides["ThingName"].endswith(serial)


def test_a_replay_is_allowed_again_only_when_reprovisioning_is_enabled(line):
    serial = next(iter(line.keys))
    certificate = line.certificate(serial)
    with line.hook(ALLOW_REPROVISION="true"):
        assert ask_hook(hook_event(serial, certificate))[0]
        assert ask_hook(hook_event(serial, line.certificate(serial)))[0]


def test_an_unknown_serial_is_refused(line):
    certificate = line.certificate("NEVER-MADE", key=next(iter(line.keys.values())))
    with line.hook():
        assert not ask_hook(hook_event("NEVER-MADE", certificate))[0]


def test_a_serial_revoked_on_the_station_is_refused_after_the_next_sync(station, line):
    serial = next(iter(line.keys))
    station.records.revoke(serial, actor="qa", reason="scrapped")
    line.sync()
    with line.hook():
        assert not ask_hook(hook_event(serial, line.certificate(serial)))[0]


def test_a_clone_with_the_right_serial_but_another_key_pair_is_refused(line):
    from cryptography.hazmat.primitives.asymmetric import ec

    serial = next(iter(line.keys))
    clone = line.certificate(serial, key=ec.generate_private_key(ec.SECP256R1()))
    with line.hook():
        assert not ask_hook(hook_event(serial, clone))[0]
        assert ask_hook(hook_event(serial, line.certificate(serial)))[0], "the genuine board must still get in"


@pytest.mark.parametrize("event", [
    None, "text", {}, {"parameters": {}}, {"parameters": {"SerialNumber": 12}},
    {"parameters": {"SerialNumber": "SIM000001"}, "certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n"},
    {"parameters": {"SerialNumber": "S" * 100_000}, "certificatePem": "x" * 100_000},
], ids=["none", "text", "empty", "no-serial", "serial-not-string", "bad-pem", "huge"])
def test_a_malformed_event_is_refused_without_a_crash(line, event):
    with line.hook():
        assert ask_hook(event)[0] is False


def test_both_documented_event_shapes_are_accepted(line):
    first, second = list(line.keys)[:2]
    with line.hook():
        assert ask_hook(hook_event(first, line.certificate(first), shape="parameters"))[0]
        assert ask_hook(hook_event(second, line.certificate(second), shape="incomingParameters"))[0]


def test_two_simultaneous_requests_for_one_serial_allow_exactly_one(line):
    serial = next(iter(line.keys))
    certificates = [line.certificate(serial), line.certificate(serial)]
    barrier = threading.Barrier(2)
    verdicts: list[bool] = []

    def request(certificate) -> None:
        barrier.wait()
        verdicts.append(ask_hook(hook_event(serial, certificate))[0])

    with line.hook():
        threads = [threading.Thread(target=request, args=(c,)) for c in certificates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(verdicts) == [False, True]


def test_a_warm_container_that_allowed_one_board_refuses_an_unknown_serial_next(line):
    serial = next(iter(line.keys))
    with line.hook():
        assert ask_hook(hook_event(serial, line.certificate(serial)))[0]
        unknown = line.certificate("NEVER-MADE", key=line.keys[serial])
        allowed, overrides = ask_hook(hook_event("NEVER-MADE", unknown))
    assert not allowed and not overrides


def test_the_whole_table_of_cases_as_the_demo_prints_it(station, line):
    serials = list(line.keys)
    station.records.revoke(serials[-1], actor="qa", reason="scrapped")
    line.sync()
    with line.hook():
        cases = check_trust_chain(line.keys, ca_cert=line.ca_cert, ca_key=line.ca_key, revoked=serials[-1])
    assert [c.name for c in cases if not c.ok] == []
    assert sum(c.allowed for c in cases) == len(serials) - 1
