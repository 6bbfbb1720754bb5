"""`python -m anime_fakes aniwatch|anilist [--port N] [--latency-ms MS]`: a fake in the
foreground. `HOST`/`PORT` and `FAKE_LATENCY_MS` from the environment are the defaults, so
the devstack can run it like one of its services."""

from __future__ import annotations

import argparse
import os

import uvicorn

from anime_fakes.anilist import create_anilist_app
from anime_fakes.aniwatch import create_aniwatch_app
from anime_fakes.faults import FakeState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m anime_fakes")
    parser.add_argument("fake", choices=["aniwatch", "anilist"])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
    parser.add_argument(
        "--latency-ms", type=float, default=float(os.environ.get("FAKE_LATENCY_MS", "0"))
    )
    args = parser.parse_args(argv)
    state = FakeState(latency=args.latency_ms / 1000)
    app = create_aniwatch_app(state) if args.fake == "aniwatch" else create_anilist_app(state)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
