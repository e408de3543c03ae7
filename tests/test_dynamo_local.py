"""station.sync.local_server: a DynamoDB-compatible server on loopback, over real HTTP."""

from __future__ import annotations

import builtins
import socket
import sys
import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config

from station.allowlist_item import create_allowlist_table
from station.errors import StationError
from station.sync.local_server import LocalDynamo


def _client(endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def server() -> Any:
    with LocalDynamo() as db:
        yield db


def test_starts_and_answers_list_tables(server):
    url = server.endpoint_url
    assert url.startswith("http://127.0.0.1:")
    assert int(url.rsplit(":", 1)[1]) == server.port > 0
    assert isinstance(_client(url).list_tables()["TableNames"], list)


def test_is_quiet(capfd):
    with LocalDynamo() as db:
        client = _client(db.endpoint_url)
        client.list_tables()
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_table(TableName="no-such-table")  # a 400 is quiet too
    out, err = capfd.readouterr()
    assert "POST / HTTP" not in err + out
    assert "MotoServer" not in err + out


def test_two_servers_use_distinct_ports():
    with LocalDynamo() as first, LocalDynamo() as second:
        assert first.endpoint_url != second.endpoint_url
        for db in (first, second):
            _client(db.endpoint_url).list_tables()


def test_stop_frees_the_port():
    db = LocalDynamo()
    db.start()
    port = db.port
    _client(db.endpoint_url).list_tables()
    db.stop()
    db.stop()  # twice is fine
    assert not db.running
    with pytest.raises(StationError) as excinfo:
        _ = db.endpoint_url
    assert excinfo.value.code == "DYNAMO_LOCAL_NOT_STARTED"
    with socket.create_server(("127.0.0.1", port)):
        pass  # nobody holds the port any more
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_fixed_port_and_port_in_use():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalDynamo(port=port) as db:
        assert db.endpoint_url == f"http://127.0.0.1:{port}"
        with pytest.raises(StationError) as excinfo:
            LocalDynamo(port=port).start()
        assert excinfo.value.code == "DYNAMO_LOCAL_START_FAILED"


def test_create_allowlist_table_is_idempotent(server):
    client = _client(server.endpoint_url)
    name = f"allowlist-{uuid.uuid4().hex[:8]}"
    create_allowlist_table(client, name)
    create_allowlist_table(client, name)  # no-op
    resource = boto3.session.Session().resource(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_allowlist_table(resource, name)  # a service resource works too
    table = client.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "serial", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert indexes["device-key-index"]["KeySchema"] == [
        {"AttributeName": "device_key_sha256", "KeyType": "HASH"}]
    index = indexes["batch-index"]
    assert index["KeySchema"] == [{"AttributeName": "batch", "KeyType": "HASH"}]
    assert index["Projection"]["ProjectionType"] == "ALL"
    # Usable: write a row and find it by batch.
    client.put_item(TableName=name, Item={"serial": {"S": "SN-1"}, "batch": {"S": "B1"}})
    found = client.query(
        TableName=name,
        IndexName="batch-index",
        KeyConditionExpression="batch = :b",
        ExpressionAttributeValues={":b": {"S": "B1"}},
    )
    assert [i["serial"]["S"] for i in found["Items"]] == ["SN-1"]
    client.delete_table(TableName=name)


def test_create_allowlist_table_refuses_another_schema(server):
    client = _client(server.endpoint_url)
    name = f"other-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(StationError) as excinfo:
        create_allowlist_table(client, name)
    assert excinfo.value.code == "DYNAMO_TABLE_MISMATCH"
    assert "serial" in excinfo.value.message
    client.delete_table(TableName=name)


def test_conditional_writes_are_atomic_under_concurrency(server):
    """moto checks a condition, then writes, without a lock; LocalDynamo serializes."""
    client = _client(server.endpoint_url)
    name = f"race-{uuid.uuid4().hex[:8]}"
    create_allowlist_table(client, name)
    contenders = 6
    clients = [_client(server.endpoint_url) for _ in range(contenders)]
    for c in clients:
        c.describe_table(TableName=name)  # connect and warm up outside the race

    def claim(i: int, serial: str, barrier: Any, wins: list) -> None:
        barrier.wait()
        try:
            clients[i].update_item(
                TableName=name,
                Key={"serial": {"S": serial}},
                UpdateExpression="SET provisioned_at = :t",
                ConditionExpression="attribute_not_exists(provisioned_at)",
                ExpressionAttributeValues={":t": {"S": str(i)}},
            )
            wins.append(i)
        except clients[i].exceptions.ConditionalCheckFailedException:
            pass

    old_interval = sys.getswitchinterval()
    try:
        for n in range(10):
            serial = f"SN-{n}"
            client.put_item(TableName=name, Item={"serial": {"S": serial}})
            barrier = threading.Barrier(contenders)
            wins: list[int] = []
            threads = [
                threading.Thread(target=claim, args=(i, serial, barrier, wins))
                for i in range(contenders)
            ]
            sys.setswitchinterval(1e-4)  # make thread switches inside a request likely
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            sys.setswitchinterval(old_interval)
            assert len(wins) == 1, f"round {n}: winners {wins}"
    finally:
        sys.setswitchinterval(old_interval)
        client.delete_table(TableName=name)


def test_missing_moto_is_a_station_error(monkeypatch):
    import station.sync.local_server as dynamo_local

    real_import = builtins.__import__

    def no_moto(name, *args, **kwargs):
        if name == "moto" or name.startswith("moto."):
            raise ImportError("No module named 'moto'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(dynamo_local, "_SERVER_CLASS", None)
    monkeypatch.setattr(builtins, "__import__", no_moto)
    with pytest.raises(StationError) as excinfo:
        LocalDynamo()
    assert excinfo.value.code == "DYNAMO_LOCAL_MISSING"
    assert "provisioning-station[demo]" in excinfo.value.hint


def test_a_server_in_its_own_process_answers_and_is_gone_after_stop():
    import os

    from station.sync.local_server import LocalDynamoProcess

    server = LocalDynamoProcess()
    url = server.start()
    pid = server.pid
    assert pid is not None and pid != os.getpid(), "the server shares the caller's process (and its GIL)"
    create_allowlist_table(_client(url), "in-a-child")
    assert "in-a-child" in _client(url).list_tables()["TableNames"]
    server.stop()
    server.stop()
    with pytest.raises(StationError) as excinfo:
        _ = server.endpoint_url
    assert excinfo.value.code == "DYNAMO_LOCAL_NOT_STARTED"
    with pytest.raises(Exception):  # noqa: B017 - connection refused, whatever botocore calls it
        _client(url).list_tables()


def test_a_server_process_that_cannot_listen_says_why_with_the_servers_own_code():
    from station.sync.local_server import LocalDynamoProcess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StationError) as excinfo:
            LocalDynamoProcess(port=taken.getsockname()[1]).start()
    assert excinfo.value.code == "DYNAMO_LOCAL_START_FAILED"
    assert "could not listen" in excinfo.value.message and not excinfo.value.message.startswith("DYNAMO")


PARENT_THAT_DIES = """
import os
from station.sync.local_server import LocalDynamoProcess

if __name__ == "__main__":  # a spawned child imports this file again
    server = LocalDynamoProcess()
    server.start()
    print(server.pid, server.endpoint_url, flush=True)
    os._exit(0)  # no clean-up at all, as when the app is killed
"""


@pytest.mark.skipif(sys.platform == "win32", reason="checks the process table the POSIX way")
def test_the_server_process_ends_when_the_app_that_started_it_dies(tmp_path):
    import os
    import subprocess
    import time

    script = tmp_path / "parent.py"
    script.write_text(PARENT_THAT_DIES)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail("the local DynamoDB server outlived the app that started it")
