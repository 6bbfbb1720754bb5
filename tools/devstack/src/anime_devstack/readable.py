"""One readable line from what a process left in its log (JSON lines or plain text)."""

from __future__ import annotations

import json

# uvicorn's own closing words after a failed start-up say nothing about the cause.
_NOISE = frozenset({"Application startup failed. Exiting.", "Waiting for application startup."})


def _record(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def last_error(text: str) -> str:
    """The last CRITICAL/FATAL/ERROR message of a JSON log (ours or Traefik's), else its
    last plain line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        record = _record(line)
        if record is None:
            continue
        message = str(record.get("message") or record.get("msg") or "")
        level = str(record.get("level", "")).upper()
        if level in ("CRITICAL", "FATAL", "ERROR") and message and message not in _NOISE:
            # Traefik keeps the cause in "error" and says only "Command error" as the message.
            detail = str(record.get("error") or "")
            return f"{message}: {detail}" if detail and detail not in message else message
    for line in reversed(lines):
        if _record(line) is None and not line.startswith(("File ", "^", "~", "---")):
            return line
    return lines[-1] if lines else "(the log is empty)"
