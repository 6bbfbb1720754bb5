"""JSON logs, one object a line, each with the service name and the current request id."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

from anime_common._request_id import request_id_var


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn adds an ANSI-coloured duplicate of the message; JSON readers don't want it.
        record.__dict__.pop("color_message", None)
        record.service = self._service
        record.request_id = request_id_var.get()
        return True


def configure_logging(*, service: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) to one JSON stream on stderr."""
    handler = logging.StreamHandler(sys.stderr)
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
