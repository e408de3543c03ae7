"""cloud/revoker.py: the allow-list stream's audit trail, and a revoke deactivating the
unit's certificate in AWS IoT. The stream records are DynamoDB's own (the loopback
server's streams API), the certificate lives in the loopback server's IoT."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config


@pytest.fixture
def iot(dynamo_endpoint: str, aws_env: str) -> Any:
    client = boto3.session.Session().client(
        "iot", endpoint_url=dynamo_endpoint, region_name=aws_env,
        config=Config(retries={"total_max_attempts": 2}),
    )
    yield client
    client.close()


@pytest.fixture
def stream(ddb: Any, table: str, dynamo_endpoint: str, aws_env: str) -> Any:
    """Turn the table's stream on; ``read()`` returns the records written since."""
    arn = ddb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    streams = boto3.session.Session().client(
        "dynamodbstreams", endpoint_url=dynamo_endpoint, region_name=aws_env
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    class Stream:
        def read(self) -> list[dict[str, Any]]:
            nonlocal iterator
            page = streams.get_records(ShardIterator=iterator)
            iterator = page["NextShardIterator"]
            for record in page["Records"]:
                record["eventSourceARN"] = arn
                approx = record["dynamodb"].get("ApproximateCreationDateTime")
                if approx is not None:
                    record["dynamodb"]["ApproximateCreationDateTime"] = str(approx)
            return page["Records"]

    yield Stream()
    streams.close()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_a_revoke_of_a_provisioned_unit_deactivates_its_certificate(
    packaged_cloud, hook, ca, put_unit, ddb, table, iot, stream, event_for, capsys
):
    revoker = packaged_cloud.revoker
    created = iot.create_keys_and_certificate(setAsActive=True)
    cert_id = created["certificateId"]
    board = ca.issue("SN-REV")
    put_unit("SN-REV", board.key_sha256)
    assert hook.handler(event_for("SN-REV", board), None)["allowProvisioning"] is True
    # In AWS the certificate the hook recorded is the one IoT registered; here the
    # loopback IoT made its own, so the row is pointed at it.
    ddb.update_item(
        TableName=table, Key={"serial": {"S": "SN-REV"}},
        UpdateExpression="SET certificate_id = :c", ExpressionAttributeValues={":c": {"S": cert_id}},
    )
    put_unit("SN-REV", board.key_sha256, status="revoked", rev=2,
             extra={"certificate_id": cert_id, "provisioned_at": "2024-05-02T00:00:00Z"})
    capsys.readouterr()

    answer = revoker.handler({"Records": stream.read()}, None, iot=iot)

    assert answer == {"batchItemFailures": []}
    status = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"]
    assert status == "INACTIVE"
    lines = _lines(capsys)
    assert all(line["event"] == "allowlist-change" for line in lines)
    assert [line["change"] for line in lines] == ["INSERT", "MODIFY", "MODIFY", "MODIFY"]
    revoked = lines[-1]
    assert revoked["serial"] == "SN-REV"
    assert revoked["old"]["status"] == "allowed" and revoked["new"]["status"] == "revoked"
    assert "status" in revoked["changed"] and "row_sig" in revoked["changed"]
    assert revoked["revocation"] == {"certificateId": cert_id, "outcome": "deactivated"}
    assert sum("revocation" in line for line in lines) == 1


def test_a_revoke_of_a_unit_never_provisioned_touches_no_certificate(
    packaged_cloud, ca, put_unit, stream, iot, capsys
):
    board = ca.issue("SN-NP")
    put_unit("SN-NP", board.key_sha256)
    put_unit("SN-NP", board.key_sha256, status="revoked", rev=2)
    answer = packaged_cloud.revoker.handler({"Records": stream.read()}, None, iot=iot)
    assert answer == {"batchItemFailures": []}
    assert all("revocation" not in line for line in _lines(capsys))


def test_a_certificate_that_no_longer_exists_is_skipped_not_retried(
    packaged_cloud, ca, put_unit, stream, iot, capsys
):
    board = ca.issue("SN-GONE")
    put_unit("SN-GONE", board.key_sha256, status="revoked",
             extra={"certificate_id": "e" * 64, "provisioned_at": "2024-05-02T00:00:00Z"})
    answer = packaged_cloud.revoker.handler({"Records": stream.read()}, None, iot=iot)
    assert answer == {"batchItemFailures": []}
    (line,) = _lines(capsys)
    assert line["revocation"]["outcome"] == "gone"


def test_a_failed_deactivation_is_reported_for_redelivery(packaged_cloud, capsys):
    class Unreachable:
        def update_certificate(self, **_: Any) -> None:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"serial": {"S": "SN-X"}},
            "OldImage": {"status": {"S": "allowed"}, "certificate_id": {"S": "f" * 64}},
            "NewImage": {"status": {"S": "revoked"}, "certificate_id": {"S": "f" * 64}},
            "SequenceNumber": "42",
        },
    }
    answer = packaged_cloud.revoker.handler({"Records": [record]}, None, iot=Unreachable())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "42"}]}
    assert _lines(capsys)[0]["revocation"]["outcome"].startswith("failed:")


@pytest.mark.parametrize("event", [None, {}, {"Records": None}, {"Records": [None, 3]}])
def test_a_malformed_stream_event_is_ignored(packaged_cloud, event):
    assert packaged_cloud.revoker.handler(event, None, iot=object()) == {"batchItemFailures": []}
