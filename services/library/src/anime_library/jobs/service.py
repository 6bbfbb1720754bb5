"""Who may see a job: its owner, from any replica."""

from __future__ import annotations

import uuid

from anime_common import NotFoundError, parse_path_id
from anime_library.jobs.runner import Job
from anime_library.state import LibraryState


async def job_of(*, state: LibraryState, user_id: uuid.UUID, raw_id: str) -> Job:
    """A job of this user; anyone else's (or an unknown, pruned one): 404."""
    job = await state.runner.get(parse_path_id(raw_id, what="Job"))
    if job is None or job.owner != user_id:
        raise NotFoundError("Job not found")
    return job
