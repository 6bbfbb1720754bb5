"""The library's durable job runner (DESIGN.md, "Background jobs"), on `library.jobs`.

A route validates, awaits `submit(key, work)` and answers 202: by then the job
is committed, so no accepted write is lost when a process dies, and every
replica sees it. What it guarantees:

- **Group commit**: a submit waits at most `group_window` seconds (0: the
  rest of the event loop's turn) for others, and the group goes to the
  database in one statement (one round trip for many requests under load).
  One group is in flight at a time: what arrives while it is written forms
  the next one, so groups grow with the load instead of the statements
  (a full group, `group_max`, goes at once all the same).
  When the database cannot take it, or the open jobs would pass `max_open`,
  the submit raises the 503 error (with `Retry-After`) and nothing of it is
  recorded.
- **One open job per key**, across every replica (a unique partial index): a
  second submit of an open key answers the existing job; with `replace=True`
  (watch progress, views) the newest payload replaces a queued job's, or,
  while the job runs, becomes its one follow-up run, so the last payload sent
  is the one that lands. Without `replace` (favorites: the job is `kept`), a
  submit given `done_after` is answered by a job of its key that has
  succeeded since the caller's read, so two identical requests at once are
  one job even when the first finished in between.
- **Workers** in every process claim batches (`FOR UPDATE SKIP LOCKED`), woken
  by `LISTEN/NOTIFY` on a connection of their own, with a poll as the
  fallback. A woken worker waits `claim_delay` before it claims, so the
  submits of the next moments share its batch. A worker done with a batch
  claims again at once when more may be due at once (the batch was full, or
  held a lane's job); after `claim_delay` when jobs are due that nobody will
  be notified of (a follow-up, a failure) or notifications came while it ran
  (it was one of them, or every worker was busy); otherwise it waits for a
  notification. Jobs of one kind in a batch are written together and marked
  done atomically: by one SQL statement (a `BatchWrite`), or by one Python
  handler call in a transaction that also marks them. The work and its
  `succeeded` commit together.
  A batch that fails for a reason other than a transient one is run again job
  by job, so only the bad job fails, with its error text.
  Transient errors are retried with exponential backoff, a bounded number of
  times; a database that cannot be reached is waited for (the job is never
  failed for an outage). Jobs of one lane run one at a time, oldest first.
- **Leases**: a claimed job is leased to its worker, renewed while it runs; a
  job whose worker died goes back to the queue when the lease runs out and
  runs again (handlers are idempotent upserts).
- **Bounded**: at most `max_open` open jobs; finished jobs are deleted
  `retention` seconds after they finished.
- **Shutdown** stops taking submits and claiming, finishes the batch in hand
  within a grace period, and leaves everything else queued for the next
  process or another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import enum
import functools
import logging
import os
import secrets
import socket
import typing
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import orjson

from anime_common import (
    AppError,
    ReadPool,
    ServiceUnavailableError,
    is_database_unavailable,
    iter_causes,
)
from anime_library.jobs import repository
from anime_library.jobs.repository import BatchWrite, ClaimedJob, JobRow, NewJob, QueueCounts

logger = logging.getLogger("anime_library.jobs")

# SQLSTATEs worth a retry besides a lost connection: serialization failure, deadlock.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_MAX_BACKOFF_SECONDS = 5.0
_MAX_ERROR_LENGTH = 300
_PRUNE_BATCH = 10_000
# What a client is told to wait before trying a refused write again.
RETRY_AFTER_SECONDS = 1


class PythonHandler(Protocol):
    """Does the work of one or more jobs on the connection it is given.

    The connection is inside the runner's transaction (asyncpg, no ORM: half
    the CPU per transaction, bench/library); the handler never commits.
    """

    async def __call__(
        self, *, connection: asyncpg.Connection, payloads: Sequence[Any]
    ) -> None: ...


# What a job does: a write that SQL alone can say is a `BatchWrite` (every kind
# of the library's: the cheapest form, repository.BatchWrite); work that needs
# Python between its statements is a `PythonHandler`.
Handler = BatchWrite | PythonHandler


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Work:
    """What a job does (`handler`, for a batch of payloads) and this job's payload."""

    handler: Handler
    payload: Any
    # Jobs of one lane run one at a time, oldest first; None: no order with others.
    lane: str | None = None


@dataclass(frozen=True, slots=True)
class JobKind:
    """A handler the workers of every replica know by name, and its payload's type.

    The payload is stored as JSON and read back into `payload_type` (a
    dataclass of UUIDs, datetimes, numbers, booleans and strings), or None.
    """

    name: str
    handler: Handler
    payload_type: type | None = None

    def load(self, text: str | None) -> Any:
        if self.payload_type is None or text is None:
            return None
        return _from_json(self.payload_type, orjson.loads(text))


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    return cls(**{name: convert(data[name]) for name, convert in _converters(cls)})


@functools.cache
def _converters(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Each field of a payload dataclass and what makes its JSON value a Python one again.

    Worked out once per class: type hints cost far more than the job (bench/library).
    """
    hints = typing.get_type_hints(cls)
    return tuple((item.name, _converter(hints[item.name])) for item in dataclasses.fields(cls))


def _converter(annotation: Any) -> Callable[[Any], Any]:
    options = [option for option in typing.get_args(annotation) if option is not type(None)]
    target = options[0] if options else annotation  # X | None reads as X
    parsers: dict[Any, Callable[[Any], Any]] = {
        uuid.UUID: uuid.UUID,
        datetime.datetime: datetime.datetime.fromisoformat,
        float: float,
    }
    parse = parsers.get(target)
    if parse is None:
        return _same
    return functools.partial(_or_none, parse)


def _same(value: Any) -> Any:
    return value


def _or_none(parse: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else parse(value)


@dataclass(frozen=True, slots=True)
class Job:
    """A job as its submitter and `GET /jobs/{id}` see it."""

    id: uuid.UUID
    key: str
    status: JobStatus
    error: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    owner: uuid.UUID | None = None
    # The payload the job will write (an earlier submit's, when the key was open).
    payload: Any = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


def job_from_row(row: JobRow, payload: Any = None) -> Job:
    return Job(
        id=row.id,
        key=row.key,
        status=JobStatus(row.status),
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        owner=row.owner,
        payload=payload,
    )


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same transaction again may succeed."""
    if is_database_unavailable(exc):
        return True
    return any(
        isinstance(
            current,
            asyncpg.exceptions.SerializationError | asyncpg.exceptions.DeadlockDetectedError,
        )
        or getattr(current, "sqlstate", None) in _RETRYABLE_SQLSTATES
        for current in iter_causes(exc)
    )


def describe_error(exc: BaseException) -> str:
    """The error text a job shows its owner: the kind of failure, never SQL or parameters."""
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return f"Database error ({type(exc).__name__})"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_LENGTH]


def unavailable(message: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _backoff(base: float, attempt: int) -> float:
    return float(min(base * 2**attempt, _MAX_BACKOFF_SECONDS))


@dataclass(slots=True)
class _Submit:
    """One key of a group being committed, and everyone waiting for its job."""

    job: NewJob
    kind: JobKind
    payload: Any  # `job.payload` before it was JSON
    since: float  # the loop's time of the key's first submit in this group
    waiters: list[asyncio.Future[Job]] = field(default_factory=list)


class JobRunner:
    """Durable keyed jobs in `library.jobs`, and this process's workers (module docs)."""

    def __init__(
        self,
        *,
        pool: ReadPool,
        listen: Callable[[], Awaitable[asyncpg.Connection]],
        kinds: Sequence[JobKind],
        workers: int,
        max_open: int,
        batch_size: int = 200,
        group_window: float = 0.0,
        group_max: int = 500,
        submit_timeout: float = 5.0,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        claim_delay: float = 0.0,
        retry_attempts: int = 3,
        retry_backoff: float = 0.1,
        retention: float = 600.0,
    ) -> None:
        if workers < 1 or max_open < 1 or batch_size < 1 or group_max < 1:
            raise ValueError("workers, max_open, batch_size and group_max must be at least 1")
        self._pool = pool
        self._listen_connect = listen
        self._kinds = {kind.name: kind for kind in kinds}
        self._kind_of = {kind.handler: kind for kind in kinds}
        self._workers = workers
        self._max_open = max_open
        self._batch_size = batch_size
        self._group_window = group_window
        self._group_max = group_max
        self._submit_timeout = submit_timeout
        self._lease = lease
        self._poll = poll_interval
        self._claim_delay = claim_delay
        self._retry_attempts = retry_attempts
        self._retry_backoff = retry_backoff
        self._retention = retention
        # Who holds a lease: unique per process, readable in pg_stat_activity terms.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._group: dict[str, _Submit] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        # The group statement the next group waits for (module docs: one at a time).
        self._in_flight: asyncio.Task[None] | None = None
        self._wakeups = [asyncio.Event() for _ in range(workers)]
        self._idle_workers: deque[int] = deque()  # waiting for a notification, oldest first
        # A notification came while every worker was busy: the next one done claims at once.
        self._missed = False
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []
        self._in_hand: dict[int, list[uuid.UUID]] = {}
        self._stop = asyncio.Event()
        self._accepting = True
        self.committed = 0  # jobs this process committed as succeeded, for logs and the bench

    @property
    def accepting(self) -> bool:
        return self._accepting

    # --- submitting ------------------------------------------------------------------------

    async def submit(
        self,
        key: str,
        work: Work,
        *,
        owner: uuid.UUID | None = None,
        replace: bool = False,
        done_after: datetime.datetime | None = None,
    ) -> Job:
        """The open job of `key`, or a new one, once it is committed; 503 when it cannot be.

        `done_after` (kept jobs): the time of the newest job of `key` the caller's
        read saw; a job created later that has already succeeded is the answer,
        since it did what the caller asks for after that read.
        """
        if replace and done_after is not None:
            raise ValueError("done_after is for jobs whose first payload stands")
        if not self._accepting:
            raise unavailable("The library is not accepting changes now; retry soon")
        kind = self._kind_of.get(work.handler)
        if kind is None:
            raise ValueError(f"no job kind is registered for {work.handler!r}")
        new = NewJob(
            id=uuid.uuid4(),
            key=key,
            kind=kind.name,
            owner=owner,
            lane=work.lane,
            payload=orjson.dumps(work.payload).decode(),
            replace=replace,
            done_after=done_after,
        )
        pending = self._group.get(key)
        if pending is None:
            pending = self._group[key] = _Submit(
                job=new, kind=kind, payload=work.payload, since=asyncio.get_running_loop().time()
            )
        elif replace:
            # The same key twice in one group: one row, the newest payload.
            pending.job, pending.payload = new, work.payload
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        pending.waiters.append(future)
        if len(self._group) >= self._group_max:
            self._flush()
        elif self._timer is None and self._in_flight is None:
            self._timer = asyncio.get_running_loop().call_later(self._group_window, self._flush)
        return await future

    def _flush(self) -> None:
        """Send the group now (a timer's end, a full group, shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._group:
            return
        group, self._group = self._group, {}
        task = asyncio.create_task(self._write(group))
        self._writes.add(task)
        task.add_done_callback(self._written)
        self._in_flight = task

    def _written(self, task: asyncio.Task[None]) -> None:
        """A group's statement is done: what gathered meanwhile is the next group."""
        self._writes.discard(task)
        if self._in_flight is not task:
            return  # a full group sent beside the one in flight
        self._in_flight = None
        if self._group and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._group_window, self._flush)

    async def _insert(
        self,
        group: dict[str, _Submit],
        *,
        timeout: float,  # noqa: ASYNC109 - asyncpg cancels the query itself
    ) -> list[JobRow]:
        """The group's statement; a deadlock or serialization failure is tried again."""
        attempt = 0
        while True:
            try:
                # asyncpg's own timeout, not a cancellation: a query cancelled under
                # it would go back to the pool still busy.
                async with self._pool.acquire() as connection:
                    return await repository.submit(
                        connection=connection,
                        jobs=[pending.job for pending in group.values()],
                        max_open=self._max_open,
                        timeout=timeout,
                    )
            except Exception as exc:
                if is_database_unavailable(exc) or not is_transient(exc):
                    raise
                if attempt >= self._retry_attempts:
                    raise
                logger.warning("job submit: %s, retried", type(exc).__name__)
                await asyncio.sleep(_backoff(self._retry_backoff, attempt))
                attempt += 1

    async def _write(self, group: dict[str, _Submit]) -> None:
        # A group that waited for the one in flight has spent part of its submits'
        # time already: `submit_timeout` bounds a submit's wait from its arrival.
        oldest = min(pending.since for pending in group.values())
        left = self._submit_timeout - (asyncio.get_running_loop().time() - oldest)
        try:
            if left <= 0:
                raise TimeoutError("the group waited out its submit timeout")
            rows = await self._insert(group, timeout=left)
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, TimeoutError):
                logger.warning("job submit: database unavailable (%s)", type(exc).__name__)
                error: BaseException = unavailable("Database unavailable, try again shortly")
            else:
                logger.exception("job submit failed")
                error = exc
            for pending in group.values():
                _settle(pending.waiters, error=error)
            return
        by_key = {row.key: row for row in rows}
        for key, pending in group.items():
            row = by_key.get(key)
            if row is None:
                _settle(
                    pending.waiters, error=unavailable("Too many pending changes; retry shortly")
                )
                continue
            try:
                # A new job writes what was submitted; an open one what it holds.
                fresh = row.id == pending.job.id
                job = job_from_row(
                    row, pending.payload if fresh else pending.kind.load(row.payload)
                )
            except Exception as exc:  # a payload it cannot read: its worker will fail it
                logger.exception("job %s: payload not readable", key)
                _settle(pending.waiters, error=exc)
            else:
                _settle(pending.waiters, job=job)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction, committed at the end or rolled back."""
        async with self._pool.acquire() as connection, connection.transaction():
            yield connection

    # --- reading ----------------------------------------------------------------------------

    async def get(self, job_id: uuid.UUID) -> Job | None:
        async with self._pool.acquire() as connection:
            row = await repository.job_by_id(connection=connection, job_id=job_id)
        return job_from_row(row) if row is not None else None

    async def counts(self) -> QueueCounts:
        """Queue depth, running and failed jobs and lag, over every replica (for metrics)."""
        async with self._pool.acquire() as connection:
            return await repository.queue_counts(connection=connection)

    # --- the workers ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the listener, the workers and the lease/retention upkeep (in a running loop)."""
        if self._worker_tasks:
            raise RuntimeError("the job runner is already started")
        self._worker_tasks = [
            asyncio.create_task(self._work(index), name=f"library-job-worker-{index}")
            for index in range(self._workers)
        ]
        self._background = [
            asyncio.create_task(self._listen(), name="library-job-listener"),
            asyncio.create_task(self._upkeep(), name="library-job-upkeep"),
        ]

    def _wake(self, *_: object) -> None:
        """Wake one idle worker (a notification's callback): it takes what is due.

        One, not all: the others' claims would find nothing and cost a round trip
        each. A worker whose claim comes back full wakes the next.
        """
        while self._idle_workers:
            wakeup = self._wakeups[self._idle_workers.popleft()]
            if not wakeup.is_set():
                wakeup.set()
                return
        self._missed = True

    def _wake_all(self) -> None:
        self._missed = True
        self._idle_workers.clear()
        for wakeup in self._wakeups:
            wakeup.set()

    async def _idle(self, index: int, seconds: float) -> bool:
        """Wait for a notification (or `seconds`); whether one came. On the idle list already."""
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wakeups[index].wait()
        finally:
            with contextlib.suppress(ValueError):
                self._idle_workers.remove(index)
        return self._wakeups[index].is_set()

    async def _work(self, index: int) -> None:
        worker = f"{self.name}:{index}"
        failures = 0
        while not self._stop.is_set():
            # Idle from before the claim: a notification during it wakes the next wait.
            self._join_idle(index)
            try:
                async with self._pool.acquire() as connection:
                    batch = await repository.claim(
                        connection=connection,
                        worker=worker,
                        lease_seconds=self._lease,
                        limit=self._batch_size,
                    )
            except Exception as exc:
                failures += 1
                if is_transient(exc):
                    logger.warning("job worker %d: cannot claim (%s)", index, type(exc).__name__)
                else:
                    logger.exception("job worker %d: claim failed", index)
                await self._idle(index, _backoff(self._retry_backoff, failures))
                continue
            failures = 0
            if not batch:
                await self._wait_for_work(index)
                continue
            # A notification that came during the claim may be for jobs it could not see.
            notified = self._wakeups[index].is_set()
            with contextlib.suppress(ValueError):
                self._idle_workers.remove(index)
            full = len(batch) == self._batch_size
            if full:
                self._wake()  # there may be more: another worker takes the next batch
            self._in_hand[index] = [job.id for job in batch]
            done = asyncio.Event()
            renewal = asyncio.create_task(self._renew(worker, self._in_hand[index], done))
            try:
                more = await self._run_batch(worker, batch)
            finally:
                # Stopped between renewals, never cancelled inside a query (see _write).
                done.set()
                await renewal
                del self._in_hand[index]
            if full or any(job.lane is not None for job in batch):
                # More may be due now: the claim's limit, or a lane's next job (which
                # a claim skips while an older one is open; one a batch).
                self._missed = False
                continue
            if more or notified or self._missed:
                # Jobs are due (follow-ups, jobs that came while the batch ran): claimed
                # after `claim_delay`, as by a woken worker, so the next moments'
                # submits share the claim. Under load that is every batch; claiming
                # at once took only what came during the last one (bench/library).
                self._missed = False
                await self._linger()
                continue
            # The claim took every due job and each is done: what is submitted next
            # notifies an idle worker. A claim now would find nothing (it did, for
            # about every other batch under load: a round trip each).
            self._join_idle(index)
            await self._wait_for_work(index)

    def _join_idle(self, index: int) -> None:
        """On the idle list, so the next notification may wake this worker."""
        self._wakeups[index].clear()
        self._idle_workers.append(index)

    async def _wait_for_work(self, index: int) -> None:
        """Until a notification (then `claim_delay` more) or the poll; on the idle list already."""
        if await self._idle(index, self._poll):
            await self._linger()

    async def _linger(self) -> None:
        """`claim_delay`, or until shutdown, before a claim that a notification called for.

        The submits of the next moments join it: one claim and one transaction for
        many jobs instead of one for each group.
        """
        if self._claim_delay:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._claim_delay):
                    await self._stop.wait()

    async def _renew(self, worker: str, ids: list[uuid.UUID], done: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._lease / 3):
                    await done.wait()
            if done.is_set():
                return
            try:
                async with self._pool.acquire() as connection:
                    await repository.renew_leases(
                        connection=connection, worker=worker, ids=ids, lease_seconds=self._lease
                    )
            except Exception as exc:  # noqa: BLE001 - renewal is retried; a lost lease only means a re-run
                logger.warning("job leases not renewed (%s)", type(exc).__name__)

    async def _run_batch(self, worker: str, batch: Sequence[ClaimedJob]) -> bool:
        """Run a batch; whether it left jobs due that nobody was notified of.

        A follow-up queued again and a job failed or released are such jobs.
        """
        more = False
        groups: dict[str, list[ClaimedJob]] = {}
        for job in batch:
            groups.setdefault(job.kind, []).append(job)
        for name, jobs in groups.items():
            kind = self._kinds.get(name)
            if kind is None:
                for job in jobs:
                    await self._settle_failure(worker, [job], LookupError(f"unknown kind {name}"))
                more = True
                continue
            if not await self._run_group(worker, kind, jobs):
                more = True
        return more

    async def _run_group(self, worker: str, kind: JobKind, jobs: Sequence[ClaimedJob]) -> bool:
        """Whether every job of the group succeeded with no follow-up to run."""
        outcome = await self._attempt(worker, kind, jobs)
        if isinstance(outcome, int):
            return outcome == 0
        if len(jobs) > 1 and not is_transient(outcome):
            # One bad payload must not fail its neighbours: run each alone.
            for job in jobs:
                await self._run_group(worker, kind, [job])
            return False
        await self._settle_failure(worker, jobs, outcome)
        return False

    async def _attempt(
        self, worker: str, kind: JobKind, jobs: Sequence[ClaimedJob]
    ) -> BaseException | int:
        """Run jobs and mark them done atomically (`_execute`), retrying transient failures.

        The error that stopped them, or how many went back to the queue for
        their follow-up.
        """
        attempt = 0
        while True:
            try:
                again = await self._execute(worker, kind, jobs)
            except Exception as exc:  # noqa: BLE001 - classified just below
                # An outage is waited out while the process runs; other transient
                # errors (serialization, deadlock) have a bounded number of retries.
                outage = is_database_unavailable(exc) and not self._stop.is_set()
                if is_transient(exc) and (outage or attempt < self._retry_attempts):
                    delay = _backoff(self._retry_backoff, attempt)
                    attempt += 1
                    logger.warning(
                        "job %s: transient database error (%s), retry %d in %.2fs",
                        jobs[0].key,
                        type(exc).__name__,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                return exc
            # A follow-up queued again (`again`) is claimed by this worker's next turn.
            self.committed += len(jobs) - again
            return again

    async def _execute(self, worker: str, kind: JobKind, jobs: Sequence[ClaimedJob]) -> int:
        """Do the jobs' work and mark them done, atomically; how many have a follow-up."""
        ids = [job.id for job in jobs]
        if isinstance(kind.handler, BatchWrite):
            # One statement: atomic without a transaction block.
            async with self._pool.acquire() as connection:
                return await repository.write_and_succeed(
                    connection=connection, worker=worker, ids=ids, write=kind.handler
                )
        async with self._transaction() as connection:
            await kind.handler(
                connection=connection, payloads=[kind.load(job.payload) for job in jobs]
            )
            return await repository.mark_succeeded(connection=connection, worker=worker, ids=ids)

    async def _settle_failure(
        self, worker: str, jobs: Sequence[ClaimedJob], error: BaseException
    ) -> None:
        """Fail the jobs with their error text, or queue them again after an outage."""
        try:
            async with self._transaction() as connection:
                if is_database_unavailable(error):
                    await repository.release(
                        connection=connection,
                        worker=worker,
                        ids=[job.id for job in jobs],
                        delay_seconds=0,
                        count_attempt=False,
                    )
                    return
                text = describe_error(error)
                for job in jobs:
                    logger.warning("job %s failed: %s", job.key, text, exc_info=error)
                    await repository.mark_failed(
                        connection=connection, worker=worker, job_id=job.id, error=text
                    )
        except Exception as exc:  # noqa: BLE001 - the lease brings the jobs back
            # The lease brings them back once it runs out.
            logger.warning("job outcome not recorded (%s)", type(exc).__name__)

    # --- LISTEN/NOTIFY and upkeep ---------------------------------------------------------------

    async def _listen(self) -> None:
        """Keep a connection listening on the jobs channel; reconnect when it drops."""
        failures = 0
        while not self._stop.is_set():
            try:
                connection = await self._listen_connect()
            except Exception as exc:  # noqa: BLE001 - the poll covers until it reconnects
                failures += 1
                logger.warning("job listener cannot connect (%s)", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_backoff(self._retry_backoff, failures)):
                        await self._stop.wait()
                continue
            failures = 0
            lost = asyncio.Event()
            connection.add_termination_listener(functools.partial(_set_event, lost))
            try:
                await connection.add_listener(repository.CHANNEL, self._wake)
                self._wake_all()  # whatever was notified while nobody listened
                stop = asyncio.ensure_future(self._stop.wait())
                dropped = asyncio.ensure_future(lost.wait())
                await asyncio.wait({stop, dropped}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                dropped.cancel()
            except Exception as exc:  # noqa: BLE001 - the poll covers until it reconnects
                logger.warning("job listener lost its connection (%s)", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def _upkeep(self) -> None:
        """Requeue the jobs of dead workers; prune finished jobs past their retention."""
        prune_every = max(min(self._retention / 2, 60.0), self._poll)
        next_prune = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                async with self._pool.acquire() as connection:
                    requeued, failed = await repository.requeue_expired(
                        connection=connection,
                        max_attempts=self._retry_attempts + 1,
                        error="Not done: its worker stopped each time it ran",
                    )
                    if requeued or failed:
                        logger.warning(
                            "jobs of stopped workers: %d queued again, %d failed", requeued, failed
                        )
                    if loop.time() >= next_prune:
                        await self.prune(connection=connection)
                        next_prune = loop.time() + prune_every
            except Exception as exc:  # noqa: BLE001 - tried again at the next poll
                logger.warning("job upkeep skipped (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._stop.wait()

    async def prune(self, *, connection: asyncpg.Connection) -> int:
        """Delete jobs finished more than `retention` seconds ago; how many went."""
        pruned = 0
        while True:
            deleted = await repository.prune_finished(
                connection=connection, older_than_seconds=self._retention, limit=_PRUNE_BATCH
            )
            pruned += deleted
            if deleted < _PRUNE_BATCH:
                return pruned

    async def close(self) -> None:
        """Close the runner's pool (after `shutdown`)."""
        await self._pool.close()

    # --- shutdown -----------------------------------------------------------------------------

    async def shutdown(self, *, grace: float) -> int:
        """Refuse submits, finish the batches in hand within `grace` seconds, stop.

        Queued jobs stay queued for the next process or another replica. A batch
        still running after `grace` is abandoned and queued again at once (its
        transaction rolls back). Returns how many jobs were abandoned so.
        """
        self._accepting = False
        while self._group or self._writes:
            self._flush()
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._stop.set()
        self._wake_all()
        abandoned: list[tuple[int, list[uuid.UUID]]] = []
        if self._worker_tasks:
            _, late = await asyncio.wait(self._worker_tasks, timeout=grace)
            abandoned = [(index, list(ids)) for index, ids in self._in_hand.items()]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        for index, ids in abandoned:
            try:
                async with self._transaction() as connection:
                    await repository.release(
                        connection=connection,
                        worker=f"{self.name}:{index}",
                        ids=ids,
                        delay_seconds=0,
                        count_attempt=False,
                    )
            except Exception as exc:  # noqa: BLE001 - the lease brings the jobs back
                logger.warning("abandoned jobs wait for their lease (%s)", type(exc).__name__)
        left = sum(len(ids) for _, ids in abandoned)
        if left:
            logger.warning("job runner stopped with %d job(s) of its batches not done", left)
        return left


def _set_event(event: asyncio.Event, *_: object) -> None:
    event.set()


def _settle(
    waiters: Sequence[asyncio.Future[Job]],
    *,
    job: Job | None = None,
    error: BaseException | None = None,
) -> None:
    for waiter in waiters:
        if waiter.done():  # its request went away
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(job)  # type: ignore[arg-type]
