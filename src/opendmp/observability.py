"""What an operator sees of a running node (docs/deployment.md, "Monitoring"): one log line
per request, the request id echoed in ``X-Request-ID``, Prometheus metrics per route, queue
depths, and the logging set-up (JSON or text).

A log line carries the route *template* (``/fhir/DocumentReference/{id}``), never the raw
path or query (they may hold an INS), and the actor's kind, never an identity.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendmp.auth.actor_kind import actor_kind_of

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
# What a proxy may hand us (a UUID, haproxy's unique-id, …): anything else is replaced, so a
# caller cannot write into the logs.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}", re.ASCII)

access_log = logging.getLogger("opendmp.access")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "opendmp_request_id", default=None
)

QueueProbe = Callable[[], Awaitable[float]]


class Metrics:
    """One registry per app. ``queue_probes`` is the hook of the queue-depth gauge: each
    named probe (``outbox``, and ``audit`` once an audit tail exists) is read at scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opendmp_http_requests",
            "HTTP requests by route template, method, status and status class",
            ["route", "method", "status", "status_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "opendmp_http_request_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_lag = Gauge(
            "opendmp_outbox_lag_seconds",
            "Age of the oldest notification waiting in the outbox",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "opendmp_queue_depth",
            "Items waiting in a background queue (outbox: notifications to send)",
            ["queue"],
            registry=self.registry,
        )
        self.queue_probes: dict[str, QueueProbe] = {}

    async def read_queues(self) -> None:
        """Set each queue's gauge from its probe; a probe that fails (the database down)
        leaves its gauge as it was and is logged: a scrape always answers."""
        for name, probe in self.queue_probes.items():
            try:
                self.queue_depth.labels(name).set(await probe())
            except Exception:
                logging.getLogger("opendmp").warning("queue depth %s unavailable", name)


def incoming_request_id(scope: Scope) -> str:
    """The proxy's request id when well formed, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == _REQUEST_ID_KEY:
            candidate = bytes(value).decode("latin-1")
            if _WELL_FORMED_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's template, or ``unmatched``: never the raw path."""
    path: object = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestLog:
    """ASGI middleware: request id in and out, one log line and the metrics per request.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs every request through a
    task group and memory streams, which cost more CPU than some whole API requests. The
    router stores the matched route in the shared ``scope``; the authentication notes the
    actor's kind in ``scope["state"]`` (auth/actor_kind.py).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = incoming_request_id(scope)
        token = request_id_var.set(request_id)
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500
        header = (_REQUEST_ID_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, actor_kind_of(state))
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, actor: str) -> None:
        route, method = route_template(scope), scope["method"]
        status_class = f"{status // 100}xx"
        self.metrics.requests.labels(route, method, str(status), status_class).inc()
        self.metrics.latency.labels(route, method).observe(seconds)
        duration_ms = round(seconds * 1000, 2)
        access_log.info(
            "%s %s %d %.2fms %s",
            method,
            route,
            status,
            duration_ms,
            actor,
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                    "actor_kind": actor,
                }
            },
        )


# --- logging set-up --------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id when inside a
    request, and the record's ``fields`` (the request line's)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    """``time level logger message [request id]``, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        return f"{line} [{request_id}]" if request_id is not None else line


# Libraries whose DEBUG/INFO records carry SQL parameters or request bodies (an INS, a name):
# WARNING and up only, whatever OPENDMP_LOG_LEVEL says.
QUIET_LIBRARIES = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "python_multipart")


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) in ``log_format`` (``json`` or ``text``)
    from ``level`` up; the server's and the worker's processes call it once at start."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
