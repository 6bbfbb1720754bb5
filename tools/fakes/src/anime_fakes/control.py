"""`/_fake/...`: how a test or a person steers a running fake over HTTP."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from anime_fakes.faults import FakeState, Fault


def control_routes(state: FakeState) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def add_fault(request: Request) -> Response:
        state.add_fault(Fault.from_json(await request.json()))
        return JSONResponse({"faults": len(state.faults)}, status_code=201)

    async def clear_faults(request: Request) -> Response:
        state.clear_faults()
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def latency(request: Request) -> Response:
        state.latency = float((await request.json())["seconds"])
        return JSONResponse({"latency": state.latency})

    return [
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/faults", add_fault, methods=["POST"]),
        Route("/_fake/faults", clear_faults, methods=["DELETE"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/latency", latency, methods=["PUT"]),
    ]
