"""Logging: set up in one place, as text or JSON lines, with one line per RPC.

The RPC log says which method, how it ended, how long it took and who called. It never
holds the request or the call's metadata: circuits can be large and private, and metadata
will carry bearer tokens.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from grpc_health.v1 import health

if TYPE_CHECKING:
    import grpc

    from ibmq_gateway.server.api.interceptors import Call

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RPC_LOGGER = "ibmq_gateway.server.rpc"

# Attributes every LogRecord has; the rest of a record's attributes came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of a ``log_format`` setting (``text`` or ``json``).

    Raises:
        ValueError: another format.
    """
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {log_format!r}; use text or json")


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Sends every log record to ``stream`` (stderr) in ``log_format``.

    ``level`` is the gateway's own; libraries stay at WARNING (qiskit logs every
    transpiler pass at INFO).

    Raises:
        ValueError: an unknown level or format.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format))
    logging.getLogger("ibmq_gateway").setLevel(level.upper())
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


class RpcLog:
    """Logs each finished RPC (a ``CallObserver`` of the observing interceptor)."""

    def __init__(self) -> None:
        self._log = logging.getLogger(RPC_LOGGER)

    def first_message(self, call: Call, seconds: float) -> None:
        """Nothing: a stream is logged once, when it ends."""

    def finished(self, call: Call, code: grpc.StatusCode, seconds: float) -> None:
        """Logs the call: method, status code, duration, principal and peer."""
        # Health checks come every few seconds from probes; they would drown the rest.
        level = logging.DEBUG if call.service == health.SERVICE_NAME else logging.INFO
        duration_ms = round(seconds * 1000, 3)
        self._log.log(
            level,
            "%s/%s %s %.1f ms principal=%s",
            call.service,
            call.method,
            code.name,
            duration_ms,
            call.principal,
            extra={
                "service": call.service,
                "method": call.method,
                "code": code.name,
                "duration_ms": duration_ms,
                "principal": call.principal,
                "peer": call.peer,
                "stream": call.streaming,
            },
        )
