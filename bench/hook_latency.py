"""Latency of the warm pre-provisioning hook against the loopback DynamoDB server.

Starts LocalDynamo, fills the allow-list with 1,000 items, then calls the warm handler
2,000 times (ALLOW_REPROVISION=true, so every call does the full GetItem plus the
conditional UpdateItem) and prints p50/p99 in ms. The baseline, measured in the same
run, is the same GetItem + conditional UpdateItem issued bare through the hook's own
client, so the ratio shows what the hook adds over the two round trips it must make.
The server runs in a child process so it does not share a GIL with the hook (as real
DynamoDB would not). Target: p99 <= 50 ms. Figures only; nothing is asserted.

    python bench/hook_latency.py [--items 1000] [--calls 2000] [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered)) - 1))
    return ordered[index]


def _row(label: str, samples: list[float]) -> str:
    return (
        f"{label:<28} n={len(samples):>5}  p50={_percentile(samples, 50):7.2f} ms  "
        f"p99={_percentile(samples, 99):7.2f} ms  mean={statistics.fmean(samples):7.2f} ms  "
        f"max={max(samples):7.2f} ms"
    )


def _device_index(serial: str, count: int) -> int:
    digits = "".join(ch for ch in serial if ch.isdigit())
    return int(digits or 0) % count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=20, help="distinct device key pairs")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the server in this process (it then competes with the hook for the GIL)",
    )
    args = parser.parse_args(argv)

    root = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    from station.sync.local_server import local_dynamo_in_child_process
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    import datetime as dt
    import hashlib

    import boto3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from station.allowlist_item import create_allowlist_table
    from station.sync.local_server import LocalDynamo

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    if boto3.session.Session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "bench"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-ca")])
    now = dt.datetime.now(dt.UTC)
    devices = []
    for n in range(args.keys):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench-{n}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        devices.append(
            (
                cert.public_bytes(serialization.Encoding.PEM).decode(),
                hashlib.sha256(der).hexdigest(),
                hashlib.sha256(spki).hexdigest(),
            )
        )

    with contextlib.ExitStack() as stack:
        if args.in_process:
            endpoint_url = stack.enter_context(LocalDynamo()).endpoint_url
        else:
            endpoint_url = stack.enter_context(local_dynamo_in_child_process())
        table = f"bench-allowlist-{uuid.uuid4().hex[:8]}"
        ddb = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url)
        create_allowlist_table(ddb, table)
        serials = [f"SN-{n:06d}" for n in range(args.items)]
        fill_started = time.perf_counter()
        for start in range(0, len(serials), 25):
            requests = []
            for serial in serials[start : start + 25]:
                _, _, key_sha = devices[_device_index(serial, len(devices))]
                item = {
                    "serial": {"S": serial},
                    "status": {"S": "allowed"},
                    "batch": {"S": f"B-{int(serial[3:]) // 100:03d}"},
                    "product": {"S": "bench"},
                    "station_id": {"S": "bench"},
                    "device_key_sha256": {"S": key_sha},
                    "claim_cert_sha256": {"S": "00" * 32},
                    "factory_at": {"S": "2024-01-01T00:00:00Z"},
                    "rev": {"N": "1"},
                }
                requests.append({"PutRequest": {"Item": item}})
            ddb.batch_write_item(RequestItems={table: requests})
        fill_s = time.perf_counter() - fill_started

        os.environ["TABLE_NAME"] = table
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url
        os.environ["ALLOW_REPROVISION"] = "true"
        from cloud import hook

        hook.reset_client_cache()
        rng = random.Random(1)

        def event(serial: str) -> dict:
            pem, cert_id, _ = devices[_device_index(serial, len(devices))]
            return {
                "claimCertificateId": "c" * 64,
                "certificateId": cert_id,
                "certificatePem": pem,
                "clientId": serial,
                "parameters": {"SerialNumber": serial},
            }

        devnull = open(os.devnull, "w")  # the hook's log lines
        real_stdout = sys.stdout
        allow_ms: list[float] = []
        deny_ms: list[float] = []
        allowed = 0
        try:
            sys.stdout = devnull
            # Warm the container: client created, connection open.
            assert hook.handler(event(serials[0]))["allowProvisioning"] is True
            for _ in range(args.calls):
                serial = rng.choice(serials)
                payload = event(serial)
                started = time.perf_counter()
                response = hook.handler(payload)
                allow_ms.append((time.perf_counter() - started) * 1000.0)
                allowed += response["allowProvisioning"] is True
            for n in range(args.calls // 4):
                payload = event(f"SN-UNKNOWN-{n}")
                started = time.perf_counter()
                hook.handler(payload)
                deny_ms.append((time.perf_counter() - started) * 1000.0)
        finally:
            sys.stdout = real_stdout
            devnull.close()

        # Baseline: the same two requests the hook makes, bare, through a client with
        # the same Config (the hook's own cached client and connection pool).
        base_client = hook._client(table)
        base_ms: list[float] = []
        for n in range(args.calls):
            serial = rng.choice(serials)
            _, cert_id, key_sha = devices[_device_index(serial, len(devices))]
            started = time.perf_counter()
            base_client.get_item(
                TableName=table, Key={"serial": {"S": serial}}, ConsistentRead=True
            )
            base_client.update_item(
                TableName=table,
                Key={"serial": {"S": serial}},
                UpdateExpression="SET provisioned_at = :now, certificate_id = :c, thing_name = :t",
                ConditionExpression="#s = :allowed AND device_key_sha256 = :k",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":now": {"S": f"2024-01-01T00:00:{n % 60:02d}Z"},
                    ":c": {"S": cert_id},
                    ":t": {"S": serial},
                    ":allowed": {"S": "allowed"},
                    ":k": {"S": key_sha},
                },
                ReturnValues="ALL_NEW",
            )
            base_ms.append((time.perf_counter() - started) * 1000.0)

        # The hook's own CPU work per call (PEM -> DER -> SPKI -> SHA-256).
        pem = devices[0][0]
        started = time.perf_counter()
        for _ in range(args.calls):
            hook.device_key_sha256(pem)
        cpu_us = (time.perf_counter() - started) / args.calls * 1e6

        ddb.delete_table(TableName=table)

    print(f"allow-list: {args.items} items filled in {fill_s:.2f} s; {len(devices)} key pairs")
    mode = "in-process" if args.in_process else "child process"
    print(f"server: LocalDynamo (moto) on loopback, {mode}")
    print(_row("baseline Get+Update (bare)", base_ms))
    print(_row("hook allow (Get+Update)", allow_ms))
    print(_row("hook deny (unknown serial)", deny_ms))
    print(
        f"certificate check: {cpu_us:.1f} us per call; allowed {allowed}/{args.calls}; "
        f"hook/baseline p50 ratio "
        f"{_percentile(allow_ms, 50) / _percentile(base_ms, 50):.2f}x; "
        f"p99 target 50 ms: {'met' if _percentile(allow_ms, 99) <= 50 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
