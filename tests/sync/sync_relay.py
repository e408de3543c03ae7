"""A loopback HTTP relay in front of a DynamoDB endpoint, for fault injection over real HTTP.

It forwards every request to the upstream endpoint unless its ``rule`` decides otherwise
for that request: answer with a DynamoDB-shaped error itself (throttling, 5xx, bad
credentials...), forward and then drop the connection without answering (a lost reply), or
forward and remove the ``Item`` from a ConditionalCheckFailed answer (an endpoint without
ReturnValuesOnConditionCheckFailure). botocore is never touched: the client simply talks
to the relay's URL.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Seen:
    """One request the relay received: its number (0-based), operation and JSON body."""

    number: int
    operation: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """Answer with this DynamoDB error instead of forwarding."""

    status: int
    code: str
    message: str = "injected by the test relay"


@dataclass(frozen=True)
class Forward:
    drop_response: bool = False  # forward, then close the connection without answering
    strip_item: bool = False  # forward, then remove "Item" from the answer


Rule = Callable[[Seen], Reply | Forward | None]


class Relay:
    def __init__(self, upstream: str, *, port: int = 0, rule: Rule | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.upstream_https = parts.scheme == "https"
        self.rule = rule
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> Relay:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def operations(self, name: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.operation == name]

    # -- internals -----------------------------------------------------------------------

    def _upstream(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.upstream_https else http.client.HTTPConnection
            conn = cls(self.upstream_host, self.upstream_port, timeout=30)
            self._local.conn = conn
        return conn

    def _forward(self, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        for attempt in range(2):
            conn = self._upstream()
            try:
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rpartition(".")[2]
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {}
                with relay._lock:
                    seen = Seen(len(relay.seen), operation, payload)
                    relay.seen.append(seen)
                action = relay.rule(seen) if relay.rule else None
                if isinstance(action, Reply):
                    self._send(action.status, [], json.dumps({
                        "__type": f"com.amazonaws.dynamodb.v20120810#{action.code}",
                        "message": action.message,
                    }).encode())
                    return
                headers = {
                    k: v for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                headers["Host"] = f"{relay.upstream_host}:{relay.upstream_port}"
                status, response_headers, data = relay._forward(headers, body)
                if isinstance(action, Forward) and action.drop_response:
                    self.close_connection = True
                    return
                if isinstance(action, Forward) and action.strip_item:
                    try:
                        answer = json.loads(data)
                    except ValueError:
                        answer = None
                    if isinstance(answer, dict) and "Item" in answer:
                        del answer["Item"]
                        data = json.dumps(answer).encode()
                self._send(status, response_headers, data)

            def _send(self, status: int, headers: list, data: bytes) -> None:
                self.send_response(status)
                skip = {"content-length", "transfer-encoding", "connection", "x-amz-crc32",
                        "server", "date"}
                content_type = "application/x-amz-json-1.0"
                for key, value in headers:
                    if key.lower() == "content-type":
                        content_type = value
                    elif key.lower() not in skip:
                        self.send_header(key, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amz-crc32", str(zlib.crc32(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
