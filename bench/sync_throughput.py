"""Throughput of the DynamoDB sync against boto3's ``Table.batch_writer()``.

Builds N units (default 20,000) in a temporary station database, then in the same run,
against the same endpoint (a LocalDynamo on loopback unless --endpoint-url is given):

* baseline: ``Table.batch_writer()`` puts the same items (unconditional BatchWriteItem,
  25 per request, one thread) into a fresh table;
* sync: :class:`station.sync.engine.AllowlistSync` sends them into another fresh table with one
  conditional UpdateItem per unit from a bounded thread pool.

Prints items/s of both and sync / baseline (target: at least 1.0). Never asserts on time.

Note on LocalDynamo: it serializes requests (see station/dynamo_local.py) and moto spends
most of an UpdateItem parsing and validating the update expression in Python, so on it the
server's CPU per request bounds the sync, whatever the client's concurrency. Against
DynamoDB (or DynamoDB Local) requests run in parallel on the server and concurrency pays.

    python bench/sync_throughput.py [--units 20000] [--workers 32] [--endpoint-url URL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3

from records import Records
from station.allowlist_item import create_allowlist_table
from station.config import CloudConfig
from station.sync.dynamo import ClientSettings, make_client
from station.sync.engine import AllowlistSync
from station.sync.local_server import LocalDynamo

STATION_ID = "BENCH-ST01"
CLAIM = "c1" * 32
FACTORY_AT = "2026-11-22T10:00:00.000Z"


def build_database(path: Path, units: int) -> None:
    """Bulk SQL in one transaction (bench only): valid contract values, all pending."""
    Records(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO batches VALUES ('B1', 'sensor-v2', ?, ?, 'bench', NULL, NULL)",
            [units, FACTORY_AT],
        )
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO units
            SELECT printf('SN%08d', i), 'B1', 'sensor-v2', 'allowed', printf('%064x', i), ?, ?,
                   'bench', ?, ?, 1, 0, NULL, ?
            FROM n
            """,
            [units, CLAIM, STATION_ID, FACTORY_AT, FACTORY_AT, FACTORY_AT],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def items_of(records: Records, units: int) -> list[dict]:
    """The same items the sync writes, as plain values for the batch writer."""
    return [
        {
            "serial": u.serial, "status": u.status, "batch": u.batch, "product": u.product,
            "station_id": u.station_id, "device_key_sha256": u.device_key_sha256,
            "claim_cert_sha256": u.claim_cert_sha256, "factory_at": u.last_pass_at,
            "rev": u.rev,
        }
        for u in records.pending_sync(limit=units)
    ]


def count_items(client, table: str) -> int:
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--endpoint-url", help="another DynamoDB-compatible endpoint")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    args = parser.parse_args()
    if boto3.session.Session().get_credentials() is None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    server = None
    endpoint = args.endpoint_url
    if not endpoint:
        server = LocalDynamo()
        endpoint = server.start()
    tables: list[str] = []
    settings = ClientSettings(max_pool_connections=args.workers, max_attempts=3)
    client = make_client(CloudConfig(table="x", region=args.region, endpoint_url=endpoint),
                         settings=settings)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "station.sqlite"
            started = time.perf_counter()
            build_database(path, args.units)
            print(f"built {args.units:,} units in {time.perf_counter() - started:.1f} s; "
                  f"endpoint {endpoint}" + (" (LocalDynamo)" if server else ""))
            with Records(path) as records:
                items = items_of(records, args.units)

                baseline_table = f"bench-batch-{uuid.uuid4().hex[:8]}"
                create_allowlist_table(client, baseline_table)
                tables.append(baseline_table)
                resource = boto3.session.Session().resource(
                    "dynamodb", endpoint_url=endpoint, region_name=args.region)
                started = time.perf_counter()
                with resource.Table(baseline_table).batch_writer() as writer:
                    for item in items:
                        writer.put_item(Item=item)
                baseline_s = time.perf_counter() - started
                baseline_rate = len(items) / baseline_s
                print(f"baseline Table.batch_writer(): {len(items):,} items in {baseline_s:.1f} s"
                      f" = {baseline_rate:,.0f} items/s")

                sync_table = f"bench-sync-{uuid.uuid4().hex[:8]}"
                create_allowlist_table(client, sync_table)
                tables.append(sync_table)
                sync = AllowlistSync(records, client, station_id=STATION_ID,
                                     table_name=sync_table, workers=args.workers)
                report = sync.run()
                sync_rate = report.sent / report.seconds if report.seconds else 0.0
                print(f"AllowlistSync ({args.workers} workers, conditional UpdateItem): "
                      f"{report.sent:,} sent, {report.failed} failed, {report.pending_left} "
                      f"pending in {report.seconds:.1f} s = {sync_rate:,.0f} items/s")
                if report.error:
                    print(f"  sync error: {report.error}")
                print(f"items in tables: baseline {count_items(client, baseline_table):,}, "
                      f"sync {count_items(client, sync_table):,}")
                ratio = sync_rate / baseline_rate
                print(f"\nsync / batch_writer throughput: {ratio:.2f} (target >= 1.0)")
    finally:
        for table in tables:
            try:
                client.delete_table(TableName=table)
            except Exception as exc:  # noqa: BLE001 - cleanup only
                print(f"could not delete {table}: {exc}", file=sys.stderr)
        client.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
