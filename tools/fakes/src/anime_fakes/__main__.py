"""`python -m anime_fakes aniwatch|anilist|hls [--port N] [--latency-ms MS]`: a fake in the
foreground. `HOST`/`PORT`, `FAKE_LATENCY_MS` and `FAKE_CDN_URL` (where the aniwatch fake's
stream URLs point: the hls fake) from the environment are the defaults, so the devstack
can run it like one of its services."""

from __future__ import annotations

import argparse
import os

import uvicorn

from anime_fakes.anilist import create_anilist_app
from anime_fakes.aniwatch import CDN_URL, create_aniwatch_app
from anime_fakes.faults import FakeState
from anime_fakes.hls import SEGMENT_SIZE, create_hls_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m anime_fakes")
    parser.add_argument("fake", choices=["aniwatch", "anilist", "hls"])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
    parser.add_argument(
        "--latency-ms", type=float, default=float(os.environ.get("FAKE_LATENCY_MS", "0"))
    )
    parser.add_argument("--cdn-url", default=os.environ.get("FAKE_CDN_URL", CDN_URL))
    parser.add_argument("--segment-size", type=int, default=SEGMENT_SIZE)
    args = parser.parse_args(argv)
    state = FakeState(latency=args.latency_ms / 1000)
    if args.fake == "aniwatch":
        app = create_aniwatch_app(state, cdn_url=args.cdn_url)
    elif args.fake == "hls":
        app = create_hls_app(state, segment_size=args.segment_size)
    else:
        app = create_anilist_app(state)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
