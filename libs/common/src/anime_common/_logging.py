"""Logs, one line per record with the service name and the current request id: JSON
objects by default (for collectors), plain text with `LOG_FORMAT=text` (for a terminal)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.orjson import OrjsonFormatter

from anime_common._request_id import request_id_var

LogFormat = Literal["json", "text"]

# Set while a routine background call runs (the revocation poll every 2 s): the
# INFO lines it causes, httpx's "HTTP Request: ..." among them, count as DEBUG.
_routine_var: ContextVar[bool] = ContextVar("anime_routine_logs", default=False)


class _TextFormatter(logging.Formatter):
    """`12:00:01 INFO    catalog anime_common.access [req-id] GET /anime 200`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(service)s %(name)s [%(rid)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        values = dict(record.__dict__, rid=record.__dict__.get("request_id") or "-")
        return self._style._fmt % values


@contextlib.contextmanager
def routine_logs() -> Iterator[None]:
    """Within this block, INFO records are logged at DEBUG: routine, not news."""
    token = _routine_var.set(True)
    try:
        yield
    finally:
        _routine_var.reset(token)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and _routine_var.get():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
        # uvicorn adds an ANSI-coloured duplicate of the message; JSON readers don't want it.
        record.__dict__.pop("color_message", None)
        record.service = self._service
        record.request_id = request_id_var.get()
        return True


def configure_logging(*, service: str, level: str = "INFO", log_format: LogFormat = "json") -> None:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) to one stream on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "text":
        handler.setFormatter(_TextFormatter())
    else:
        # orjson (already every response's encoder) formats a line in about half the time.
        handler.setFormatter(
            OrjsonFormatter(
                "{levelname}{name}{message}{service}{request_id}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
