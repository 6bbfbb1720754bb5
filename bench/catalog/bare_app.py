"""The baseline for the listing: bare Starlette + asyncpg running the catalog's own listing SQL.

    python bench/catalog/bare_app.py --dsn postgresql://... --port 8100

No middleware, no SQLAlchemy, no validation: one asyncpg pool, one query per
request (the same page statement the service runs; the total is counted once
at start-up, as the service's count cache does in steady state), orjson out.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anime_catalog.repository import _anime_count_sql, _anime_page_sql

PAGE_SQL = re.sub(
    r":limit\b", "$1", re.sub(r":offset\b", "$2", str(_anime_page_sql("-created_at", ())))
)
COUNT_SQL = str(_anime_count_sql(()))


def build(dsn: str) -> Starlette:
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        state["pool"] = pool
        state["total"] = str(await pool.fetchval(COUNT_SQL))
        yield
        await pool.close()

    async def listing(request: Request) -> Response:
        limit = int(request.query_params.get("limit", 20))
        offset = int(request.query_params.get("offset", 0))
        pool = state["pool"]
        assert isinstance(pool, asyncpg.Pool)
        rows = await pool.fetch(PAGE_SQL, limit, offset)
        body = orjson.dumps([dict(row) for row in rows], option=orjson.OPT_UTC_Z)
        headers = {"X-Total-Count": str(state["total"])}
        return Response(body, media_type="application/json", headers=headers)

    return Starlette(routes=[Route("/anime", listing)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.dsn),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
