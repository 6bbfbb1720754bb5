"""The in-process job runner of the library service (DESIGN.md, "Background jobs").

A route validates, calls `submit(key, work)` and answers 202 at once; a fixed
set of workers writes to the database afterwards. What it guarantees:

- one open job per key: a second submit of a key that is queued or running
  answers the existing job; with `replace=True` (watch progress) the newest
  payload replaces the queued one, or, while the job runs, becomes its one
  follow-up run, so the last payload sent is the one that lands;
- every run opens its own session and commits, or rolls back on error; a
  transient database error is retried with exponential backoff a bounded
  number of times, anything else fails the job with its error text;
- a bounded queue: when full, `submit` raises the 503 error and records nothing;
- finished jobs are kept for a bounded time and number, so memory stays bounded;
- `shutdown` refuses new submits and drains what is queued within a grace
  period, then logs by key whatever it could not drain.

Throughput (PERF_NOTES.md, batching queued writes): a worker takes up to
`batch_size` queued jobs at once, and jobs of the same handler queued back to
back go to the handler together, so it can write them with one statement and
one commit. Statuses stay per job: when a shared transaction fails for a reason
other than a transient one, each of its jobs is run again alone, and only the
bad one fails. Jobs are spread over the workers by `lane` (the key unless the
work names one), so the jobs of one lane run one at a time and in order: a
favorite's add and remove are never reordered by two workers racing.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
import time
import uuid
import zlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import AppError, ServiceUnavailableError, is_database_unavailable

logger = logging.getLogger("anime_library.jobs")

# SQLSTATEs worth a retry besides a lost connection: serialization failure, deadlock.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_MAX_BACKOFF_SECONDS = 5.0
_MAX_ERROR_LENGTH = 300


class Handler(Protocol):
    """Does the work of one or more jobs in the session it is given (never commits)."""

    async def __call__(self, *, session: AsyncSession, payloads: Sequence[Any]) -> None: ...


class Transaction(Protocol):
    """A fresh session that commits at the end or rolls back (`Database.transaction`)."""

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]: ...


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Work:
    """What a job does: `handler(session=..., payloads=[payload, ...])`."""

    handler: Handler
    payload: Any
    # Jobs of one lane never run concurrently; None means the job's key.
    lane: str | None = None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(eq=False, slots=True)
class Job:
    id: uuid.UUID
    key: str
    owner: str | None
    work: Work
    created_at: datetime.datetime = field(default_factory=_now)
    status: JobStatus = JobStatus.QUEUED
    error: str | None = None
    finished_at: datetime.datetime | None = None
    # The newest payload submitted while this job was running: it runs next.
    follow_up: Work | None = None
    runs: int = 0
    # Made on first use of `done`: finished jobs are kept by the ten thousand, and an
    # event is three more objects each for the garbage collector to walk (p99 pauses).
    _done: asyncio.Event | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def done(self) -> asyncio.Event:
        """Set once the job has finished."""
        if self._done is None:
            self._done = asyncio.Event()
            if self.finished:
                self._done.set()
        return self._done

    def to_dict(self) -> dict[str, Any]:
        """API.md's Job."""
        return {
            "id": self.id,
            "key": self.key,
            "status": self.status.value,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same transaction again may succeed."""
    if is_database_unavailable(exc):
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            asyncpg.exceptions.SerializationError | asyncpg.exceptions.DeadlockDetectedError,
        ):
            return True
        if getattr(current, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def describe_error(exc: BaseException) -> str:
    """The error text a job shows its owner: the kind of failure, never SQL or parameters."""
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, sa_exc.DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None else None
        kind = type(cause or exc.orig or exc).__name__
        return f"Database error ({kind})"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_LENGTH]


class JobRunner:
    """Keyed background jobs on a fixed set of asyncio workers (see the module docs)."""

    def __init__(
        self,
        *,
        transaction: Transaction,
        workers: int,
        max_queued: int,
        batch_size: int = 100,
        retry_attempts: int = 3,
        retry_backoff: float = 0.1,
        retention: float = 600.0,
        max_retained: int = 50_000,
    ) -> None:
        if workers < 1 or max_queued < 1 or batch_size < 1:
            raise ValueError("workers, max_queued and batch_size must be at least 1")
        self._transaction = transaction
        self._max_queued = max_queued
        self._batch_size = batch_size
        self._retry_attempts = retry_attempts
        self._retry_backoff = retry_backoff
        self._retention = retention
        self._max_retained = max_retained
        self._queues: list[deque[Job]] = [deque() for _ in range(workers)]
        self._wakeups = [asyncio.Event() for _ in range(workers)]
        self._tasks: list[asyncio.Task[None]] = []
        self._open: dict[str, Job] = {}  # by key: queued or running
        self._jobs: dict[uuid.UUID, Job] = {}
        self._latest: dict[str, Job] = {}  # by key: the newest job still kept
        self._finished: OrderedDict[uuid.UUID, float] = OrderedDict()  # id → monotonic end
        # Queued jobs plus reserved follow-ups; never above max_queued.
        self._pending = 0
        # Submits are taken from construction on (they wait for `start`) until `shutdown`.
        self._accepting = True
        self.committed = 0  # jobs succeeded since start, for the benchmark and logs
        self.failed = 0  # jobs failed since start, for the metrics

    # --- the producer side -------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def accepting(self) -> bool:
        return self._accepting

    def start(self) -> None:
        """Start the workers (inside a running event loop)."""
        if self._tasks:
            raise RuntimeError("the job runner is already started")
        self._tasks = [
            asyncio.create_task(self._work(index), name=f"library-job-worker-{index}")
            for index in range(len(self._queues))
        ]

    def submit(
        self, key: str, work: Work, *, owner: str | None = None, replace: bool = False
    ) -> Job:
        """The open job of `key`, or a new queued one; 503 when shutting down or full.

        Synchronous on purpose: the check of the key, the capacity and the
        enqueue happen without a suspension point, so two requests can never
        both create a job for one key, and a refused submit leaves no trace.
        """
        if not self._accepting:
            raise ServiceUnavailableError("The library is not accepting changes now; retry soon")
        existing = self._open.get(key)
        if existing is not None:
            if replace:
                if existing.status is JobStatus.QUEUED:
                    existing.work = work
                else:
                    if existing.follow_up is None:
                        self._reserve()
                    existing.follow_up = work
            return existing
        self._reserve()
        job = Job(id=uuid.uuid4(), key=key, owner=owner, work=work)
        self._open[key] = job
        self._jobs[job.id] = job
        self._latest[key] = job
        self._enqueue(job)
        return job

    def get(self, job_id: uuid.UUID) -> Job | None:
        self._prune()
        return self._jobs.get(job_id)

    def open_jobs(self) -> list[Job]:
        """Every queued or running job (at most the queue's bound plus the workers' batches)."""
        return list(self._open.values())

    def latest(self, key: str) -> Job | None:
        """The newest job of `key`, open or finished, while it is still kept."""
        self._prune()
        return self._latest.get(key)

    def _reserve(self) -> None:
        if self._pending >= self._max_queued:
            raise ServiceUnavailableError("Too many pending changes; retry shortly")
        self._pending += 1

    def _enqueue(self, job: Job) -> None:
        lane = job.work.lane or job.key
        index = zlib.crc32(lane.encode()) % len(self._queues)
        self._queues[index].append(job)
        self._wakeups[index].set()

    # --- the workers ---------------------------------------------------------------

    async def _work(self, index: int) -> None:
        queue, wakeup = self._queues[index], self._wakeups[index]
        while True:
            if not queue:
                if not self._accepting:
                    return
                wakeup.clear()
                await wakeup.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), self._batch_size))]
            self._pending -= len(batch)
            for job in batch:
                job.status = JobStatus.RUNNING
                job.runs += 1
            # Consecutive jobs of one handler share a transaction; order is kept.
            start = 0
            for end in range(1, len(batch) + 1):
                if end == len(batch) or batch[end].work.handler is not batch[start].work.handler:
                    await self._run_group(batch[start:end])
                    start = end

    async def _run_group(self, group: Sequence[Job]) -> None:
        error = await self._attempt(group)
        if error is not None and len(group) > 1 and not is_transient(error):
            # One bad payload must not fail its neighbours: run each alone.
            for job in group:
                self._finish(job, await self._attempt([job]))
            return
        for job in group:
            self._finish(job, error)

    async def _attempt(self, group: Sequence[Job]) -> BaseException | None:
        """Run jobs in one transaction, retrying transient failures; the last error, if any."""
        handler = group[0].work.handler
        payloads = [job.work.payload for job in group]
        attempt = 0
        while True:
            try:
                async with self._transaction() as session:
                    await handler(session=session, payloads=payloads)
            except Exception as exc:
                if is_transient(exc) and attempt < self._retry_attempts:
                    delay = min(self._retry_backoff * 2**attempt, _MAX_BACKOFF_SECONDS)
                    attempt += 1
                    logger.warning(
                        "job %s: transient database error, retry %d/%d in %.2fs",
                        group[0].key,
                        attempt,
                        self._retry_attempts,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                if len(group) == 1:
                    logger.exception("job %s failed", group[0].key)
                return exc
            return None

    def _finish(self, job: Job, error: BaseException | None) -> None:
        if job.follow_up is not None:
            # A newer payload arrived while this one ran: it lands next, in the same
            # job (its queue slot was reserved when it was submitted).
            job.work, job.follow_up = job.follow_up, None
            job.status = JobStatus.QUEUED
            self._enqueue(job)
            return
        if error is None:
            job.status = JobStatus.SUCCEEDED
            self.committed += 1
        else:
            job.status = JobStatus.FAILED
            job.error = describe_error(error)
            self.failed += 1
        self._close(job)

    def _close(self, job: Job) -> None:
        job.finished_at = _now()
        if self._open.get(job.key) is job:
            del self._open[job.key]
        self._finished[job.id] = time.monotonic()
        if job._done is not None:
            job._done.set()
        self._prune()

    def _prune(self) -> None:
        horizon = time.monotonic() - self._retention
        while self._finished:
            job_id, ended = next(iter(self._finished.items()))
            if ended > horizon and len(self._finished) <= self._max_retained:
                break
            del self._finished[job_id]
            job = self._jobs.pop(job_id, None)
            if job is not None and self._latest.get(job.key) is job:
                del self._latest[job.key]

    # --- shutdown --------------------------------------------------------------------

    async def shutdown(self, *, grace: float) -> list[str]:
        """Refuse new submits, drain within `grace` seconds; the keys left undone."""
        self._accepting = False
        for wakeup in self._wakeups:
            wakeup.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        left = sorted(self._open)
        if left:
            logger.error(
                "job runner stopped with %d job(s) not drained within %.1fs: %s",
                len(left),
                grace,
                ", ".join(left),
            )
        for job in list(self._open.values()):
            job.status = JobStatus.FAILED
            job.error = "Not done: the service stopped before it ran"
            job.follow_up = None
            self._close(job)
        for queue in self._queues:
            queue.clear()
        self._pending = 0
        return left
