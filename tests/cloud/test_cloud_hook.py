"""The pre-provisioning hook against a real DynamoDB-compatible server over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

SERIAL = "SN-000123"


def _deny(response: Any) -> bool:
    return (
        isinstance(response, dict)
        and response.get("allowProvisioning") is False
        and response.get("parameterOverrides") == {}
    )


def _last_log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines, "the hook logged nothing"
    return json.loads(lines[-1])


def test_allowed_once_and_claimed(hook, ca, put_unit, get_unit, event_for, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, batch="B-7")

    response = hook.handler(event_for(SERIAL, cert), None)

    assert response == {
        "allowProvisioning": True,
        "parameterOverrides": {"ThingName": SERIAL, "Batch": "B-7"},
    }
    item = get_unit(SERIAL)
    assert item["certificate_id"] == cert.certificate_id
    assert item["thing_name"] == SERIAL
    assert item["provisioned_at"].endswith("Z")
    # The station's attributes are untouched.
    assert item["status"] == "allowed" and item["rev"] == "1"
    record = _last_log(capsys)
    assert record["decision"] == "allow" and record["reason"] == "PROVISIONED"
    assert record["serial"] == SERIAL and record["certificateId"] == cert.certificate_id


def test_same_certificate_is_allowed_again_another_certificate_is_refused(
    hook, ca, put_unit, get_unit, event_for, capsys
):
    key = ca.new_key()
    cert = ca.issue(SERIAL, key)
    put_unit(SERIAL, cert.key_sha256)
    assert hook.handler(event_for(SERIAL, cert), None)["allowProvisioning"] is True
    first = get_unit(SERIAL)

    # The very same request again (its answer was lost, or RegisterThing failed after
    # the claim): allowed, nothing written.
    again = hook.handler(event_for(SERIAL, cert), None)
    assert again["allowProvisioning"] is True
    assert _last_log(capsys)["reason"] == "SAME_CERTIFICATE"
    # The same board with a new certificate is a second provisioning: refused.
    other = ca.issue(SERIAL, key)
    assert _deny(hook.handler(event_for(SERIAL, other), None))
    assert _last_log(capsys)["reason"] == "ALREADY_PROVISIONED"
    assert get_unit(SERIAL) == first


def test_reprovision_allows_same_key_only(hook, ca, put_unit, get_unit, event_for, monkeypatch):
    monkeypatch.setenv("ALLOW_REPROVISION", "true")
    key = ca.new_key()
    first = ca.issue(SERIAL, key)
    put_unit(SERIAL, first.key_sha256)
    assert hook.handler(event_for(SERIAL, first), None)["allowProvisioning"] is True
    assert get_unit(SERIAL)["certificate_id"] == first.certificate_id

    second = ca.issue(SERIAL, key)  # same key pair, new certificate
    assert second.certificate_id != first.certificate_id
    response = hook.handler(event_for(SERIAL, second), None)
    assert response["allowProvisioning"] is True
    assert response["parameterOverrides"]["ThingName"] == SERIAL
    assert get_unit(SERIAL)["certificate_id"] == second.certificate_id

    other = ca.issue(SERIAL)  # another key pair
    assert _deny(hook.handler(event_for(SERIAL, other), None))
    assert get_unit(SERIAL)["certificate_id"] == second.certificate_id


def test_unknown_serial_is_refused(hook, ca, put_unit, get_unit, event_for, capsys):
    cert = ca.issue("SN-UNKNOWN")
    put_unit(SERIAL, ca.issue(SERIAL).key_sha256)
    assert _deny(hook.handler(event_for("SN-UNKNOWN", cert), None))
    assert _last_log(capsys)["reason"] == "UNKNOWN_SERIAL"
    assert get_unit("SN-UNKNOWN") is None  # the claim never creates items


def test_revoked_serial_is_refused(hook, ca, put_unit, get_unit, event_for, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, status="revoked")
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "REVOKED"
    assert "provisioned_at" not in get_unit(SERIAL)


def test_clone_with_right_serial_and_other_key_is_refused(
    hook, ca, put_unit, get_unit, event_for, capsys
):
    genuine = ca.issue(SERIAL)
    clone = ca.issue(SERIAL)  # same serial, same CA, its own key pair
    put_unit(SERIAL, genuine.key_sha256)

    assert _deny(hook.handler(event_for(SERIAL, clone), None))
    assert _last_log(capsys)["reason"] == "KEY_MISMATCH"
    # The clone also cannot pass the genuine certificate through `parameters`,
    # which the device writes itself.
    event = event_for(SERIAL, clone)
    event["parameters"]["certificatePem"] = genuine.pem
    assert _deny(hook.handler(event, None))
    assert _last_log(capsys)["reason"] == "CERT_PEM_CONFLICT"
    assert "provisioned_at" not in get_unit(SERIAL)
    # The genuine board still provisions afterwards.
    assert hook.handler(event_for(SERIAL, genuine), None)["allowProvisioning"] is True


HUGE = "A" * (64 * 1024 + 1)


def _cases(cert: Any, event_for: Any) -> dict[str, Any]:
    def with_(mutate: Any) -> dict[str, Any]:
        event = event_for(SERIAL, cert)
        mutate(event)
        return event

    pem_body = cert.pem.splitlines()
    return {
        "none": None,
        "list": [event_for(SERIAL, cert)],
        "string": json.dumps(event_for(SERIAL, cert)),
        "int": 42,
        "empty dict": {},
        "parameters not a dict": with_(lambda e: e.update(parameters=[SERIAL])),
        "parameters null": with_(lambda e: e.update(parameters=None)),
        "missing serial": with_(lambda e: e["parameters"].pop("SerialNumber")),
        "serial int": with_(lambda e: e["parameters"].update(SerialNumber=123)),
        "serial list": with_(lambda e: e["parameters"].update(SerialNumber=[SERIAL])),
        "serial dict": with_(lambda e: e["parameters"].update(SerialNumber={"S": SERIAL})),
        "serial null": with_(lambda e: e["parameters"].update(SerialNumber=None)),
        "serial empty": with_(lambda e: e["parameters"].update(SerialNumber="")),
        "serial injection": with_(lambda e: e["parameters"].update(SerialNumber='a" OR 1=1')),
        "serial huge": with_(lambda e: e["parameters"].update(SerialNumber=HUGE)),
        "pem missing": with_(lambda e: e.pop("certificatePem")),
        "pem empty": with_(lambda e: e.update(certificatePem="")),
        "pem not a pem": with_(lambda e: e.update(certificatePem="hello")),
        "pem int": with_(lambda e: e.update(certificatePem=7)),
        "pem bad base64": with_(
            lambda e: e.update(
                certificatePem="-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
            )
        ),
        "pem truncated": with_(
            lambda e: e.update(certificatePem="\n".join(pem_body[:4] + pem_body[-1:]))
        ),
        "pem no end": with_(lambda e: e.update(certificatePem="\n".join(pem_body[:-1]))),
        "pem huge": with_(
            lambda e: e.update(
                certificatePem=cert.pem + HUGE,
            )
        ),
        "certificateId missing": with_(lambda e: e.pop("certificateId")),
        "certificateId huge": with_(lambda e: e.update(certificateId=HUGE)),
        "certificateId not hex": with_(lambda e: e.update(certificateId="z" * 64)),
        "certificateId list": with_(lambda e: e.update(certificateId=["a" * 64])),
    }


CASE_NAMES = [
    "none",
    "list",
    "string",
    "int",
    "empty dict",
    "parameters not a dict",
    "parameters null",
    "missing serial",
    "serial int",
    "serial list",
    "serial dict",
    "serial null",
    "serial empty",
    "serial injection",
    "serial huge",
    "pem missing",
    "pem empty",
    "pem not a pem",
    "pem int",
    "pem bad base64",
    "pem truncated",
    "pem no end",
    "pem huge",
    "certificateId missing",
    "certificateId huge",
    "certificateId not hex",
    "certificateId list",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_malformed_event_is_denied_never_raises(
    hook, ca, put_unit, get_unit, event_for, capsys, case
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    event = _cases(cert, event_for)[case]

    response = hook.handler(event, None)

    assert _deny(response)
    record = _last_log(capsys)
    assert record["decision"] == "deny"
    assert record["reason"] != "INTERNAL_ERROR"
    assert "provisioned_at" not in get_unit(SERIAL)
    # The control: the well-formed event for the same unit is allowed.
    assert hook.handler(event_for(SERIAL, cert), None)["allowProvisioning"] is True


def test_log_line_is_one_json_object_without_secrets(hook, ca, put_unit, event_for, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    capsys.readouterr()
    hook.handler(event_for(SERIAL, cert), None)
    hook.handler({"parameters": {"SerialNumber": "x" * 100_000}, "certificatePem": cert.pem}, None)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert record["event"] == "preprovision"
        assert record["decision"] in {"allow", "deny"}
    assert "BEGIN CERTIFICATE" not in out
    assert cert.pem.splitlines()[1] not in out
    assert "xxxxxxxxxx" not in out  # an insane serial is not echoed
    assert "testing" not in out and "AWS_SECRET" not in out


@pytest.mark.parametrize("shape", ["parameters", "incomingParameters"])
def test_both_documented_event_shapes(hook, ca, put_unit, event_for, capsys, shape):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    event = event_for(SERIAL, cert, shape=shape)
    assert ("parameters" in event) == (shape == "parameters")

    response = hook.handler(event, None)

    assert response["allowProvisioning"] is True
    assert response["parameterOverrides"]["ThingName"] == SERIAL
    record = _last_log(capsys)
    assert record["clientId"] == "221a6d10-9c7f-42f1-9153-e52e6fc869c1"
    assert record["claimCertificateId"] == "c" * 64


def test_configured_serial_parameter_and_thing_prefix(
    hook, ca, put_unit, get_unit, event_for, monkeypatch
):
    monkeypatch.setenv("SERIAL_PARAMETER", "DeviceSerial")
    monkeypatch.setenv("THING_NAME_PREFIX", "acme-")
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    assert _deny(hook.handler(event_for(SERIAL, cert), None))  # SerialNumber is ignored now
    response = hook.handler(event_for(SERIAL, cert, serial_parameter="DeviceSerial"), None)
    assert response["parameterOverrides"] == {"ThingName": f"acme-{SERIAL}", "Batch": "B-2024-001"}
    assert get_unit(SERIAL)["thing_name"] == f"acme-{SERIAL}"


def test_bad_configuration_or_row_denies_before_claiming(
    hook, ca, put_unit, get_unit, event_for, monkeypatch, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256, batch="batch with spaces")  # not a thing attribute
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "ITEM_INVALID"
    put_unit(SERIAL, cert.key_sha256)
    monkeypatch.setenv("THING_NAME_PREFIX", "bad prefix/")
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "CONFIG_THING_NAME_PREFIX_INVALID"
    monkeypatch.setenv("THING_NAME_PREFIX", "p" * 120)
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "THING_NAME_TOO_LONG"
    assert "provisioned_at" not in get_unit(SERIAL)


def test_two_simultaneous_requests_exactly_one_wins(hook, ca, put_unit, get_unit, event_for):
    rounds, contenders = 10, 2
    for n in range(rounds):
        serial = f"SN-RACE-{n:03d}"
        key = ca.new_key()  # one board per round: a key belongs to one serial
        certs = [ca.issue(serial, key) for _ in range(contenders)]
        put_unit(serial, certs[0].key_sha256)
        barrier = threading.Barrier(contenders)
        results: list[Any] = [None] * contenders

        def run(i: int, serial: str, certs: list, barrier: Any, results: list) -> None:
            event = event_for(serial, certs[i])
            barrier.wait()
            results[i] = hook.handler(event, None)

        threads = [
            threading.Thread(target=run, args=(i, serial, certs, barrier, results))
            for i in range(contenders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        allowed = [r for r in results if r and r["allowProvisioning"] is True]
        assert len(allowed) == 1, f"round {n}: {results}"
        assert sum(_deny(r) for r in results) == contenders - 1
        winner = results.index(allowed[0])
        assert get_unit(serial)["certificate_id"] == certs[winner].certificate_id


def test_warm_container_never_reuses_a_response(hook, ca, put_unit, event_for):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    first = hook.handler(event_for(SERIAL, cert), None)
    assert first["allowProvisioning"] is True

    stranger = ca.issue("SN-STRANGER")
    second = hook.handler(event_for("SN-STRANGER", stranger), None)

    assert second["allowProvisioning"] is False
    assert second is not first
    assert second["parameterOverrides"] is not first["parameterOverrides"]
    assert second["parameterOverrides"] == {}
    assert first["allowProvisioning"] is True  # the earlier answer was not mutated
    # A caller mutating a response does not leak into the next one either.
    second["allowProvisioning"] = True
    second["parameterOverrides"]["ThingName"] = "x"
    third = hook.handler(event_for("SN-STRANGER", stranger), None)
    assert _deny(third)


def test_missing_table_name_denies(hook, ca, put_unit, event_for, monkeypatch, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    monkeypatch.delenv("TABLE_NAME")
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "CONFIG_TABLE_NAME_MISSING"
    monkeypatch.setenv("TABLE_NAME", "   ")
    assert _deny(hook.handler(event_for(SERIAL, cert), None))


def test_missing_stations_table_name_denies(hook, ca, put_unit, event_for, monkeypatch, capsys):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    monkeypatch.delenv("STATIONS_TABLE_NAME")
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "CONFIG_STATIONS_TABLE_NAME_MISSING"


def test_missing_table_denies(hook, ca, event_for, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", "station-test-no-such-table")
    cert = ca.issue(SERIAL)
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    record = _last_log(capsys)
    assert record["reason"] == "DB_ERROR"
    assert record["detail"] == "ResourceNotFoundException"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_endpoint_down_denies_quickly(hook, ca, event_for, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{_closed_port()}")
    hook.reset_client_cache()
    cert = ca.issue(SERIAL)
    started = time.monotonic()
    response = hook.handler(event_for(SERIAL, cert), None)
    elapsed = time.monotonic() - started
    assert _deny(response)
    assert elapsed < 3.0
    assert _last_log(capsys)["reason"] == "DB_ERROR"


def test_endpoint_that_never_answers_denies_within_budget(hook, ca, event_for, monkeypatch):
    # A listening socket nobody reads: TCP connects, the HTTP answer never comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
        hook.reset_client_cache()
        cert = ca.issue(SERIAL)
        started = time.monotonic()
        response = hook.handler(event_for(SERIAL, cert), None)
        elapsed = time.monotonic() - started
    assert _deny(response)
    assert elapsed < 3.0  # the whole hook, every attempt included, well inside IoT's 5 s


class _Context:
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_too_little_time_left_denies_before_claiming(
    hook, ca, put_unit, get_unit, event_for, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    assert _deny(hook.handler(event_for(SERIAL, cert), _Context(remaining_ms=1000)))
    record = _last_log(capsys)
    assert record["reason"] == "DEADLINE" and record["requestId"] == "req-1"
    assert "provisioned_at" not in get_unit(SERIAL)
    assert hook.handler(event_for(SERIAL, cert), _Context(remaining_ms=5000))["allowProvisioning"]


def test_item_without_station_attributes_is_refused(hook, ca, ddb, table, station_key, event_for, capsys):
    cert = ca.issue(SERIAL)
    ddb.put_item(
        TableName=table,
        Item={"serial": {"S": SERIAL}, "status": {"S": "allowed"}, "batch": {"S": "B"},
              "row_sig": {"S": "AAAA"}, "signer_key_id": {"S": station_key.key_id}},
    )
    assert _deny(hook.handler(event_for(SERIAL, cert), None))
    assert _last_log(capsys)["reason"] == "ITEM_INVALID"


class _LosingProxy:
    """A loopback HTTP proxy that applies the first UpdateItem but loses its answer.

    The request reaches the DynamoDB server (the write happens), then the connection is
    dropped, as a timeout on the way back would. botocore retries the conditional
    UpdateItem, which now fails its condition against our own write.
    """

    def __init__(self, upstream: str, *, strip_item: bool = False) -> None:
        import http.client
        import http.server
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        proxy = self
        self.dropped = 0
        self.stripped = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request("POST", self.path, body=body, headers=headers)
                upstream_response = conn.getresponse()
                payload = upstream_response.read()
                conn.close()
                if "UpdateItem" in self.headers.get("X-Amz-Target", "") and not proxy.dropped:
                    proxy.dropped += 1
                    self.close_connection = True
                    return  # the write happened; the answer is lost
                if strip_item and b"ConditionalCheckFailed" in payload:
                    # An endpoint that does not return the item with a failed condition.
                    answer = json.loads(payload)
                    if answer.pop("Item", None) is not None:
                        proxy.stripped += 1
                    payload = json.dumps(answer).encode()
                self.send_response(upstream_response.status)
                for key, value in upstream_response.getheaders():
                    if key.lower() not in {"connection", "transfer-encoding", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _LosingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_lost_answer_to_the_claim_is_retried_idempotently(
    hook, ca, put_unit, get_unit, event_for, dynamo_endpoint, monkeypatch, capsys
):
    cert = ca.issue(SERIAL)
    put_unit(SERIAL, cert.key_sha256)
    with _LosingProxy(dynamo_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        hook.reset_client_cache()
        response = hook.handler(event_for(SERIAL, cert), None)
    assert proxy.dropped == 1
    assert response["allowProvisioning"] is True, _last_log(capsys)
    assert get_unit(SERIAL)["certificate_id"] == cert.certificate_id
    # A later request for the serial with another certificate is still a replay.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamo_endpoint)
    hook.reset_client_cache()
    assert _deny(hook.handler(event_for(SERIAL, ca.issue(SERIAL)), None))
