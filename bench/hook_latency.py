"""Latency of the warm pre-provisioning hook against the loopback DynamoDB server.

Starts LocalDynamo, registers a station key, fills the allow-list with signed rows (one
device key pair per serial), then calls the warm handler with every check on
(``REQUIRE_DEVICE_SIGNATURE``, signed rows, the claim certificate, the key index) and
``ALLOW_REPROVISION=true`` with a new certificate each call, so every call takes the
full path: proof of possession, GetItem, the station registry (cached in the warm
container, as deployed; also measured with the cache off), the row signature, the
key-index Query and the conditional UpdateItem. Prints p50/p99 in ms.

The baseline, measured in the same run, is the same GetItem + Query + UpdateItem issued
bare through a client with the hook's configuration, so the ratio shows what the hook
adds over the round trips it must make. The verify functions are also timed alone (the
cost of each check, by key kind). The server runs in a child process so it does not
share a GIL with the hook (as real DynamoDB would not). Target: p99 <= 50 ms. Figures
only; nothing is asserted.

    python bench/hook_latency.py [--items 400] [--calls 1000] [--in-process]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLAIM = "c" * 64
FIELDS = ("serial", "status", "batch", "product", "station_id", "device_key_sha256",
          "claim_cert_sha256", "factory_at", "rev")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered)) - 1))
    return ordered[index]


def _row(label: str, samples: list[float]) -> str:
    return (
        f"{label:<34} n={len(samples):>5}  p50={_percentile(samples, 50):7.2f} ms  "
        f"p99={_percentile(samples, 99):7.2f} ms  mean={statistics.fmean(samples):7.2f} ms  "
        f"max={max(samples):7.2f} ms"
    )


def _time_us(fn: Any, repeat: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1e6


class Lab:
    """Keys, certificates and signatures made with cryptography (outside the timing)."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.x509, self.hashes, self.serialization, self.ec, self.oid = (
            x509, hashes, serialization, ec, NameOID)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-ca")])
        self.station = ec.generate_private_key(ec.SECP256R1())
        self.station_der = self.spki(self.station)
        self.station_id = hashlib.sha256(self.station_der).hexdigest()

    def spki(self, key: Any) -> bytes:
        return key.public_key().public_bytes(
            self.serialization.Encoding.DER, self.serialization.PublicFormat.SubjectPublicKeyInfo)

    def certificate(self, serial: str, key: Any) -> tuple[str, str]:
        now = dt.datetime.now(dt.UTC)
        cert = (
            self.x509.CertificateBuilder()
            .subject_name(self.x509.Name([self.x509.NameAttribute(self.oid.COMMON_NAME, serial)]))
            .issuer_name(self.ca_name)
            .public_key(key.public_key())
            .serial_number(self.x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(self.ca_key, self.hashes.SHA256())
        )
        der = cert.public_bytes(self.serialization.Encoding.DER)
        return cert.public_bytes(self.serialization.Encoding.PEM).decode(), hashlib.sha256(der).hexdigest()

    def pop(self, key: Any, serial: str, cert_id: str) -> str:
        message = b"device-pop/1\n" + serial.encode() + b"\n" + cert_id.encode()
        return base64.b64encode(key.sign(message, self.ec.ECDSA(self.hashes.SHA256()))).decode()

    def row(self, serial: str, key_sha: str) -> dict[str, Any]:
        values = {"serial": serial, "status": "allowed", "batch": f"B-{serial[-3:]}",
                  "product": "bench", "station_id": "bench-st1", "device_key_sha256": key_sha,
                  "claim_cert_sha256": CLAIM, "factory_at": "2024-01-01T00:00:00Z", "rev": 1}
        text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        sig = self.station.sign(b"station-row/1\n" + text.encode(), self.ec.ECDSA(self.hashes.SHA256()))
        item = {k: ({"N": str(v)} if k == "rev" else {"S": v}) for k, v in values.items()}
        item["row_sig"] = {"S": base64.b64encode(sig).decode()}
        item["signer_key_id"] = {"S": self.station_id}
        return item


def _verify_costs(hook_pkg: Any, lab: Lab, repeat: int) -> list[str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    sv = hook_pkg.sigverify
    lines = []
    message = b"device-pop/1\nSN-000001\n" + b"a" * 64
    for name, key in (
        ("ECDSA P-256 / SHA-256", ec.generate_private_key(ec.SECP256R1())),
        ("ECDSA P-384 / SHA-384", ec.generate_private_key(ec.SECP384R1())),
        ("RSA-2048 PKCS#1 v1.5", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ):
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        else:
            digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
            signature = key.sign(message, ec.ECDSA(digest))
        spki = lab.spki(key)
        parsed = sv.load_public_key(spki)
        pure = _time_us(lambda p=parsed, s=signature: sv.verify(p, message, s), repeat)
        load = _time_us(lambda k=spki: sv.load_public_key(k), repeat)
        public = key.public_key()
        if isinstance(key, rsa.RSAPrivateKey):
            ref = _time_us(lambda p=public, s=signature: p.verify(
                s, message, padding.PKCS1v15(), hashes.SHA256()), repeat)
        else:
            ref = _time_us(lambda p=public, s=signature, d=digest: p.verify(
                s, message, ec.ECDSA(d)), repeat)
        lines.append(f"  {name:<24} verify {pure / 1000:6.2f} ms  (key parse {load:6.1f} us; "
                     f"cryptography/OpenSSL {ref:6.1f} us, ratio {pure / ref:6.0f}x)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--in-process", action="store_true",
                        help="run the server in this process (it then competes with the hook for the GIL)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    import boto3

    import cloud
    from cloud import hook
    from station.allowlist_item import create_allowlist_table, create_stations_table
    from station.sync.local_server import LocalDynamo, local_dynamo_in_child_process

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    if boto3.session.Session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "bench"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"

    lab = Lab()
    rng = random.Random(1)
    serials = [f"SN-{n:06d}" for n in range(args.items)]
    keys = {s: lab.ec.generate_private_key(lab.ec.SECP256R1()) for s in serials}
    key_shas = {s: hashlib.sha256(lab.spki(k)).hexdigest() for s, k in keys.items()}

    def events(count: int, pool: list[str]) -> list[dict[str, Any]]:
        made = []
        for _ in range(count):
            serial = rng.choice(pool)
            key = keys.get(serial) or keys[serials[0]]
            pem, cert_id = lab.certificate(serial, key)
            made.append({"claimCertificateId": CLAIM, "certificateId": cert_id,
                         "certificatePem": pem, "clientId": f"provision-{serial}",
                         "parameters": {"SerialNumber": serial,
                                        "DeviceSignature": lab.pop(key, serial, cert_id)}})
        return made

    allow_events = events(args.calls, serials)
    nocache_events = events(args.calls // 4, serials)
    deny_events = events(args.calls // 4, [f"SN-UNKNOWN-{n}" for n in range(50)])

    with contextlib.ExitStack() as stack:
        endpoint_url = (stack.enter_context(LocalDynamo()).endpoint_url if args.in_process
                        else stack.enter_context(local_dynamo_in_child_process()))
        table = f"bench-allowlist-{uuid.uuid4().hex[:8]}"
        stations = f"{table}-stations"
        ddb = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url)
        create_allowlist_table(ddb, table)
        create_stations_table(ddb, stations)
        ddb.put_item(TableName=stations, Item={
            "key_id": {"S": lab.station_id}, "station_id": {"S": "bench-st1"},
            "public_key": {"S": base64.b64encode(lab.station_der).decode()},
            "status": {"S": "active"}, "registered_at": {"S": "2024-01-01T00:00:00Z"}})
        fill_started = time.perf_counter()
        for start in range(0, len(serials), 25):
            batch = [{"PutRequest": {"Item": lab.row(s, key_shas[s])}} for s in serials[start:start + 25]]
            ddb.batch_write_item(RequestItems={table: batch})
        fill_s = time.perf_counter() - fill_started

        os.environ.update(TABLE_NAME=table, STATIONS_TABLE_NAME=stations,
                          AWS_ENDPOINT_URL_DYNAMODB=endpoint_url, ALLOW_REPROVISION="true")
        hook.reset_caches()

        def run(batch: list[dict[str, Any]]) -> tuple[list[float], int]:
            samples, allowed = [], 0
            real_stdout, sink = sys.stdout, open(os.devnull, "w")  # the hook's log lines
            try:
                sys.stdout = sink
                for event in batch:
                    started = time.perf_counter()
                    response = hook.handler(event)
                    samples.append((time.perf_counter() - started) * 1000.0)
                    allowed += response["allowProvisioning"] is True
            finally:
                sys.stdout = real_stdout
                sink.close()
            return samples, allowed

        run(events(5, serials))  # warm the container: client, connection, registry entry
        allow_ms, allowed = run(allow_events)
        deny_ms, _ = run(deny_events)
        os.environ["REGISTRY_CACHE_SECONDS"] = "0"
        nocache_ms, _ = run(nocache_events)
        os.environ.pop("REGISTRY_CACHE_SECONDS")

        client = hook.make_client(endpoint_url=endpoint_url)
        two_ms: list[float] = []  # what the hook did before issue 14: GetItem + UpdateItem
        for event in allow_events[: len(allow_events) // 2]:
            serial = event["parameters"]["SerialNumber"]
            started = time.perf_counter()
            client.get_item(TableName=table, Key={"serial": {"S": serial}}, ConsistentRead=True)
            client.update_item(
                TableName=table, Key={"serial": {"S": serial}},
                UpdateExpression="SET thing_name = :t", ConditionExpression="#s = :allowed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":t": {"S": serial}, ":allowed": {"S": "allowed"}})
            two_ms.append((time.perf_counter() - started) * 1000.0)
        base_ms: list[float] = []
        for n, event in enumerate(allow_events):
            serial = event["parameters"]["SerialNumber"]
            started = time.perf_counter()
            client.get_item(TableName=table, Key={"serial": {"S": serial}}, ConsistentRead=True)
            client.query(TableName=table, IndexName="device-key-index",
                         KeyConditionExpression="device_key_sha256 = :k",
                         ExpressionAttributeValues={":k": {"S": key_shas[serial]}})
            client.update_item(
                TableName=table, Key={"serial": {"S": serial}},
                UpdateExpression="SET provisioned_at = :now, certificate_id = :c, thing_name = :t",
                ConditionExpression="#s = :allowed AND device_key_sha256 = :k",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":now": {"S": f"2024-01-01T00:00:{n % 60:02d}Z"},
                                           ":c": {"S": event["certificateId"]}, ":t": {"S": serial},
                                           ":allowed": {"S": "allowed"}, ":k": {"S": key_shas[serial]}})
            base_ms.append((time.perf_counter() - started) * 1000.0)
        client.close()

        pem = allow_events[0]["certificatePem"]
        spki_us = _time_us(lambda: hook.device_key_sha256(pem), 500)
        ddb.delete_table(TableName=table)
        ddb.delete_table(TableName=stations)

    print(f"allow-list: {args.items} signed items filled in {fill_s:.2f} s; one key pair each")
    print(f"server: LocalDynamo (moto) on loopback, {'in-process' if args.in_process else 'child process'}")
    print(_row("baseline Get+Update (bare)", two_ms))
    print(_row("baseline Get+Query+Update (bare)", base_ms))
    print(_row("hook allow, all checks", allow_ms))
    print(_row("hook allow, registry cache off", nocache_ms))
    print(_row("hook deny (unknown serial)", deny_ms))
    print(f"allowed {allowed}/{len(allow_events)}; hook/baseline p50 ratio "
          f"{_percentile(allow_ms, 50) / _percentile(base_ms, 50):.2f}x; "
          f"p99 target 50 ms: {'met' if _percentile(allow_ms, 99) <= 50 else 'NOT met'}")
    print("cost of each check (pure Python in cloud/sigverify.py, warm):")
    print(f"  certificate -> SPKI -> SHA-256  {spki_us:6.1f} us")
    for line in _verify_costs(cloud, lab, 30):
        print(line)
    print("  per allowed request: one device verify (proof of possession) + one P-256 verify "
          "(row signature)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
