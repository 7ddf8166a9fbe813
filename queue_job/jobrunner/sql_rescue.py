# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The runner's own rescue of started jobs whose worker is gone, in SQL.

The fallback of ``queue_job.rescue`` (the end written by Odoo through the
Job API) when Odoo cannot be asked. The rows are locked and read by one
statement, the end of each job is decided as any end of a run that did not
complete (``lifecycle.decide_after_run``), and written by a second
statement, in one transaction: the SQL states no rule of its own.
"""
import collections

from psycopg2.extras import execute_values

from ..lifecycle import (
    CANCELLED,
    FAILED,
    WAITING_STATES,
    Cause,
    RunEnd,
    decide_after_run,
    pending_state,
)
from . import queries

# What the rescue of a job records (worker pid, then max. retries).
WORKER_DIED_ERROR = "odoo.addons.queue_job.exception.WorkerDiedError"
WORKER_DIED_MESSAGE = (
    "The worker running the job (pid %s) died, and the job has no try left"
    " (max. retries: %s)."
)
REQUEUED_MESSAGE = "Requeued: the worker running the job (pid %s) died."
INTERRUPTED_MESSAGE = (
    "Requeued: PostgreSQL restarted while the job ran (worker pid %s);"
    " not counted as a try."
)
DUPLICATE_MESSAGE = (
    "Not queued again: job %s with the same identity key is already waiting"
)

# A row of queries.LOCK_RESCUABLE_STARTED.
RescuableJob = collections.namedtuple(
    "RescuableJob",
    "id uuid retry max_retries worker_pid date_started date_cancelled"
    " exc_name exc_message exc_info result duplicate_uuid now",
)
# What a rescue did to a job: its new state and tries, its worker's pid.
Rescued = collections.namedtuple("Rescued", "uuid state worker_pid retry")


def rescued_end(job, interrupted):
    """The values of the end of the rescued ``job`` (a ``RescuableJob``),
    in the order of ``queries.WRITE_RESCUED_END``'s values.

    ``interrupted``: its worker lost its connection to a restart of
    PostgreSQL (the try does not count), rather than its life.
    """
    cause = Cause.INTERRUPTED if interrupted else Cause.WORKER_DIED
    end, counts_try = decide_after_run(cause, job.retry, job.max_retries)
    retry = job.retry + 1 if counts_try else job.retry
    # a NULL pid reads as nothing in the messages
    pid = "" if job.worker_pid is None else job.worker_pid
    if end is RunEnd.FAIL:
        message = WORKER_DIED_MESSAGE % (pid, job.max_retries)
        return (
            job.id,
            FAILED,
            retry,
            job.date_started,
            job.worker_pid,
            job.date_cancelled,
            WORKER_DIED_ERROR,
            message,
            message,
            job.result,
        )
    state = pending_state(
        waiting_duplicate=job.duplicate_uuid is not None, parents_done=True
    )
    date_cancelled = job.date_cancelled
    if state == CANCELLED:
        result = DUPLICATE_MESSAGE % job.duplicate_uuid
        date_cancelled = job.now
    elif interrupted:
        result = INTERRUPTED_MESSAGE % pid
    else:
        result = REQUEUED_MESSAGE % pid
    if interrupted:
        exc_name, exc_message = job.exc_name, job.exc_message
    else:
        exc_name = exc_message = None
    return (
        job.id,
        state,
        retry,
        None,
        None,
        date_cancelled,
        exc_name,
        exc_message,
        job.exc_info,
        result,
    )


def rescue_started_jobs(cr, interrupted):
    """End the started jobs whose lease is free: those enqueued before
    PostgreSQL started when ``interrupted``, the others otherwise. ``cr``:
    a cursor of a connection in autocommit mode, on which the locks and the
    writes share one transaction. Returns a ``Rescued`` per job."""
    cr.execute("BEGIN")
    try:
        cr.execute(
            queries.LOCK_RESCUABLE_STARTED,
            {"interrupted": interrupted, "waiting_states": list(WAITING_STATES)},
        )
        jobs = [RescuableJob(*row) for row in cr.fetchall()]
        ends = [rescued_end(job, interrupted) for job in jobs]
        if ends:
            execute_values(
                cr,
                queries.WRITE_RESCUED_END,
                ends,
                template=queries.RESCUED_END_TEMPLATE,
            )
        cr.execute("COMMIT")
    except BaseException:
        if not cr.connection.closed:
            cr.execute("ROLLBACK")
        raise
    return [
        Rescued(job.uuid, end[1], job.worker_pid, end[2])
        for job, end in zip(jobs, ends)
    ]
