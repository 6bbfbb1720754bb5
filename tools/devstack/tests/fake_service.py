"""A stand-in for a service in the stack tests: /health, and /env to show what it got.

Run as ``python fake_service.py <name>``; FAKE_FAIL=<name> makes that one exit at once.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]
SHOWN = (
    "DATABASE_URL",
    "SECRET_KEY",
    "ALLOWED_ORIGINS",
    "MEDIA_ROOT",
    "AUTH_SERVICE_URL",
    "EDGE_ERRORS_URL",
    "HOST",
    "PORT",
    "FAKE_MARKER",
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body: dict[str, str | None]
        if self.path.startswith("/health"):
            body = {"status": "ok", "service": NAME}
        elif self.path.startswith("/env"):
            body = {key: os.environ.get(key) for key in SHOWN}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        sys.stdout.write(f"{NAME}: {format % args}\n")


if __name__ == "__main__":
    if os.environ.get("FAKE_FAIL") == NAME:
        print(f"{NAME}: boom, cannot start", flush=True)
        raise SystemExit(3)
    server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    print(f"{NAME}: listening on {os.environ['PORT']}", flush=True)
    server.serve_forever()
