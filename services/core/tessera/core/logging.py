"""Structured logging: one JSON object per line with service, job id and event id.

``job_id`` and ``event_id`` come from context variables, so code deep inside a handler logs
them without threading them through every call: wrap the work in :func:`log_context`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tessera_job_id", default=None)
_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tessera_event_id", default=None)


@contextlib.contextmanager
def log_context(*, job_id: str | None = None, event_id: str | None = None) -> Iterator[None]:
    """Within this block every log record carries the given job and/or event id."""
    tokens = []
    if job_id is not None:
        tokens.append((_job_id, _job_id.set(job_id)))
    if event_id is not None:
        tokens.append((_event_id, _event_id.set(event_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, service, logger, msg, job_id, event_id, extras."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        job_id, event_id = _job_id.get(), _event_id.get()
        if job_id:
            payload["job_id"] = job_id
        if event_id:
            payload["event_id"] = event_id
        for key, value in vars(record).items():
            if key not in self._standard and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines (idempotent: replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python is chatty at INFO about every connection.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
