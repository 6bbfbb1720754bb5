"""Route of jobs: a 202 of the library names a job, read back here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import JSONResponse, document, requires
from anime_library.jobs import service
from anime_library.jobs.schemas import JobOut
from anime_library.state import get_state, user_of

TAGS = ("library",)


@document("One of the user's jobs", response=JobOut, errors=[404], tags=TAGS)
@requires()
async def get_job(request: Request) -> Response:
    job = await service.job_of(
        state=get_state(request), user_id=user_of(request), raw_id=request.path_params["id"]
    )
    return JSONResponse(JobOut.of(job))


routes: list[BaseRoute] = [Route("/jobs/{id}", get_job, methods=["GET"])]
