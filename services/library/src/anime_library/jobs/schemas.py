"""What `GET /jobs/{id}` and every 202 of the library answer about a job (API.md, Job)."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

from pydantic import BaseModel

from anime_library.jobs.runner import Job


class JobOut(BaseModel):
    id: uuid.UUID
    key: str
    status: Literal["queued", "running", "succeeded", "failed"]
    error: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            key=job.key,
            status=job.status.value,
            error=job.error,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


class JobAccepted(BaseModel):
    job: JobOut
