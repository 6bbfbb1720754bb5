"""`python -m anime_edge`: serve the error pages with uvicorn on HOST:PORT."""

from __future__ import annotations

import os

import uvicorn

from anime_common import configure_logging


def main() -> None:
    # The same JSON log lines as the services (no settings object: this app
    # has no database, no secret and nothing else to configure).
    configure_logging(
        service="edge",
        level=os.environ.get("LOG_LEVEL", "INFO"),
        log_format="text" if os.environ.get("LOG_FORMAT") == "text" else "json",
    )
    uvicorn.run(
        "anime_edge.app:app",
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8009")),
        # Traefik's JSON access log already records every request this app sees.
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
