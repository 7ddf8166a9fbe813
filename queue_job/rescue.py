# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The end of a job whose worker died, written by Odoo through the Job API.

The job runner finds ``started`` jobs whose lease is free (their worker was
killed, crashed or timed out) and asks an Odoo worker to end them
(``/queue_job/rescue``): written through ``Job.store()``, the end is what
any end of a job is: a failure posts its message and subscribes the
followers, ``write()`` overrides of ``queue.job`` and automated actions see
it (``queue_job.fast_paths.sql_store`` goes through the ORM when they exist). The
decision is ``lifecycle.decide_after_run``'s, as for the runner's SQL
rescue (``jobrunner.sql_rescue``), which the runner still uses when Odoo
cannot be asked: a job enqueued before PostgreSQL last started lost its worker's
connection to the restart, not its worker, and goes back to pending
without counting a try; otherwise the try counts, the job goes back to
pending, or is cancelled when a job with its identity key waits, or fails
(``WorkerDiedError``) once its tries are exhausted.

Only a job that is started, whose row no transaction holds and whose lease
is free is touched: the runner's own condition, so a live worker is never
robbed, whoever calls.
"""
import logging
import os
import time

from odoo import SUPERUSER_ID, api
from psycopg2 import InterfaceError, OperationalError

from .controllers.request_checks import shorten
from .job import Job
from .jobrunner.queries import STATE_IS
from .jobrunner.sql_rescue import (
    INTERRUPTED_MESSAGE,
    REQUEUED_MESSAGE,
    WORKER_DIED_ERROR,
    WORKER_DIED_MESSAGE,
)
from .lease import JOB_LEASE_NAMESPACE
from .lifecycle import FAILED, STARTED, Cause, RunEnd, decide_after_run

_logger = logging.getLogger(__name__)

# The row of the started job, locked unless a transaction holds it (a worker
# storing its end), and its lease tried for this transaction: the try is
# evaluated on the locked row only (above the subquery's row lock), and the
# lock keeps anyone from taking the lease until the end is committed. The
# last column tells a job interrupted by a restart of PostgreSQL (on the
# database's own clock, as queries.LOCK_RESCUABLE_STARTED).
LOCK_DEAD_STARTED_JOB = """
    SELECT locked.id, pg_try_advisory_xact_lock({namespace}, locked.id),
        COALESCE(locked.date_enqueued, locked.date_started)
            < pg_postmaster_start_time() AT TIME ZONE 'utc'
    FROM (
        SELECT id, date_enqueued, date_started FROM queue_job
        WHERE uuid = %s AND {state_is}%s
        FOR UPDATE SKIP LOCKED
    ) locked
""".format(
    namespace=JOB_LEASE_NAMESPACE, state_is=STATE_IS
)

# How long a worker whose connection was cut waits for the database to put
# its job back to pending (the runner's rescue does it otherwise).
REQUEUE_INTERRUPTED_WAIT = 30  # seconds
REQUEUE_INTERRUPTED_POLL = 0.5  # seconds
CONNECTION_LOST_MESSAGE = (
    "Requeued: the database connection of its worker (pid %s) was lost"
    " while the job ran; not counted as a try."
)

# Locks the row of the job whose execution this worker lost with its
# connection, provided it is still started by this process at that date and
# no one holds its lease (the lease went with the connection; a job started
# again holds it): it is then put back to pending, without counting a try.
LOCK_INTERRUPTED_JOB = """
    SELECT id FROM queue_job
    WHERE uuid = %(uuid)s AND {state_is}'started'
        AND worker_pid = %(pid)s
        AND (%(date_started)s::timestamp IS NULL
            OR date_trunc('second', date_started)
                = date_trunc('second', %(date_started)s::timestamp))
        AND pg_try_advisory_xact_lock({namespace}, id)
    FOR UPDATE
""".format(
    state_is=STATE_IS, namespace=JOB_LEASE_NAMESPACE
)

# First word of the answer of the route when it decided (see the runner).
ANSWER_PREFIX = "queue_job rescue:"


def lock_dead_job(env, job_uuid):
    """Lock the row of ``job_uuid`` if it is a started job without live
    worker; return ``(None, interrupted)``, else ``(why not, None)`` (for
    the log). ``interrupted``: whether a restart of PostgreSQL cut the
    job's run."""
    env.cr.execute(LOCK_DEAD_STARTED_JOB, (job_uuid, STARTED))
    row = env.cr.fetchone()
    if row is None:
        env.cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (job_uuid,))
        state = env.cr.fetchone()
        if state is None:
            return "it does not exist", None
        if state[0] == STARTED:
            return "its row is being written by another transaction", None
        return "it is %s, not started" % state[0], None
    if not row[1]:
        return "its lease is held: its worker is alive", None
    return None, bool(row[2])


def end_dead_job(env, job_uuid, interrupted=False):
    """End the started job ``job_uuid``, whose row :func:`lock_dead_job`
    locked, as the runner's rescue would; return ``(job, worker pid)``.

    ``interrupted``: its run was cut by a restart of PostgreSQL; it goes
    back to pending without counting a try.
    """
    job = Job.load(env, job_uuid)
    worker_pid = job.worker_pid
    # the SQL rescue formats a NULL pid as an empty string
    pid_text = "" if worker_pid is None else worker_pid
    job.date_enqueued = None
    if interrupted:
        requeue_interrupted(job, INTERRUPTED_MESSAGE % pid_text)
        return job, worker_pid
    end, _counts_try = decide_after_run(Cause.WORKER_DIED, job.retry, job.max_retries)
    job.retry += 1
    if end is RunEnd.FAIL:
        message = WORKER_DIED_MESSAGE % (pid_text, job.max_retries)
        job.set_failed(
            exc_name=WORKER_DIED_ERROR, exc_message=message, exc_info=message
        )
    else:
        job.date_started = None
        job.worker_pid = None
        job.exc_name = None
        job.exc_message = None
        # cancelled instead when a job with its identity key waits
        job.set_pending(result=REQUEUED_MESSAGE % pid_text, reset_retry=False)
    job.store()
    return job, worker_pid


def requeue_interrupted(job, message):
    """Put the started ``job`` back to pending without counting a try
    (cancelled instead when a job with its identity key waits), through
    the Job API."""
    job.date_enqueued = None
    job.date_started = None
    job.worker_pid = None
    job.set_pending(result=message, reset_retry=False)
    job.store()


def rescue_dead_job(env, job_uuid):
    """Lock, check and end the job ``job_uuid`` of a dead worker, in the
    transaction of ``env`` (to be committed by the caller); return the
    answer of the route."""
    refused, interrupted = lock_dead_job(env, job_uuid)
    if refused:
        env.cr.rollback()
        _logger.info("asked to rescue job %s, but %s: nothing done", job_uuid, refused)
        return "%s not rescued: %s" % (ANSWER_PREFIX, refused)
    job, worker_pid = end_dead_job(env, job_uuid, interrupted=interrupted)
    if interrupted:
        _logger.warning(
            "job %s was interrupted by a restart of PostgreSQL (worker pid %s):"
            " %s, not counted as a try (tries: %s)",
            job_uuid,
            worker_pid,
            "requeued" if job.state == "pending" else job.state,
            job.retry,
        )
    else:
        outcome = job.state if job.state != FAILED else "failed, no try left"
        _logger.warning(
            "job %s was started by a worker that died (pid %s), try %s: %s",
            job_uuid,
            worker_pid,
            job.retry,
            outcome,
        )
    return "%s %s %s %s" % (ANSWER_PREFIX, job.state, worker_pid, job.retry)


def requeue_own_interrupted(registry, job_uuid, date_started, exc):
    """Put back to pending, without counting a try, the job ``job_uuid``
    that this worker started at ``date_started`` and whose execution the
    loss of the database connection cut (``exc``).

    The worker is alive, so it says so itself, on a new connection, as
    soon as the database is back (for a while). Should it not manage,
    or the runner's rescue come first, the rescue recognises a restart
    of PostgreSQL by itself (``jobrunner.sql_rescue``).
    """
    _logger.warning(
        "job %s interrupted: the database connection was lost (%s)",
        job_uuid,
        shorten(str(exc).strip() or type(exc).__name__, 300),
    )
    params = {
        "uuid": job_uuid,
        "pid": os.getpid(),
        "date_started": date_started,
    }
    deadline = time.monotonic() + REQUEUE_INTERRUPTED_WAIT
    while True:
        try:
            with registry.cursor() as cr:
                cr.execute(LOCK_INTERRUPTED_JOB, params)
                requeued = bool(cr.fetchall())
                if requeued:
                    # through the Job API, as any end of a job
                    stored = Job.load(api.Environment(cr, SUPERUSER_ID, {}), job_uuid)
                    requeue_interrupted(stored, CONNECTION_LOST_MESSAGE % os.getpid())
            break
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                _logger.warning(
                    "job %s: the database is still away, its requeue is"
                    " left to the job runner",
                    job_uuid,
                )
                return
            time.sleep(REQUEUE_INTERRUPTED_POLL)
    if requeued:
        _logger.warning("job %s put back to pending, not counted as a try", job_uuid)
