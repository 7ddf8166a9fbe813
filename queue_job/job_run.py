# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""One run of an enqueued job by an Odoo worker: claim, load, start,
perform, end.

The runner asks for it with a ``/queue_job/runjob`` request; the route
(``controllers.main.RunJobController.runjob``) runs :class:`JobRun`, which
calls the controller's methods that addons override at their step:
``_try_perform_job(env, job)`` (start, perform, done),
``_enqueue_dependent_jobs(env, job)`` and ``_get_failure_values(...)``.
The end of a run that did not complete is decided by
``lifecycle.decide_after_run``.

The job's lease (``queue_job.lease``) is taken with its claim and held until
its end is committed: a started job whose lease is free has no live worker.
"""
import contextlib
import logging
import traceback
import warnings

from odoo import SUPERUSER_ID, _, api, tools
from odoo.exceptions import MissingError
from odoo.service.model import PG_CONCURRENCY_ERRORS_TO_RETRY
from psycopg2 import OperationalError, errorcodes

from .controllers.request_checks import shorten, shorten_middle
from .exception import JobError, JobTimeoutError, NothingToDoJob, RetryableJobError
from .fast_paths.runjob_dispatch import (
    SIGNALING_COLUMNS,
    RegistryChanged,
    check_claimed_registry,
)
from .job import Job
from .job_graph import (  # noqa: F401 (public names of this module)
    DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE,
    enqueue_dependent_jobs,
)
from .job_timeout import job_time_limit
from .jobrunner.queries import STATE_IS
from .lease import JOB_LEASE_NAMESPACE, JobLease, acquire_job_lease
from .lifecycle import ENQUEUED, FAILED, Cause, RunEnd, decide_after_run
from .rescue import requeue_own_interrupted

_logger = logging.getLogger(__name__)

PG_RETRY = 5  # seconds

# Longest traceback of a failed job logged whole (it is stored whole).
LOGGED_TRACEBACK_LENGTH = 10000

# What PostgreSQL answers to the statements of a session it ends: server
# shutting down or restarting, session terminated, server starting up.
DATABASE_GONE_PGCODES = (
    errorcodes.ADMIN_SHUTDOWN,
    errorcodes.CRASH_SHUTDOWN,
    errorcodes.CANNOT_CONNECT_NOW,
)
# Locks the job to run, provided it is still enqueued: a job is run only by
# the request that moves it from enqueued to started. SKIP LOCKED: a row
# locked by another transaction (typically a duplicate dispatch of the same
# job being started) is not waited for; it counts as "not enqueued".
# In the same round trip, it reads the whole row (every column, an inheriting
# addon's included, for Job._load_claimed()), and tries to take the job's
# lease: the try is evaluated on the locked row only (above the subquery's
# row lock, which PostgreSQL never merges into the outer query), so a
# skipped row never gets its lease taken. The row is found by its uuid, not
# by its state (see STATE_IS).
# The transaction that marks the job started does not wait for the WAL
# flush (the job's end, committed durably, flushes it): should PostgreSQL
# crash before, the job is enqueued again, and its worker's connection is
# gone with its lease, which is what the runner's rescue expects.
# The registry's signaling sequences come after the row, before the lease,
# for the check of a request that Odoo did not dispatch (see
# check_claimed_registry).
LOCK_ENQUEUED_JOB = """
    SET LOCAL synchronous_commit TO off;
    SELECT locked.*, {signaling}, pg_try_advisory_lock({namespace}, locked.id)
    FROM (
        SELECT *
        FROM queue_job
        WHERE uuid = %s AND {state_is}%s
        FOR UPDATE SKIP LOCKED
    ) locked
""".format(
    signaling=SIGNALING_COLUMNS,
    namespace=JOB_LEASE_NAMESPACE,
    state_is=STATE_IS,
)


class JobFailedError(Exception):
    """Raised, instead of a job's own exception, when the traceback of that
    one is too long to be logged whole."""


def connection_lost(cr, exc):
    """Whether ``exc`` came of the database going away under ``cr``."""
    if getattr(exc, "pgcode", None) in DATABASE_GONE_PGCODES:
        return True
    cnx = getattr(cr, "_cnx", None)
    return bool(cnx is not None and cnx.closed)


def run_cause(cr, exc, job=None):
    """Why the run of ``job`` (None if not loaded) whose cursor is ``cr``
    did not complete, ``exc`` raised."""
    if isinstance(exc, NothingToDoJob):
        return Cause.NOTHING_TO_DO
    if isinstance(exc, RetryableJobError):
        return Cause.RETRYABLE
    if connection_lost(cr, exc):
        return Cause.INTERRUPTED
    if (
        isinstance(exc, JobTimeoutError)
        and job is not None
        and job.job_config.retry_on_timeout
    ):
        return Cause.RETRYABLE_TIMEOUT
    return Cause.ERROR


@contextlib.contextmanager
def _autocommit(cr):
    """Run the statements of the block outside of any transaction.

    The cursor must not be in a transaction (psycopg2 refuses the switch
    otherwise). Odoo warns against autocommit because the ORM delays its
    writes: the block must only send its own SQL.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cr.autocommit(True)
    try:
        yield
    finally:
        cr.autocommit(False)


def _format_records(records):
    return "%s(%s)" % (records._name, ", ".join(str(id_) for id_ in records.ids))


class JobRun:
    """The run of the enqueued job ``job_uuid`` on the request's cursor
    (``env``, a superuser environment), for ``controller``, whose methods
    that addons override are called at their step."""

    def __init__(self, controller, env, job_uuid):
        self.controller = controller
        self.env = env
        self.job_uuid = job_uuid
        self.lease = None
        self.job = None
        # the job's tries before this run (perform() counts this one)
        self.tries_before_run = 0

    def execute(self):
        """Claim the job, run it and store its end."""
        claimed = self.claim()
        if claimed is None:
            return
        try:
            self._run(claimed)
        finally:
            self.release_lease()

    # -- claim and load --------------------------------------------------

    def claim(self):
        """Lock the row of the enqueued job and take its lease.

        Returns the job's record, the row read with the lock in its cache
        (see ``Job._claimed_record()``), or None (logged) if the job is not
        to be run here. The lease is taken in the transaction
        that will mark the job started, so that no one ever sees it started
        without its lease.

        Raises ``RegistryChanged``, the claim undone, when the request was
        not dispatched by Odoo and another process changed the registry (see
        ``runjob_dispatch.check_claimed_registry``).
        """
        cr = self.env.cr
        try:
            cr.execute(LOCK_ENQUEUED_JOB, (self.job_uuid, ENQUEUED))
            locked = cr.fetchone()
            names = [column.name for column in cr.description]
        except OperationalError as err:
            if err.pgcode not in PG_CONCURRENCY_ERRORS_TO_RETRY:
                raise
            locked = None
        if locked is None:
            self._log_not_enqueued()
            return None
        *row, registry_sequence, cache_sequence, leased = locked
        job_id = row[names.index("id")]
        self.lease = JobLease(cr, job_id)
        try:
            check_claimed_registry((registry_sequence, cache_sequence))
        except RegistryChanged:
            if leased:
                self.release_lease()
            else:
                cr.rollback()
            raise
        if not leased and not acquire_job_lease(cr, job_id):
            cr.rollback()
            self.lease = None
            _logger.warning(
                "requested to run job %s, but its lease is held by another"
                " session: nothing to run",
                self.job_uuid,
            )
            return None
        return Job._claimed_record(self.env, names[: len(row)], row)

    def _log_not_enqueued(self):
        cr = self.env.cr
        cr.rollback()
        cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (self.job_uuid,))
        row = cr.fetchone()
        if row is None:
            reason = "it does not exist"
        elif row[0] == ENQUEUED:
            reason = "it is being processed by another transaction"
        else:
            reason = "it is in state %s, not enqueued" % row[0]
        _logger.warning(
            "requested to run job %s, but %s: nothing to run", self.job_uuid, reason
        )

    def load(self, record):
        """The job of the claimed ``record`` (see ``Job._load_claimed()``).

        Jobs whose model, method or records no longer exist raise JobError
        or MissingError, to be stored as failed: running them would fail
        obscurely, or succeed without doing anything.
        """
        try:
            job = Job._load_claimed(self.env, self.job_uuid, record)
        except JobError:
            raise
        except Exception as err:
            raise JobError(_("The job could not be loaded: %s", err)) from err
        records = job.recordset
        missing = records - records.exists()
        if missing:
            raise MissingError(
                _(
                    "Record(s) %s of the job do not exist (anymore).",
                    _format_records(missing),
                )
            )
        return job

    # -- run and end -----------------------------------------------------

    def _run(self, claimed):
        too_long_to_log = None
        try:
            self.job = self.load(claimed)
            self.job._lease = self.lease
            self.tries_before_run = self.job.retry
            self.controller._try_perform_job(self.env, self.job)
        except Exception as exc:
            job = self.job
            max_retries = job.max_retries if job is not None else 0
            end, _counts_try = decide_after_run(
                run_cause(self.env.cr, exc, job), self.tries_before_run, max_retries
            )
            if end is RunEnd.NOTHING_TO_DO:
                job.set_done(
                    str(exc) or _("Job interrupted and set to Done: nothing to do.")
                )
                job.store()
                # each step of a run is committed on its own
                self.env.cr.commit()  # pylint: disable=invalid-commit
            elif end is RunEnd.RETRY_LATER:
                self.retry_later(exc)
                return
            elif end is RunEnd.REQUEUE:
                # not the job's failure: nothing of it was committed since
                # it started, and no failure could be stored anyway
                self.requeue_interrupted(exc)
                raise
            else:
                too_long_to_log = self.store_failure(exc, traceback.format_exc())
                if too_long_to_log is None:
                    raise
        if too_long_to_log is not None:
            # the WSGI server logs what is raised, whole, with the exception
            # being handled when it was raised: raised out of the handler
            raise too_long_to_log
        self.controller._enqueue_dependent_jobs(self.env, self.job)

    def retry_later(self, err):
        """Postpone the job after a retryable error (or timeout), in its own
        transaction: by the error's ``seconds`` if any, else per the retry
        pattern."""
        job = self.job
        # Roll back first: the failed transaction may hold a lock on the job row.
        self.env.cr.rollback()
        with self.env.registry.cursor() as new_cr:
            job.env = job.env(cr=new_cr)
            job.postpone(result=str(err), seconds=getattr(err, "seconds", None))
            job.set_pending(reset_retry=False)
            job.store()
        _logger.debug("%s postponed", job)

    def store_failure(self, exc, traceback_txt):
        """Store the job as failed, in its own transaction.

        The traceback is stored whole and logged shortened: a job may fail
        with any message. Returns the ``JobFailedError`` to raise instead of
        ``exc`` when its traceback is too long to be logged whole, else None.
        """
        _logger.error(shorten_middle(traceback_txt, LOGGED_TRACEBACK_LENGTH))
        job = self.job
        # Roll back first: the failed transaction may hold a lock on the job row.
        self.env.cr.rollback()
        with self.env.registry.cursor() as new_cr:
            values = self.controller._get_failure_values(job, traceback_txt, exc)
            if job is None:
                # not loaded: the row is updated directly
                new_env = api.Environment(new_cr, SUPERUSER_ID, {})
                job_model = new_env["queue.job"]
                job_model.search([("uuid", "=", self.job_uuid)]).with_context(
                    _job_edit_sentinel=job_model.EDIT_SENTINEL
                ).write(dict(values, state=FAILED))
            else:
                # as the job's user, who authors the failure message
                job.env = job.env(cr=new_cr)
                job.set_failed(**values)
                job.store()
        if len(traceback_txt) <= LOGGED_TRACEBACK_LENGTH:
            return None
        return JobFailedError(
            "job %s failed with %s: %s"
            % (
                self.job_uuid,
                type(exc).__name__,
                shorten(str(exc), LOGGED_TRACEBACK_LENGTH // 2),
            )
        )

    def requeue_interrupted(self, exc):
        """Put the job, whose execution the loss of the database connection
        cut, back to pending without counting a try (see
        ``rescue.requeue_own_interrupted``)."""
        date_started = self.job.date_started if self.job is not None else None
        requeue_own_interrupted(self.env.registry, self.job_uuid, date_started, exc)

    def release_lease(self):
        """Release the lease unless the job's final commit did.

        Called once the job's final state is committed (or stored by another
        cursor): whatever this transaction still holds is not to be kept (a
        failed job's transaction was already rolled back). A session-level
        lock survives rollbacks, and the request's connection goes back to
        Odoo's pool, so it is released explicitly, in autocommit.
        """
        lease = self.lease
        if lease is None or not lease.held:
            return
        cr = self.env.cr
        if connection_lost(cr, None):
            lease.released(True)  # it went with the connection
            return
        cr.rollback()
        with _autocommit(cr):
            lease.release()


def perform_job(env, job):
    """Start, run and end ``job``, each step in its own transaction.

    The job is committed as started before running, so that its state
    reflects what happens while it runs; the job's own changes are
    committed with its done state. A PostgreSQL concurrency error is not
    the job's fault: it is retried a few seconds later.

    The job's lease is held all along (see :meth:`JobRun.claim`).
    """
    try:
        job.set_started()
        job._store_and_commit()
        _logger.debug("%s started", job)
        with job_time_limit(job):
            job.perform()
            # Computed fields of the job's changes are part of its execution.
            env["base"].flush()
        job.set_done()
        if job._lease is not None:
            job._lease.release_on_store = True
        job.store()
        env["base"].flush()
        _release_lease_before_final_commit(job)
        env.cr.commit()
    except OperationalError as err:
        if err.pgcode not in PG_CONCURRENCY_ERRORS_TO_RETRY:
            raise
        _logger.debug("%s concurrency error, retrying later", job)
        raise RetryableJobError(
            tools.ustr(err.pgerror, errors="replace"), seconds=PG_RETRY
        ) from err
    _logger.debug("%s done", job)


def _release_lease_before_final_commit(job):
    """Release the job's lease in the transaction that stores its end,
    unless the UPDATE storing it did (``JobLease.release_on_store``).

    The row written by this transaction stays locked until its commit,
    which is what keeps the runner's rescue off the job meanwhile: the
    lease is not needed any more, and releasing it here spares a
    statement after the commit. Should the commit fail, the job is
    ``started`` without lease: dead, for the runner, which requeues it,
    as its effects were rolled back with its end.
    """
    lease = job._lease
    if lease is not None and lease.cr is job.env.cr:
        lease.release()


def failure_values(traceback_txt, exc):
    """The ``exc_info``, ``exc_name`` and ``exc_message`` of a job that
    failed with ``exc``."""
    exc_class = type(exc)
    exception_name = "%s.%s" % (exc_class.__module__, exc_class.__name__)
    with warnings.catch_warnings():
        # odoo.exceptions.UserError.name: deprecated alias of str()
        warnings.simplefilter("ignore", DeprecationWarning)
        exc_message = getattr(exc, "name", None)
    if not exc_message or not isinstance(exc_message, str):
        exc_message = str(exc)
    return {
        "exc_info": traceback_txt,
        "exc_name": exception_name,
        "exc_message": exc_message,
    }
