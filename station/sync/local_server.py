"""A DynamoDB-compatible server on loopback, for tests and ``station demo``.

It is moto's threaded server (``moto.server.ThreadedMotoServer``) with three
changes that matter here:

* requests are **serialized** (one at a time). moto evaluates a conditional
  ``UpdateItem`` as check-then-write without a lock, so two concurrent claims of
  one serial could both win (and its item copies can crash with "dictionary
  changed size during iteration"). Real DynamoDB applies a conditional write
  atomically; serializing restores that guarantee on the local server;
* it is **quiet**: werkzeug's per-request log lines go to this module's logger
  at DEBUG instead of stderr, and moto's "Starting a new Thread" banner is off;
* ``stop()`` really closes the listening socket, so the port is free again.

:class:`LocalDynamoProcess` runs one in a child process (the demo app, benchmarks).

moto is an optional extra (``demo``/``test``); it is imported only when a
:class:`LocalDynamo` is created, and a missing moto is a :class:`StationError`
with code ``DYNAMO_LOCAL_MISSING``.

moto keeps its data in process-wide memory keyed by account and region, not by
server: two ``LocalDynamo`` servers in one process see the same tables, and the
data outlives ``stop()``. Use unique table names.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from station.errors import StationError

__all__ = [
    "LocalDynamo",
    "LocalDynamoProcess",
]

log = logging.getLogger(__name__)

_INSTALL_HINT = "pip install 'provisioning-station[demo]'"

# One lock for every LocalDynamo in the process: moto's backends are global.
_REQUEST_LOCK = threading.Lock()
_SERVER_CLASS: type | None = None


def _server_class() -> type:
    """Build (once) the quiet, serialized subclass of moto's ThreadedMotoServer."""
    global _SERVER_CLASS
    if _SERVER_CLASS is not None:
        return _SERVER_CLASS
    try:
        from moto.server import (
            DomainDispatcherApplication,
            ThreadedMotoServer,
            create_backend_app,
        )
        from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
    except ImportError as exc:
        raise StationError(
            f"the local DynamoDB server needs moto[server], which is not installed ({exc})",
            code="DYNAMO_LOCAL_MISSING",
            hint=_INSTALL_HINT,
        ) from exc

    class _QuietHandler(WSGIRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            level = logging.DEBUG if type == "info" else logging.WARNING
            log.log(level, "%s " + message, self.address_string(), *args)

    class _QuietServer(ThreadedWSGIServer):
        def log(self, type: str, message: str, *args: Any) -> None:
            level = logging.DEBUG if type == "info" else logging.WARNING
            log.log(level, message, *args)

    class _Serialized:
        """WSGI middleware: one request at a time, body materialized under the lock."""

        def __init__(self, app: Any) -> None:
            self._app = app

        def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with _REQUEST_LOCK:
                body = self._app(environ, start_response)
                try:
                    return [b"".join(body)]
                finally:
                    close = getattr(body, "close", None)
                    if close is not None:
                        close()

    class _LocalMotoServer(ThreadedMotoServer):
        startup_error: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                app = _Serialized(DomainDispatcherApplication(create_backend_app))
                self._server = _QuietServer(
                    self._ip_address, self._port, app, handler=_QuietHandler
                )
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self.startup_error = exc
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

        def close(self) -> None:
            server = self._server
            if server is not None:
                server.server_close()
                self._server = None

    _SERVER_CLASS = _LocalMotoServer
    return _SERVER_CLASS


def _running(endpoint_url: str | None, kind: str) -> str:
    """The server's URL, or the error that says it was never started (or stopped)."""
    if endpoint_url is None:
        raise StationError(
            "the local DynamoDB server is not running",
            code="DYNAMO_LOCAL_NOT_STARTED",
            hint=f"Call {kind}.start() (or use it as a context manager) first.",
        )
    return endpoint_url


class LocalDynamo:
    """A DynamoDB-compatible HTTP server on loopback; a context manager.

    >>> with LocalDynamo() as db:                       # doctest: +SKIP
    ...     boto3.client("dynamodb", endpoint_url=db.endpoint_url, ...)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, ready_timeout: float = 30.0):
        self._cls = _server_class()  # fails early, with a hint, when moto is missing
        self.host = host
        self.port = port
        self.ready_timeout = ready_timeout
        self._server: Any = None
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        return _running(self._endpoint_url, "LocalDynamo")

    @property
    def running(self) -> bool:
        return self._endpoint_url is not None

    def start(self) -> str:
        """Start the server and wait until it answers DynamoDB requests."""
        if self._endpoint_url is not None:
            return self._endpoint_url
        server = self._cls(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        if server.startup_error is not None:
            server.stop()
            raise StationError(
                f"the local DynamoDB server could not listen on {self.host}:{self.port}: "
                f"{server.startup_error}",
                code="DYNAMO_LOCAL_START_FAILED",
                hint="Choose another port (0 picks a free one) or stop what is using it.",
            ) from server.startup_error
        self._server = server
        host, port = server.get_host_and_port()
        self.port = port
        url_host = f"[{host}]" if ":" in host else host
        self._endpoint_url = f"http://{url_host}:{port}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.debug("local DynamoDB listening on %s", self._endpoint_url)
        return self._endpoint_url

    def _wait_ready(self) -> None:
        # The first DynamoDB request also loads moto's dynamodb backend (slow once),
        # so later requests, e.g. the hook's with its 1 s timeouts, are fast.
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=self._endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(connect_timeout=1, read_timeout=10, retries={"total_max_attempts": 1}),
        )
        deadline = time.monotonic() + self.ready_timeout
        last_error: Exception | None = None
        try:
            while time.monotonic() < deadline:
                try:
                    client.list_tables(Limit=1)
                    return
                except Exception as exc:  # noqa: BLE001 - retried until the deadline
                    last_error = exc
                    time.sleep(0.05)
        finally:
            client.close()
        raise StationError(
            f"the local DynamoDB server at {self._endpoint_url} did not answer "
            f"within {self.ready_timeout:.0f} s ({last_error})",
            code="DYNAMO_LOCAL_START_FAILED",
            hint="See the station log; the machine may be overloaded.",
        )

    def stop(self) -> None:
        """Stop the server and free its port. Safe to call twice."""
        server, self._server = self._server, None
        self._endpoint_url = None
        if server is None:
            return
        try:
            server.stop()
        finally:
            server.close()

    def __enter__(self) -> LocalDynamo:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._endpoint_url or "stopped"
        return f"LocalDynamo({state})"


PARENT_CHECK_SECONDS = 1.0
"""How often the server process looks whether the process that started it still lives."""


def _serve_until_stopped(replies: Any, stop: Any, port: int) -> None:
    """The child process: serve until told to stop, or until the parent is gone (a demo app
    killed outright leaves no server behind)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    try:
        server = LocalDynamo(port=port)
        url = server.start()
    except StationError as exc:
        replies.put(("error", exc.code, exc.message, exc.hint))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it as a StationError
        replies.put(("error", "DYNAMO_LOCAL_START_FAILED", f"{type(exc).__name__}: {exc}", None))
        return
    try:
        replies.put(("ok", url))
        while not stop.wait(PARENT_CHECK_SECONDS):
            if parent is not None and not parent.is_alive():
                break
    finally:
        server.stop()


class LocalDynamoProcess:
    """A :class:`LocalDynamo` in a process of its own; the same ``start``/``stop``/
    ``endpoint_url`` and context manager.

    The server (moto, pure Python) would otherwise share the GIL with its host: the demo
    app's window stalled for up to 120 ms while it answered a sync. The demo app and the
    benchmarks use this one, as the cloud is another machine on a real line. ``start``
    blocks until the server answers (a second or two: a new interpreter imports moto).
    """

    def __init__(self, *, port: int = 0, ready_timeout: float = 60.0) -> None:
        self.port = port
        self.ready_timeout = ready_timeout
        self._process: Any = None
        self._stop: Any = None
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        return _running(self._endpoint_url, "LocalDynamoProcess")

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> str:
        if self._endpoint_url is not None:
            return self._endpoint_url
        import multiprocessing
        import queue

        context = multiprocessing.get_context("spawn")
        replies, self._stop = context.Queue(), context.Event()
        self._process = context.Process(
            target=_serve_until_stopped, args=(replies, self._stop, self.port), name="local-dynamodb", daemon=True
        )
        self._process.start()
        deadline = time.monotonic() + self.ready_timeout
        reply = None
        while reply is None:
            try:
                reply = replies.get(timeout=0.2)
            except queue.Empty:
                exit_code = self._process.exitcode
                if exit_code is None and time.monotonic() < deadline:
                    continue
                self.stop()
                why = (f"ended with exit code {exit_code} before it served" if exit_code is not None
                       else f"did not answer within {self.ready_timeout:.0f} s")
                raise StationError(
                    f"the local DynamoDB server process {why}",
                    code="DYNAMO_LOCAL_START_FAILED",
                    hint="See the station log; the machine may be overloaded.",
                ) from None
        if reply[0] != "ok":
            self.stop()
            _, code, message, hint = reply
            raise StationError(message, code=code, hint=hint)
        self._endpoint_url = reply[1]
        return self._endpoint_url

    def stop(self) -> None:
        """Stop the server process (and free its port). Safe to call twice."""
        process, self._process = self._process, None
        self._endpoint_url = None
        if process is None:
            return
        self._stop.set()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)

    def __enter__(self) -> LocalDynamoProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_dynamo_in_child_process() -> Iterator[str]:
    """A LocalDynamo in a process of its own (yields its endpoint URL).

    Benchmarks use it so the server does not share the GIL with the code they measure.
    """
    with LocalDynamoProcess() as server:
        yield server.endpoint_url
