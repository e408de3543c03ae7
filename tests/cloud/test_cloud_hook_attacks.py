"""Issue 14: each attack that was shown against the hook, as a test.

Every test here failed against the hook before signed rows, the station registry, the
device's proof of possession and the claim certificate check; each now passes. The hook
runs from its Lambda zip against the loopback DynamoDB-compatible server.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import time
from typing import Any

import pytest
from cloud_rows import CLAIM_CERT, StationKey, make_event, pop_signature, unit_values
from cryptography.hazmat.primitives.asymmetric import ed25519

SERIAL = "SN-000777"


def _last(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    return json.loads(lines[-1])


def _allowed(response: dict[str, Any]) -> bool:
    return response["allowProvisioning"] is True


# ----------------------------------------------------------------- stolen station credential


def test_an_unconditional_update_swapping_the_device_key_is_refused(
    hook, ca, put_unit, ddb, table, get_unit, event_for, capsys
):
    genuine = ca.issue(SERIAL)
    put_unit(SERIAL, genuine.key_sha256)
    clone = ca.issue(SERIAL)
    # What a stolen station credential could do: one UpdateItem without any condition.
    ddb.update_item(
        TableName=table, Key={"serial": {"S": SERIAL}},
        UpdateExpression="SET device_key_sha256 = :k",
        ExpressionAttributeValues={":k": {"S": clone.key_sha256}},
    )
    assert not _allowed(hook.handler(event_for(SERIAL, clone), None))
    assert _last(capsys)["reason"] == "ROW_SIGNATURE_INVALID"
    assert "provisioned_at" not in get_unit(SERIAL)


def test_a_row_signed_by_an_unregistered_key_is_refused(hook, ca, put_unit, event_for, capsys):
    cert = ca.issue("SN-NEVER-MADE")
    put_unit("SN-NEVER-MADE", cert.key_sha256, signer=StationKey("line1-st3"))  # forged key
    assert not _allowed(hook.handler(event_for("SN-NEVER-MADE", cert), None))
    assert _last(capsys)["reason"] == "STATION_UNKNOWN"


def test_an_unsigned_row_is_refused(hook, ca, put_unit, event_for, capsys):
    cert = ca.issue("SN-NEVER-MADE")
    put_unit("SN-NEVER-MADE", cert.key_sha256, signer=None)
    assert not _allowed(hook.handler(event_for("SN-NEVER-MADE", cert), None))
    assert _last(capsys)["reason"] == "ROW_UNSIGNED"


def test_a_row_of_a_retired_station_is_refused(
    hook, ca, put_unit, ddb, stations_table, station_key, event_for, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    station_key.register(ddb, stations_table, status="retired")
    assert not _allowed(hook.handler(event_for(SERIAL, cert), None))
    assert _last(capsys)["reason"] == "STATION_RETIRED"


def test_a_registered_key_signing_for_another_station_is_refused(
    hook, ca, put_unit, event_for, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, station_id="line2-st1")  # key registered for line1-st3
    assert not _allowed(hook.handler(event_for(SERIAL, cert), None))
    assert _last(capsys)["reason"] == "STATION_MISMATCH"


def test_a_registry_entry_whose_key_does_not_match_its_id_is_refused(
    hook, ca, put_unit, ddb, stations_table, station_key, event_for, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    other = StationKey("line1-st3")
    ddb.update_item(
        TableName=stations_table, Key={"key_id": {"S": station_key.key_id}},
        UpdateExpression="SET public_key = :p",
        ExpressionAttributeValues={":p": {"S": base64.b64encode(other.public_der).decode()}},
    )
    assert not _allowed(hook.handler(event_for(SERIAL, cert), None))
    assert _last(capsys)["reason"] == "STATION_KEY_INVALID"


def test_a_revoked_row_is_refused_signed_or_not(hook, ca, put_unit, event_for, capsys):
    for signer in ("default", None):
        cert = ca.issue(SERIAL)
        if signer is None:
            put_unit(SERIAL, cert.key_sha256, status="revoked", signer=None)
        else:
            put_unit(SERIAL, cert.key_sha256, status="revoked")
        assert not _allowed(hook.handler(event_for(SERIAL, cert), None))
        assert _last(capsys)["reason"] == "REVOKED"


# ----------------------------------------------------------------- replayed CSR


def test_a_replayed_csr_without_the_devices_signature_is_refused_and_the_board_still_provisions(
    hook, ca, put_unit, get_unit, event_for, capsys
):
    board_key = ca.new_key()
    put_unit(SERIAL, ca.issue(SERIAL, board_key).key_sha256)
    # The attacker holds the claim key and the board's CSR: AWS issues a certificate for
    # the board's public key, but the attacker cannot sign with the board's private key.
    stolen = ca.issue(SERIAL, board_key)
    assert not _allowed(hook.handler(event_for(SERIAL, stolen, pop=False), None))
    assert _last(capsys)["reason"] == "DEVICE_SIGNATURE_MISSING"
    forged = event_for(SERIAL, stolen, pop=False)
    forged["parameters"]["DeviceSignature"] = pop_signature(ca.new_key(), SERIAL, stolen.certificate_id)
    assert not _allowed(hook.handler(forged, None))
    assert _last(capsys)["reason"] == "DEVICE_SIGNATURE_INVALID"
    assert "provisioned_at" not in get_unit(SERIAL)

    genuine = ca.issue(SERIAL, board_key)
    assert _allowed(hook.handler(event_for(SERIAL, genuine), None))
    assert get_unit(SERIAL)["certificate_id"] == genuine.certificate_id


def test_a_signature_for_another_certificate_is_refused(hook, ca, put_unit, event_for, capsys):
    key = ca.new_key()
    first, second = ca.issue(SERIAL, key), ca.issue(SERIAL, key)
    put_unit(SERIAL, first.key_sha256)
    event = event_for(SERIAL, second, pop=False)
    event["parameters"]["DeviceSignature"] = pop_signature(key, SERIAL, first.certificate_id)
    assert not _allowed(hook.handler(event, None))
    assert _last(capsys)["reason"] == "DEVICE_SIGNATURE_INVALID"


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa2048"])
def test_each_supported_device_key_proves_possession(hook, ca, put_unit, event_for, kind):
    cert = ca.issue(SERIAL, ca.new_key(kind))
    put_unit(SERIAL, cert.key_sha256)
    assert _allowed(hook.handler(event_for(SERIAL, cert), None))


def test_an_unsupported_device_key_is_refused_with_its_own_code(
    hook, ca, put_unit, event_for, capsys
):
    cert = ca.issue(SERIAL, ed25519.Ed25519PrivateKey.generate())
    put_unit(SERIAL, cert.key_sha256)
    event = event_for(SERIAL, cert, pop=False)
    event["parameters"]["DeviceSignature"] = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    assert not _allowed(hook.handler(event, None))
    assert _last(capsys)["reason"] == "DEVICE_KEY_UNSUPPORTED"


@pytest.mark.parametrize("signature", ["", "!!!", "AAAA", "A" * 3000, 42])
def test_a_malformed_device_signature_is_refused(hook, ca, put_unit, event_for, capsys, signature):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    event = event_for(SERIAL, cert, pop=False)
    event["parameters"]["DeviceSignature"] = signature
    assert not _allowed(hook.handler(event, None))
    assert _last(capsys)["reason"] in {"DEVICE_SIGNATURE_INVALID", "DEVICE_SIGNATURE_MISSING"}


def test_the_possession_check_can_be_switched_off(hook, ca, put_unit, event_for, monkeypatch):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    monkeypatch.setenv("REQUIRE_DEVICE_SIGNATURE", "maybe")  # anything but "off" keeps it on
    assert not _allowed(hook.handler(event_for(SERIAL, cert, pop=False), None))
    monkeypatch.setenv("REQUIRE_DEVICE_SIGNATURE", "false")
    assert _allowed(hook.handler(event_for(SERIAL, cert, pop=False), None))


# ----------------------------------------------------------------- claim certificate


def test_the_wrong_claim_certificate_is_refused(hook, ca, put_unit, event_for, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, claim_cert="d" * 64)
    assert not _allowed(hook.handler(event_for(SERIAL, cert), None))
    assert _last(capsys)["reason"] == "CLAIM_CERT_MISMATCH"
    event = event_for(SERIAL, cert)
    del event["claimCertificateId"]
    assert not _allowed(hook.handler(event, None))
    assert _last(capsys)["reason"] == "CLAIM_CERT_MISSING"


def test_the_claim_certificate_id_is_compared_case_insensitively(hook, ca, put_unit, event_for):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, claim_cert="ab" * 32)
    assert _allowed(hook.handler(event_for(SERIAL, cert, claim_cert="AB" * 32), None))


# ----------------------------------------------------------------- one key, two serials


def test_two_serials_with_one_device_key_are_refused(hook, ca, put_unit, event_for, capsys):
    key = ca.new_key()
    first, second = ca.issue("SN-A", key), ca.issue("SN-B", key)
    put_unit("SN-A", first.key_sha256)
    put_unit("SN-B", second.key_sha256, station_id="line1-st3")
    assert not _allowed(hook.handler(event_for("SN-B", second), None))
    assert _last(capsys)["reason"] == "DUPLICATE_DEVICE_KEY"


# ----------------------------------------------------------------- lost answers


def test_a_retry_after_a_lost_answer_is_allowed_a_different_certificate_is_not(
    hook, ca, put_unit, get_unit, event_for, capsys
):
    key = ca.new_key()
    cert = ca.issue(SERIAL, key)
    put_unit(SERIAL, cert.key_sha256)
    assert _allowed(hook.handler(event_for(SERIAL, cert), None))  # IoT never got this answer
    assert _allowed(hook.handler(event_for(SERIAL, cert), None))
    assert _last(capsys)["reason"] == "SAME_CERTIFICATE"
    assert not _allowed(hook.handler(event_for(SERIAL, ca.issue(SERIAL, key)), None))
    assert _last(capsys)["reason"] == "ALREADY_PROVISIONED"
    assert get_unit(SERIAL)["certificate_id"] == cert.certificate_id


def test_a_failed_claim_returned_without_the_item_is_judged_on_a_fresh_read(
    hook, ca, put_unit, get_unit, event_for, dynamo_endpoint, monkeypatch, capsys
):
    from test_cloud_hook import _LosingProxy

    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    with _LosingProxy(dynamo_endpoint, strip_item=True) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        hook.reset_client_cache()
        response = hook.handler(event_for(SERIAL, cert), None)
    assert proxy.dropped == 1 and proxy.stripped == 1
    record = _last(capsys)
    assert _allowed(response), record
    assert record["reason"] == "SAME_CERTIFICATE"  # not UNKNOWN_SERIAL
    assert get_unit(SERIAL)["certificate_id"] == cert.certificate_id


# ----------------------------------------------------------------- time


def test_a_table_that_never_answers_costs_under_three_seconds_in_all(
    hook, ca, event_for, monkeypatch, capsys
):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{silent.getsockname()[1]}")
        hook.reset_client_cache()
        cert = ca.issue(SERIAL)
        started = time.monotonic()
        response = hook.handler(event_for(SERIAL, cert), None)
        elapsed = time.monotonic() - started
    assert not _allowed(response)
    assert _last(capsys)["reason"] in {"DB_ERROR", "DEADLINE"}
    assert elapsed < 3.0, elapsed


# ----------------------------------------------------------------- the public entry


def test_decide_takes_explicit_settings_and_a_client(
    packaged_cloud, ca, put_unit, get_unit, table, stations_table, dynamo_endpoint, aws_env,
    monkeypatch,
):
    hook = packaged_cloud.hook
    for name in ("TABLE_NAME", "STATIONS_TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    settings = hook.HookSettings(
        table_name=table, stations_table_name=stations_table, thing_name_prefix="acme-",
        registry_cache_seconds=0,
    )
    client = hook.make_client(endpoint_url=dynamo_endpoint, region_name=aws_env)
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    stamp = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    decision = hook.decide(make_event(SERIAL, cert), settings, dynamodb=client, now=stamp)
    assert decision.allow and decision.reason == "PROVISIONED"
    assert decision.response() == {
        "allowProvisioning": True,
        "parameterOverrides": {"ThingName": f"acme-{SERIAL}", "Batch": "B-2024-001"},
    }
    assert get_unit(SERIAL)["provisioned_at"] == "2030-01-02T03:04:05.000Z"
    refused = hook.decide(make_event("SN-OTHER", cert), settings, dynamodb=client)
    assert not refused.allow and refused.reason == "UNKNOWN_SERIAL"
    client.close()


def test_settings_from_the_environment():
    from cloud.hook import HookSettings

    settings = HookSettings.from_env({
        "TABLE_NAME": " t ", "STATIONS_TABLE_NAME": "s", "ALLOW_REPROVISION": "TRUE",
        "REQUIRE_DEVICE_SIGNATURE": "off", "REGISTRY_CACHE_SECONDS": "600",
    })
    assert (settings.table_name, settings.stations_table_name) == ("t", "s")
    assert settings.allow_reprovision and not settings.require_device_signature
    assert settings.cache_seconds == 30.0  # never more than 30 s
    assert settings.problem() is None
    default = HookSettings.from_env({})
    assert default.require_device_signature and not default.allow_reprovision
    assert default.problem() == "CONFIG_TABLE_NAME_MISSING"


def test_the_station_registry_is_cached_at_most_thirty_seconds(
    hook, ca, put_unit, ddb, stations_table, station_key, event_for, monkeypatch, capsys
):
    monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "30")
    first, second = ca.issue("SN-C1"), ca.issue("SN-C2")
    put_unit("SN-C1", first.key_sha256)
    put_unit("SN-C2", second.key_sha256)
    assert _allowed(hook.handler(event_for("SN-C1", first), None))
    station_key.register(ddb, stations_table, status="retired")
    # Within the cache time the warm container may still use the entry it read ...
    assert _allowed(hook.handler(event_for("SN-C2", second), None))
    # ... and a fresh container (or one past 30 s) sees the retirement.
    hook.reset_caches()
    third = ca.issue("SN-C3")
    put_unit("SN-C3", third.key_sha256)
    assert not _allowed(hook.handler(event_for("SN-C3", third), None))
    assert _last(capsys)["reason"] == "STATION_RETIRED"


def test_unit_values_match_the_canonical_contract():
    from cloud_rows import canonical

    from cloud.hook import canonical_row_bytes

    values = unit_values("SN-\u00e9", "a" * 64, rev=7)
    assert canonical_row_bytes(values) == canonical(values)
    assert canonical(values).startswith(b'station-row/1\n{"batch":"B-2024-001",')
    assert b'"rev":7' in canonical(values) and b"\\u00e9" in canonical(values)
    assert CLAIM_CERT == "c" * 64

