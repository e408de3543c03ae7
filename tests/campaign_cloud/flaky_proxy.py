"""A fault-injecting HTTP proxy on loopback in front of a DynamoDB-compatible endpoint.

The client (boto3 through ``station.sync.dynamo``) simply talks to :attr:`FlakyProxy.url`;
botocore is never patched. For each request the proxy draws, from one seeded
``random.Random``, whether to misbehave and how:

==================== =========================================================================
kind                 what the client sees
==================== =========================================================================
``throttling``       HTTP 400 ``ThrottlingException`` (on-demand table over its capacity)
``throughput``       HTTP 400 ``ProvisionedThroughputExceededException``
``server_error``     HTTP 500 ``InternalServerError``
``slow_before``      the answer, late: a short delay *before* forwarding
``slow_after``       the answer, late: forwarded at once, a short delay *before answering*
``timeout_before``   nothing within its read timeout; the proxy forwards the request *after*
                     the client gave up (a late duplicate that reaches the table later)
``timeout_after``    nothing within its read timeout; the write *was* applied at once
``drop_before``      the connection closed (FIN or RST) without the request being forwarded
``drop_after``       the request forwarded and applied, then the connection closed without an
                     answer: the write happened but the client never heard (the dangerous one)
==================== =========================================================================

Error answers carry what DynamoDB sends: status, ``Content-Type:
application/x-amz-json-1.0``, a JSON body with ``__type`` and ``message``, and the
``x-amzn-ErrorType``, ``x-amzn-RequestId`` and ``x-amz-crc32`` headers.

Every UpdateItem is captured as it arrived (headers and body) so a test can :meth:`replay`
it later, and every UpdateItem that reached the endpoint is logged with the order the
endpoint applied it in (requests go upstream one at a time, under a lock; the loopback
server serializes them anyway), the serial, the ``:rev`` it carried and the answer: that
log is the history the campaign judges. Used by ``tests/campaign_cloud`` and, imported by
path, by ``bench/campaign_flaky_cloud.py``.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULT_KINDS = (
    "throttling",
    "throughput",
    "server_error",
    "slow_before",
    "slow_after",
    "timeout_before",
    "timeout_after",
    "drop_before",
    "drop_after",
)

# How a total fault rate is shared between the kinds (weights, normalised).
DEFAULT_MIX = {
    "throttling": 0.16,
    "throughput": 0.10,
    "server_error": 0.14,
    "slow_before": 0.10,
    "slow_after": 0.10,
    "timeout_before": 0.06,
    "timeout_after": 0.06,
    "drop_before": 0.12,
    "drop_after": 0.16,
}

# The errors as DynamoDB sends them (status, __type, message).
DYNAMODB_ERRORS = {
    "throttling": (
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Throughput exceeds the current capacity of your table or index. DynamoDB is "
        "automatically scaling your table or index so please try again shortly. If "
        "exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/"
        "amazondynamodb/latest/developerguide/bp-partition-key-design.html",
    ),
    "throughput": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "server_error": (
        500,
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "Internal server error",
    ),
}


def fault_rates(total: float, mix: dict[str, float] | None = None) -> dict[str, float]:
    """Per-kind probabilities adding up to ``total`` (0..1), shared as ``mix`` says."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
    weight = sum(mix.values())
    if not 0 <= total <= 1 or weight <= 0:
        raise ValueError("total must be within 0..1 and the mix must have some weight")
    return {kind: total * mix.get(kind, 0.0) / weight for kind in FAULT_KINDS}


@dataclass(frozen=True)
class Captured:
    """An UpdateItem as the proxy received it: enough to send it again byte for byte."""

    number: int
    serial: str | None
    rev: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Applied:
    """One UpdateItem that reached the endpoint, in the order the endpoint saw them."""

    order: int
    serial: str | None
    rev: int | None
    status: int
    code: str  # "" on success, else the error code (ConditionalCheckFailedException...)
    fault: str | None  # the fault drawn for the request, None if it went through cleanly
    replay: bool = False


@dataclass
class ProxyStats:
    requests: int = 0
    by_operation: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    forwarded: int = 0
    upstream_errors: int = 0
    client_gone: int = 0  # answers the client was no longer there to read


def _update_key(body: dict[str, Any]) -> tuple[str | None, int | None]:
    serial = rev = None
    try:
        serial = body["Key"]["serial"]["S"]
    except (KeyError, TypeError):
        pass
    try:
        rev = int(body["ExpressionAttributeValues"][":rev"]["N"])
    except (KeyError, TypeError, ValueError):
        pass
    return serial, rev


class FlakyProxy:
    """A threaded loopback HTTP proxy that injects DynamoDB faults at seeded rates.

    ``rates`` maps fault kinds to probabilities (see :func:`fault_rates`); ``client_timeout``
    is the client's read timeout, so ``timeout_*`` delays go beyond it
    (``client_timeout + 0.3 .. + 0.8`` s); ``slow_*`` delays are ``slow`` (a range, seconds).
    ``operations`` limits faults to those DynamoDB operations (None: all).
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int,
        rates: dict[str, float] | None = None,
        client_timeout: float = 1.0,
        slow: tuple[float, float] = (0.05, 0.3),
        operations: frozenset[str] | None = None,
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None:
            raise ValueError(f"not a URL: {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.upstream_https = parts.scheme == "https"
        self.seed = seed
        self.rates = dict(rates or {})
        self.client_timeout = client_timeout
        self.slow = slow
        self.operations = operations
        self.stats = ProxyStats()
        self.applied: list[Applied] = []
        self.captured: list[Captured] = []
        self.capture_updates = True
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._upstream_lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._conn: http.client.HTTPConnection | None = None
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FlakyProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="flaky-proxy", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, drain_timeout: float = 10.0) -> None:
        self.wait_idle(drain_timeout)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        with self._upstream_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> FlakyProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_rates(self, rates: dict[str, float] | None) -> None:
        with self._lock:
            self.rates = dict(rates or {})

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (late duplicates included)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- what the campaign reads ----------------------------------------------------------

    def updates_for(self, serial: str) -> list[Captured]:
        with self._lock:
            return [c for c in self.captured if c.serial == serial]

    def replay(self, captured: Captured) -> tuple[int, dict[str, Any]]:
        """Send a captured UpdateItem to the endpoint again, as it was; returns the status
        and the JSON answer. Logged in :attr:`applied` with ``replay=True``."""
        status, _, data = self._forward(dict(captured.headers), captured.body,
                                        captured.serial, captured.rev, None, replay=True)
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            answer = {"raw": data.decode("latin-1")}
        return status, answer

    # -- internals ------------------------------------------------------------------------

    def _draw(self, operation: str) -> tuple[str | None, float]:
        """The fault for one request (None: none) and its delay, from the seeded stream."""
        with self._lock:
            roll = self._rng.random()
            delay_roll = self._rng.random()
            rst_roll = self._rng.random()
            if self.operations is not None and operation not in self.operations:
                return None, 0.0
            edge = 0.0
            for kind in FAULT_KINDS:
                edge += self.rates.get(kind, 0.0)
                if roll < edge:
                    break
            else:
                return None, 0.0
        if kind.startswith("slow_"):
            low, high = self.slow
            return kind, low + (high - low) * delay_roll
        if kind.startswith("timeout_"):
            return kind, self.client_timeout + 0.3 + 0.5 * delay_roll
        if kind.startswith("drop_"):
            return kind, rst_roll  # < 0.5: reset (RST), else a plain close (FIN)
        return kind, 0.0

    def _enter(self) -> None:
        with self._lock:
            self._active += 1

    def _leave(self) -> None:
        with self._idle:
            self._active -= 1
            if not self._active:
                self._idle.notify_all()

    def _forward(
        self, headers: dict[str, str], body: bytes, serial: str | None, rev: int | None,
        fault: str | None, *, replay: bool = False, operation: str = "UpdateItem",
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream (one at a time) and log it if it is an UpdateItem."""
        headers = {k: v for k, v in headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        headers["Host"] = f"{self.upstream_host}:{self.upstream_port}"
        with self._upstream_lock:
            for attempt in range(2):
                if self._conn is None:
                    cls = (http.client.HTTPSConnection if self.upstream_https
                           else http.client.HTTPConnection)
                    self._conn = cls(self.upstream_host, self.upstream_port, timeout=30)
                try:
                    self._conn.request("POST", "/", body=body, headers=headers)
                    response = self._conn.getresponse()
                    data = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    self._conn.close()
                    self._conn = None
                    if attempt:
                        with self._lock:
                            self.stats.upstream_errors += 1
                        raise
            status, response_headers = response.status, response.getheaders()
            with self._lock:
                self.stats.forwarded += 1
                if operation == "UpdateItem":
                    code = ""
                    if status != 200:
                        try:
                            code = str(json.loads(data).get("__type", "")).rpartition("#")[2]
                        except (ValueError, AttributeError):
                            code = str(status)
                    self.applied.append(Applied(len(self.applied), serial, rev, status, code,
                                                fault, replay))
        return status, response_headers, data

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 15  # an idle keep-alive connection is dropped after this

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                proxy._enter()
                try:
                    self._handle()
                finally:
                    proxy._leave()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                serial = rev = None
                if operation == "UpdateItem":
                    try:
                        serial, rev = _update_key(json.loads(body or b"{}"))
                    except ValueError:
                        pass
                fault, delay = proxy._draw(operation)
                with proxy._lock:
                    proxy.stats.requests += 1
                    proxy.stats.by_operation[operation] += 1
                    if fault is not None:
                        proxy.stats.faults[fault] += 1
                    if operation == "UpdateItem" and proxy.capture_updates:
                        proxy.captured.append(Captured(
                            len(proxy.captured), serial, rev, tuple(self.headers.items()), body
                        ))
                if fault in DYNAMODB_ERRORS:
                    status, error_type, message = DYNAMODB_ERRORS[fault]
                    data = json.dumps({"__type": error_type, "message": message}).encode()
                    self._send(status, [("x-amzn-ErrorType", error_type.rpartition("#")[2])],
                               data)
                    return
                if fault == "drop_before":
                    self._drop(reset=delay < 0.5)
                    return
                if fault in ("slow_before", "timeout_before"):
                    time.sleep(delay)
                try:
                    status, headers, data = proxy._forward(
                        dict(self.headers.items()), body, serial, rev, fault,
                        operation=operation,
                    )
                except (http.client.HTTPException, OSError):
                    self._drop(reset=True)
                    return
                if fault == "drop_after":
                    self._drop(reset=delay < 0.5)
                    return
                if fault in ("slow_after", "timeout_after"):
                    time.sleep(delay)
                self._send(status, headers, data)

            def _drop(self, *, reset: bool) -> None:
                self.close_connection = True
                if reset:  # SO_LINGER 0: close() sends RST instead of FIN
                    try:
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    except OSError:
                        pass

            def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                skip = {"content-length", "transfer-encoding", "connection", "x-amz-crc32",
                        "server", "date", "content-type", "x-amzn-requestid"}
                try:
                    self.send_response(status)
                    for key, value in headers:
                        if key.lower() not in skip:
                            self.send_header(key, value)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper()[:52])
                    self.send_header("x-amz-crc32", str(zlib.crc32(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client gave up (read timeout) and closed
                    self.close_connection = True
                    with proxy._lock:
                        proxy.stats.client_gone += 1

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that vanished mid-request is part of the weather here
