"""Errors the developer has to act on; the CLI prints them without a traceback."""

from __future__ import annotations


class DevstackError(Exception):
    """Base class: the message alone must say what went wrong and what to do."""


class PortInUseError(DevstackError):
    """A port the stack wants to listen on is already taken."""

    def __init__(self, port: int, what: str, hint: str = "") -> None:
        message = f"port {port} ({what}) is already in use on 127.0.0.1"
        if hint:
            message = f"{message}; {hint}"
        super().__init__(message)
        self.port = port


class PostgresError(DevstackError):
    """The local PostgreSQL cluster could not be prepared, started or stopped."""


class ServiceError(DevstackError):
    """A process of the stack failed to start or become healthy."""
