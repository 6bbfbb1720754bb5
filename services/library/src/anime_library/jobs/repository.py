"""All SQL of the durable job queue, `library.jobs` (the runner's rules are in `runner.py`).

Everything runs on a plain asyncpg pool (the hot paths: PERF_NOTES.md): submits,
claims, leases and pruning as single autocommit statements; a job's outcome in
the statement that does its work (a `BatchWrite`), or on the connection of the
transaction that did it, so the work and its `succeeded` commit together or
not at all.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from anime_common import CommonSettings, ReadPool, as_uuid, create_read_pool

OPEN = ("queued", "running")
# The channel the migration's trigger notifies on every submitting statement.
CHANNEL = "library_jobs"

# No bitmap scans on the queue's connections. Every job leaves dead entries in
# the partial indexes of queued and running jobs. A bitmap scan returns each of
# them, visits its heap page and marks none dead, so only VACUUM removes them; a
# plain index scan marks the dead entries it meets and the next scan skips them.
# The planner may pick bitmap scans for the plans asyncpg's prepared statements
# keep (made, say, on a fresh deploy's backlog before its first ANALYZE): then a
# claim and its finish read every job since the last vacuum, 62 -> 237 us of
# PostgreSQL's time per job within 25,000 jobs, against a flat 24-38 us without
# them (bench/library/queue_statements.py).
# Every statement here is a lookup by key or id, which an index scan serves as
# well. (Migration 0006 does the same for the open-job count.)
_SESSION_SETTINGS = {"enable_bitmapscan": "off"}


async def create_pool(settings: CommonSettings, *, application_name: str) -> ReadPool:
    """The pool of the queue's statements and of the handlers' transactions."""
    return await create_read_pool(
        settings, application_name=application_name, server_settings=_SESSION_SETTINGS
    )


@dataclass(frozen=True, slots=True)
class NewJob:
    id: uuid.UUID
    key: str
    kind: str
    owner: uuid.UUID | None
    lane: str | None
    payload: str  # JSON text
    # The newest payload wins: it replaces a queued job's, or follows a running one.
    replace: bool
    # Kept jobs only: a job of this key created after this time that succeeded
    # answers instead of a new one (the submitter's read could not have seen it).
    done_after: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as `GET /jobs/{id}` shows it, with its owner and payload (JSON text)."""

    id: uuid.UUID
    key: str
    status: str
    error: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    owner: uuid.UUID | None
    payload: str | None


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    key: str
    kind: str
    payload: str | None
    attempts: int
    lane: str | None


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """What a dashboard wants of the queue (every replica's jobs)."""

    queued: int
    running: int
    failed: int
    # Seconds the oldest due queued job has waited: how far the workers are behind.
    lag_seconds: float


def job_row(row: asyncpg.Record) -> JobRow:
    return JobRow(
        id=as_uuid(row["id"]),
        key=row["key"],
        status=row["status"],
        error=row["error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        owner=as_uuid(row["owner"]) if row["owner"] is not None else None,
        payload=row["payload"],
    )


_COLUMNS = "id, key, status, error, created_at, finished_at, owner, payload"

_SUBMITTED = """
WITH submitted AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[],
                         $6::jsonb[], $8::timestamptz[])
        AS s(id, key, kind, owner, lane, payload, done_after)
), room AS (
    SELECT library.open_job_count()  -- migration 0006: why not a count here
         + (SELECT count(*) FROM submitted s WHERE NOT EXISTS (
               SELECT 1 FROM library.jobs j
               WHERE j.key = s.key AND j.status IN ('queued', 'running')))
         <= $7 AS ok
)"""

# One statement for a group of submits whose newest payload wins (watch progress,
# views). Nothing is written when the open jobs plus the new keys would pass $7
# (the 503 of a full queue). A conflict on an open key answers the existing job,
# its queued payload replaced, or, while it runs, the new one its follow-up.
_SUBMIT_REPLACING = (
    _SUBMITTED  # noqa: S608 - constant text; values are parameters
    + """
INSERT INTO library.jobs AS j (id, key, kind, owner, lane, payload, run_after, created_at)
SELECT id, key, kind, owner, lane, payload, clock_timestamp(), clock_timestamp()
FROM submitted WHERE (SELECT ok FROM room)
ORDER BY key  -- rows are locked in key order, as a worker finishing them locks them
ON CONFLICT (key) WHERE status IN ('queued', 'running') DO UPDATE SET
    payload = CASE WHEN j.status = 'queued' THEN excluded.payload ELSE j.payload END,
    follow_up = CASE WHEN j.status = 'running' THEN excluded.payload ELSE j.follow_up END
RETURNING true AS room_ok, id, key, status, error, created_at, finished_at, owner, payload
"""
)

# The same for jobs whose first payload stands (favorites): an open job is read,
# not updated, so a submit never locks a row a worker is finishing (a lock
# taken there, in another order than the worker's, can deadlock). With no open
# job, one that succeeded after the submitter's read (`done_after`) answers: it
# did what was asked, between the read and this statement. The first row says
# whether there was room.
_SUBMIT_KEEPING = (
    _SUBMITTED  # noqa: S608 - constant text; values are parameters
    + """, done AS (
    SELECT d.* FROM submitted s CROSS JOIN LATERAL (
        SELECT j.id, j.key, j.status, j.error, j.created_at, j.finished_at, j.owner, j.payload
        FROM library.jobs j
        WHERE j.key = s.key AND j.kept AND j.created_at > s.done_after
          AND j.status = 'succeeded'
        ORDER BY j.created_at DESC LIMIT 1) d
    WHERE s.done_after IS NOT NULL AND (SELECT ok FROM room) AND NOT EXISTS (
        SELECT 1 FROM library.jobs o WHERE o.key = s.key AND o.status IN ('queued', 'running'))
), written AS (
    INSERT INTO library.jobs AS j
        (id, key, kind, owner, lane, payload, kept, run_after, created_at)
    SELECT id, key, kind, owner, lane, payload, true, clock_timestamp(), clock_timestamp()
    FROM submitted WHERE (SELECT ok FROM room) AND key NOT IN (SELECT key FROM done)
    ON CONFLICT (key) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id, key, status, error, created_at, finished_at, owner, payload
)
SELECT r.ok AS room_ok, found.* FROM room r LEFT JOIN (
    SELECT * FROM written
    UNION ALL
    SELECT j.id, j.key, j.status, j.error, j.created_at, j.finished_at, j.owner, j.payload
    FROM library.jobs j JOIN submitted s ON s.key = j.key
    WHERE j.status IN ('queued', 'running') AND (SELECT ok FROM room)
    UNION ALL
    SELECT * FROM done
) AS found ON true
"""
)

_OPEN_BY_KEYS = (
    "SELECT id, key, status, error, created_at, finished_at, owner, payload"
    " FROM library.jobs WHERE key = ANY($1::text[]) AND status IN ('queued', 'running')"
)


async def submit(
    *,
    connection: asyncpg.Connection,
    jobs: Sequence[NewJob],
    max_open: int,
    timeout: float,  # noqa: ASYNC109 - asyncpg cancels the query itself
) -> list[JobRow]:
    """The job of each key (new or already open); none for a part refused as full.

    Keys must be distinct within one call. Past `timeout` seconds: `TimeoutError`.
    """
    found: list[JobRow] = []
    for replace in (True, False):
        part = [job for job in jobs if job.replace is replace]
        if not part:
            continue
        rows = await connection.fetch(
            _SUBMIT_REPLACING if replace else _SUBMIT_KEEPING,
            [job.id for job in part],
            [job.key for job in part],
            [job.kind for job in part],
            [job.owner for job in part],
            [job.lane for job in part],
            [job.payload for job in part],
            max_open,
            [job.done_after for job in part],
            timeout=timeout,
        )
        if not rows or not rows[0]["room_ok"]:
            continue
        answered = [job_row(row) for row in rows if row["id"] is not None]
        missing = {job.key for job in part} - {row.key for row in answered}
        if missing:
            # Open jobs another replica committed while this statement ran: its
            # snapshot could not see them; a fresh one does.
            later = await connection.fetch(_OPEN_BY_KEYS, list(missing), timeout=timeout)
            answered += [job_row(row) for row in later]
        found += answered
    return found


async def job_by_id(*, connection: asyncpg.Connection, job_id: uuid.UUID) -> JobRow | None:
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM library.jobs WHERE id = $1",  # noqa: S608 - fixed columns
        job_id,
    )
    return job_row(row) if row is not None else None


# Due queued jobs, oldest first, skipping rows another worker is claiming, and
# a job of a lane while an older job of that lane is still open.
_CLAIM = """
WITH claimed AS (
    SELECT c.id FROM library.jobs c
    WHERE c.status = 'queued' AND c.run_after <= clock_timestamp()
      AND (c.lane IS NULL OR NOT EXISTS (
          SELECT 1 FROM library.jobs e
          WHERE e.lane = c.lane AND e.status IN ('queued', 'running') AND e.id <> c.id
            AND (e.status = 'running' OR e.created_at < c.created_at)))
    ORDER BY c.run_after
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE library.jobs AS j SET
    status = 'running', attempts = j.attempts + 1, started_at = clock_timestamp(),
    lease_owner = $1, lease_expires_at = clock_timestamp() + make_interval(secs => $2)
FROM claimed WHERE j.id = claimed.id
RETURNING j.id, j.key, j.kind, j.payload, j.attempts, j.lane, j.run_after
"""


async def claim(
    *, connection: asyncpg.Connection, worker: str, lease_seconds: float, limit: int
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs for `worker`, leased for `lease_seconds`, oldest first."""
    rows = await connection.fetch(_CLAIM, worker, lease_seconds, limit)
    rows = sorted(rows, key=lambda row: row["run_after"])
    return [
        ClaimedJob(
            id=as_uuid(row["id"]),
            key=row["key"],
            kind=row["kind"],
            payload=row["payload"],
            attempts=row["attempts"],
            lane=row["lane"],
        )
        for row in rows
    ]


# The statements that find a worker's jobs by id also say `status = 'running' AND
# lease_owner = ...` (true of every row they may touch): that lets the planner read
# the small partial index of running jobs. By id alone, the plan PostgreSQL caches
# for asyncpg's prepared statement while the table is small (a fresh deploy) is a
# sequential scan, kept until the next ANALYZE: ~10 ms a call once 15,000 jobs
# had gone through (bench/library/README.md).
#
# A row locked now is being finished or given a follow-up: skipped, never waited for.
_RENEW = """
WITH locked AS (
    SELECT id FROM library.jobs
    WHERE id = ANY($1::uuid[]) AND status = 'running' AND lease_owner = $2
    ORDER BY key FOR UPDATE SKIP LOCKED
)
UPDATE library.jobs AS j SET lease_expires_at = clock_timestamp() + make_interval(secs => $3)
FROM locked
WHERE j.id = locked.id AND j.lease_owner = $2 AND j.status = 'running'
"""


async def renew_leases(
    *,
    connection: asyncpg.Connection,
    worker: str,
    ids: Sequence[uuid.UUID],
    lease_seconds: float,
) -> None:
    await connection.execute(_RENEW, list(ids), worker, lease_seconds)


# A job whose worker died (its lease ran out) is queued again with its newest
# payload, or failed once it has been claimed `$1` times (a job that kills its
# process every time must not take every replica down in turn).
_REQUEUE_EXPIRED = """
WITH expired AS (
    SELECT id FROM library.jobs
    WHERE status = 'running' AND lease_expires_at < clock_timestamp()
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE library.jobs AS j SET
        status = CASE WHEN j.attempts >= $1 AND j.follow_up IS NULL
                      THEN 'failed' ELSE 'queued' END,
        error = CASE WHEN j.attempts >= $1 AND j.follow_up IS NULL THEN $2 END,
        finished_at = CASE WHEN j.attempts >= $1 AND j.follow_up IS NULL
                           THEN clock_timestamp() END,
        payload = coalesce(j.follow_up, j.payload), follow_up = NULL,
        lease_owner = NULL, lease_expires_at = NULL, run_after = clock_timestamp()
    FROM expired WHERE j.id = expired.id
    RETURNING j.status
)
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       CASE WHEN count(*) FILTER (WHERE status = 'queued') > 0
            THEN pg_notify('library_jobs', '') END AS notified
FROM moved
"""


async def requeue_expired(
    *, connection: asyncpg.Connection, max_attempts: int, error: str
) -> tuple[int, int]:
    """(requeued, failed) jobs whose lease expired; a requeue notifies every worker."""
    row = await connection.fetchrow(_REQUEUE_EXPIRED, max_attempts, error)
    assert row is not None
    return int(row["queued"]), int(row["failed"])


_PRUNE = """
DELETE FROM library.jobs WHERE id IN (
    SELECT id FROM library.jobs
    WHERE status IN ('succeeded', 'failed')
      AND finished_at < clock_timestamp() - make_interval(secs => $1)
    LIMIT $2)
"""


async def prune_finished(
    *, connection: asyncpg.Connection, older_than_seconds: float, limit: int
) -> int:
    """Delete up to `limit` jobs finished more than `older_than_seconds` ago; how many."""
    status = await connection.execute(_PRUNE, older_than_seconds, limit)
    return int(status.rsplit(" ", 1)[-1])


async def queue_counts(*, connection: asyncpg.Connection) -> QueueCounts:
    """Queued, running and (still retained) failed jobs, and the queue's lag."""
    row = await connection.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'running') AS running,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " coalesce(extract(epoch FROM clock_timestamp() - min(run_after)"
        "   FILTER (WHERE status = 'queued' AND run_after <= clock_timestamp())), 0) AS lag"
        " FROM library.jobs"
    )
    assert row is not None
    return QueueCounts(
        queued=row["queued"],
        running=row["running"],
        failed=row["failed"],
        lag_seconds=float(row["lag"]),
    )


# --- outcomes, on the connection of the job's own transaction ---------------------------

# Found by id ({ids}) and lease ({worker}), like every statement on a worker's
# jobs (see `_RENEW`), in key order, as a submit locks them: the two never deadlock.
_LOCK_MINE = """
    SELECT id, payload FROM library.jobs
    WHERE id = ANY({ids}::uuid[]) AND status = 'running' AND lease_owner = {worker}
    ORDER BY key FOR UPDATE"""

# Done, unless a newer payload came while it ran: then it is queued again with
# that payload (the same job: its submitters hold its id).
_FINISH = """
    UPDATE library.jobs AS j SET
        status = CASE WHEN j.follow_up IS NULL THEN 'succeeded' ELSE 'queued' END,
        finished_at = CASE WHEN j.follow_up IS NULL THEN clock_timestamp() END,
        attempts = CASE WHEN j.follow_up IS NULL THEN j.attempts ELSE 0 END,
        payload = coalesce(j.follow_up, j.payload), follow_up = NULL,
        lease_owner = NULL, lease_expires_at = NULL, run_after = clock_timestamp()
    FROM locked
    WHERE j.id = locked.id AND j.lease_owner = {worker} AND j.status = 'running'
    RETURNING j.status"""

_SUCCEED = "WITH locked AS ({lock}\n){finish}".format(
    lock=_LOCK_MINE.format(ids="$1", worker="$2"), finish=_FINISH.format(worker="$2")
)


@dataclass(frozen=True, slots=True, eq=False)  # a kind is found by its write: by identity
class BatchWrite:
    """A job kind's write as SQL, run in the very statement that marks its jobs done.

    One statement and no transaction block for a whole batch (one round trip,
    not four as a Python handler's BEGIN, write, finish and COMMIT), and the
    payloads are read by PostgreSQL, not decoded in Python (bench/library/README.md).

    `record` types the payload's fields as `jsonb_to_record` reads them
    ("user_id uuid, episode integer"); a payload that is not a JSON object, or
    a field of the wrong type, fails the statement. `steps` are CTEs
    (`name AS (...)`, comma-separated) that write from `batch`, one row per
    job with those columns; `$1`, `$2`... in them are `arguments`. No `steps`:
    the jobs succeed and write nothing. Table constraints are the last check
    of what is written: a row they refuse fails its job.
    """

    record: str = ""
    steps: str = ""
    arguments: tuple[object, ...] = ()


_BATCH = """batch AS (
    SELECT p.* FROM {source} CROSS JOIN LATERAL jsonb_to_record({source}.payload) AS p({record})
)"""


@functools.cache
def _write_and_succeed(record: str, steps: str, arguments: int) -> str:
    ids, worker = f"${arguments + 1}", f"${arguments + 2}"
    return (
        f"WITH locked AS ({_LOCK_MINE.format(ids=ids, worker=worker)}\n), "
        f"{_BATCH.format(source='locked', record=record)}, {steps},\n"
        f"finished AS ({_FINISH.format(worker=worker)}\n)\n"
        "SELECT count(*) FILTER (WHERE status = 'queued') FROM finished"
    )


@functools.cache
def _write_given(record: str, steps: str, arguments: int) -> str:
    return (
        f"WITH sent AS (SELECT unnest(${arguments + 1}::jsonb[]) AS payload), "
        f"{_BATCH.format(source='sent', record=record)}, {steps}\nSELECT 1"
    )


async def write_payloads(
    *, connection: asyncpg.Connection, write: BatchWrite, payloads: Sequence[object]
) -> None:
    """Do a `write` for payloads given here, as no job (tests, benches, a backfill)."""
    if write.steps:
        await connection.execute(
            _write_given(write.record, write.steps, len(write.arguments)),
            *write.arguments,
            [orjson.dumps(payload).decode() for payload in payloads],
        )


# Failed with its error text; a follow-up payload still gets its run.
_FAIL = """
UPDATE library.jobs SET
    status = CASE WHEN follow_up IS NULL THEN 'failed' ELSE 'queued' END,
    error = CASE WHEN follow_up IS NULL THEN $3 END,
    finished_at = CASE WHEN follow_up IS NULL THEN clock_timestamp() END,
    attempts = CASE WHEN follow_up IS NULL THEN attempts ELSE 0 END,
    payload = coalesce(follow_up, payload), follow_up = NULL,
    lease_owner = NULL, lease_expires_at = NULL, run_after = clock_timestamp()
WHERE id = $1 AND lease_owner = $2 AND status = 'running'
RETURNING status
"""

# Back to the queue, due after a delay (a retry's backoff, or a worker stopping).
_RELEASE = """
WITH locked AS (
    SELECT id FROM library.jobs
    WHERE id = ANY($1::uuid[]) AND status = 'running' AND lease_owner = $2
    ORDER BY key FOR UPDATE
)
UPDATE library.jobs AS j SET
    status = 'queued', payload = coalesce(j.follow_up, j.payload), follow_up = NULL,
    attempts = greatest(j.attempts - $4, 0),
    lease_owner = NULL, lease_expires_at = NULL,
    run_after = clock_timestamp() + make_interval(secs => $3)
FROM locked
WHERE j.id = locked.id AND j.lease_owner = $2 AND j.status = 'running'
"""


async def mark_succeeded(
    *, connection: asyncpg.Connection, worker: str, ids: Sequence[uuid.UUID]
) -> int:
    """Mark jobs done; how many went back to the queue for their follow-up."""
    rows = await connection.fetch(_SUCCEED, list(ids), worker)
    return sum(row["status"] == "queued" for row in rows)


async def write_and_succeed(
    *, connection: asyncpg.Connection, worker: str, ids: Sequence[uuid.UUID], write: BatchWrite
) -> int:
    """Do the jobs' `write` and mark them done, in one statement; as `mark_succeeded`."""
    if not write.steps:
        return await mark_succeeded(connection=connection, worker=worker, ids=ids)
    again = await connection.fetchval(
        _write_and_succeed(write.record, write.steps, len(write.arguments)),
        *write.arguments,
        list(ids),
        worker,
    )
    return int(again)


async def mark_failed(
    *, connection: asyncpg.Connection, worker: str, job_id: uuid.UUID, error: str
) -> int:
    """Mark a job failed with `error`; 1 when it went back to the queue for its follow-up."""
    rows = await connection.fetch(_FAIL, job_id, worker, error)
    return sum(row["status"] == "queued" for row in rows)


async def release(
    *,
    connection: asyncpg.Connection,
    worker: str,
    ids: Sequence[uuid.UUID],
    delay_seconds: float,
    count_attempt: bool,
) -> None:
    """Queue jobs again after `delay_seconds`; without `count_attempt` this run is not counted."""
    await connection.execute(
        _RELEASE, list(ids), worker, float(delay_seconds), 0 if count_attempt else 1
    )
