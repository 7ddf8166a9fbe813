# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""HTTP entry points: ``/queue_job/runjob`` executes one job for the runner."""
import contextlib
import logging
import os
import random
import time
import traceback
import warnings

import odoo
from odoo import SUPERUSER_ID, _, api, http, tools
from odoo.exceptions import MissingError
from odoo.service.model import PG_CONCURRENCY_ERRORS_TO_RETRY
from psycopg2 import InterfaceError, OperationalError, errorcodes
from werkzeug.exceptions import BadRequest, Forbidden, NotFound

from .. import fast_paths, sql_store
from ..chained_commit import commit_with_last_statement
from ..delay import chain, group
from ..exception import JobError, NothingToDoJob, RetryableJobError
from ..job import ENQUEUED, FAILED, Job
from ..jobrunner.queries import STATE_IS
from ..lease import JOB_LEASE_NAMESPACE, JobLease, acquire_job_lease
from ..rescue import requeue_interrupted
from .request_checks import (
    CHECKED_ENVIRON_KEY,
    RUNJOB_PATH,
    SESSION_PATH,
    refuse_params_or_none,
    shorten,
    shorten_middle,
)
from .runjob_dispatch import SIGNALING_COLUMNS, RegistryChanged, check_claimed_registry

_logger = logging.getLogger(__name__)

PG_RETRY = 5  # seconds

DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE = 5

# Longest traceback of a failed job logged whole (it is stored whole).
LOGGED_TRACEBACK_LENGTH = 10000


# What PostgreSQL answers to the statements of a session it ends: server
# shutting down or restarting, session terminated, server starting up.
DATABASE_GONE_PGCODES = (
    errorcodes.ADMIN_SHUTDOWN,
    errorcodes.CRASH_SHUTDOWN,
    errorcodes.CANNOT_CONNECT_NOW,
)
# How long a worker whose connection was cut waits for the database to put
# its job back to pending (the runner's rescue does it otherwise).
REQUEUE_INTERRUPTED_WAIT = 30  # seconds
REQUEUE_INTERRUPTED_POLL = 0.5  # seconds
INTERRUPTED_MESSAGE = (
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


def connection_lost(cr, exc):
    """Whether ``exc`` came of the database going away under ``cr``."""
    if getattr(exc, "pgcode", None) in DATABASE_GONE_PGCODES:
        return True
    cnx = getattr(cr, "_cnx", None)
    return bool(cnx is not None and cnx.closed)


class JobFailedError(Exception):
    """Raised, instead of a job's own exception, when the traceback of that
    one is too long to be logged whole."""


# Locks the job to run, provided it is still enqueued: a job is run only by
# the request that moves it from enqueued to started. SKIP LOCKED: a row
# locked by another transaction (typically a duplicate dispatch of the same
# job being started) is not waited for; it counts as "not enqueued".
# In the same round trip, it reads the whole row (every column, an inheriting
# addon's included, for Job._load_from_db_record()), and tries to
# take the job's lease: the try is evaluated on the locked row only (above
# the subquery's row lock, which PostgreSQL never merges into the outer
# query), so a skipped row never gets its lease taken. The row is found by
# its uuid, not by its state (see STATE_IS).
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


class RunJobController(http.Controller):
    TEST_GRAPH_MAX_PER_GROUP = 5

    @http.route("/queue_job/runjob", type="http", auth="none", save_session=False)
    def runjob(self, db=None, job_uuid=None, **kw):
        """Run the enqueued job ``job_uuid`` of database ``db``.

        Anonymous on purpose (the runner has no session): it only ever runs a
        job that is currently enqueued, which only the runner does. Answers
        an empty body in all handled cases, including bad requests, which are
        logged and run nothing; a job that fails answers an error.
        """
        refused = self._refuse_params(RUNJOB_PATH, dict(kw, db=db, job_uuid=job_uuid))
        if refused is not None:
            return refused
        env = self._database_env(db, job_uuid)
        if env is None:
            return ""
        claimed = self._lock_enqueued_job(env, job_uuid)
        if claimed is None:
            return ""
        lease, record = claimed
        try:
            return self._run_leased_job(env, job_uuid, lease, record)
        finally:
            self._release_job_lease(env, lease)

    def _run_leased_job(self, env, job_uuid, lease, record):
        """Load, run and store the locked job ``job_uuid`` of ``record``,
        whose ``lease`` is held."""
        job = None
        too_long_to_log = None
        try:
            job = self._load_job(env, job_uuid, record)
            job._lease = lease
            self._try_perform_job(env, job)
        except NothingToDoJob as err:
            job.set_done(
                str(err) or _("Job interrupted and set to Done: nothing to do.")
            )
            job.store()
            env.cr.commit()
        except RetryableJobError as err:
            self._retry_later(env, job, err)
            return ""
        except Exception as orig_exception:
            if connection_lost(env.cr, orig_exception):
                # not the job's failure: nothing of it was committed since
                # it started, and no failure could be stored anyway
                self._requeue_interrupted(env, job_uuid, job, orig_exception)
                raise
            traceback_txt = traceback.format_exc()
            # stored whole, logged shortened: a job may fail with any message
            _logger.error(shorten_middle(traceback_txt, LOGGED_TRACEBACK_LENGTH))
            self._store_failure(env, job_uuid, job, traceback_txt, orig_exception)
            if len(traceback_txt) <= LOGGED_TRACEBACK_LENGTH:
                raise
            too_long_to_log = JobFailedError(
                "job %s failed with %s: %s"
                % (
                    job_uuid,
                    type(orig_exception).__name__,
                    shorten(str(orig_exception), LOGGED_TRACEBACK_LENGTH // 2),
                )
            )
        if too_long_to_log is not None:
            # the WSGI server logs what is raised, whole, with the exception
            # being handled when it was raised: raised out of the handler
            raise too_long_to_log
        self._enqueue_dependent_jobs(env, job)
        return ""

    @http.route("/queue_job/session", type="http", auth="none", methods=["GET"])
    def session(self, db=None, **kw):
        """Give the job runner an HTTP session bound to database ``db``.

        The runner asks it once per database (and again from time to time, to
        keep the session alive) and sends its cookie with each runjob
        request. A request whose session names a database is bound to it at
        once, whereas for a request without session, Odoo looks for its
        database by listing the databases, on a new connection to the
        ``postgres`` database that its pool does not keep: a connection per
        job. The session has no user, like the one ``/web/login?db=`` gives
        anyone.

        Answers 404 when ``db`` does not exist, or when Odoo's database
        filter rejects it for this request (Odoo would log the session out at
        every request): the runner then sends its requests without session.
        """
        refused = self._refuse_params(SESSION_PATH, dict(kw, db=db))
        if refused is not None:
            return refused
        if not db or not self._database_exists(db) or not http.db_filter([db]):
            raise NotFound()
        # (re)saved with a new modification time, which is what keeps Odoo's
        # session garbage collection away from it
        http.request.session.db = db
        return ""

    def _refuse_params(self, path, params):
        """The 400 answer when ``params`` are unfit, else None: for a request
        that did not go through the check of the WSGI entry (one Odoo
        dispatched before queue_job's hooks were installed)."""
        request = http.request
        # (an unbound proxy, outside of a request, is false)
        if request and request.httprequest.environ.get(CHECKED_ENVIRON_KEY):
            return None
        return refuse_params_or_none(
            path, {name: value for name, value in params.items() if value is not None}
        )

    def _database_exists(self, db):
        return (
            db in odoo.modules.registry.Registry.registries
            or odoo.service.db.exp_db_exist(db)
        )

    def _database_env(self, db, job_uuid):
        """A superuser environment on database ``db``, or None (logged) if unusable.

        When Odoo could not bind the request to a database by itself (several
        databases, no session), it is bound to ``db``, like the runner asks.
        """
        if not db or not job_uuid:
            _logger.warning(
                "runjob called without database or job uuid (db=%r, job_uuid=%r):"
                " nothing to run",
                db,
                job_uuid,
            )
            return None
        request = http.request._get_current_object()
        if request.db and request.db != db:
            _logger.warning(
                "runjob asked to run job %s of database %r on a request bound to"
                " database %r: nothing to run",
                job_uuid,
                db,
                request.db,
            )
            return None
        if not request.db:
            # No db filter here: like the runner, a filter such as ^%d$ is
            # meant for browsers, which do not call this route.
            if not self._database_exists(db):
                _logger.warning(
                    "runjob asked to run job %s of unknown database %r: nothing to run",
                    job_uuid,
                    db,
                )
                return None
            request.session.db = db
        # (what request.env(user=SUPERUSER_ID) gives, without request.env)
        env = api.Environment(request.cr, SUPERUSER_ID, request.context)
        if "queue.job" not in env.registry:
            _logger.warning(
                "runjob asked to run job %s of database %r, where queue_job is not"
                " installed: nothing to run",
                job_uuid,
                db,
            )
            return None
        return env

    def _lock_enqueued_job(self, env, job_uuid):
        """Lock the row of the enqueued job ``job_uuid`` and take its lease.

        Returns the job's lease and its record, the row read with the lock in
        its cache (see ``Job._claimed_record()``), or None (logged) if it is
        not to be run here. The lease is taken in the transaction that will
        mark the job started, so that no one ever sees it started without
        its lease; it must be released (see :meth:`_release_job_lease`).

        Raises ``RegistryChanged``, the claim undone, when the request was
        not dispatched by Odoo and another process changed the registry (see
        ``runjob_dispatch.check_claimed_registry``).
        """
        try:
            env.cr.execute(LOCK_ENQUEUED_JOB, (job_uuid, ENQUEUED))
            locked = env.cr.fetchone()
            names = [column.name for column in env.cr.description]
        except OperationalError as err:
            if err.pgcode not in PG_CONCURRENCY_ERRORS_TO_RETRY:
                raise
            locked = None
        if locked is None:
            self._log_not_enqueued(env, job_uuid)
            return None
        *row, registry_sequence, cache_sequence, leased = locked
        job_id = row[names.index("id")]
        lease = JobLease(env.cr, job_id)
        try:
            check_claimed_registry((registry_sequence, cache_sequence))
        except RegistryChanged:
            if leased:
                self._release_job_lease(env, lease)
            else:
                env.cr.rollback()
            raise
        if not leased and not acquire_job_lease(env.cr, job_id):
            env.cr.rollback()
            _logger.warning(
                "requested to run job %s, but its lease is held by another"
                " session: nothing to run",
                job_uuid,
            )
            return None
        return lease, Job._claimed_record(env, names[: len(row)], row)

    def _requeue_interrupted(self, env, job_uuid, job, exc):
        """Put back to pending, without counting a try, the job whose
        execution was cut by the loss of the database connection.

        The worker is alive, so it says so itself, on a new connection, as
        soon as the database is back (for a while). Should it not manage,
        or the runner's rescue come first, the rescue recognises a restart
        of PostgreSQL by itself (``queries.RESCUE_INTERRUPTED_STARTED``).
        """
        _logger.warning(
            "job %s interrupted: the database connection was lost (%s)",
            job_uuid,
            shorten(str(exc).strip() or type(exc).__name__, 300),
        )
        params = {
            "uuid": job_uuid,
            "pid": os.getpid(),
            "date_started": job.date_started if job is not None else None,
        }
        deadline = time.monotonic() + REQUEUE_INTERRUPTED_WAIT
        while True:
            try:
                with env.registry.cursor() as cr:
                    cr.execute(LOCK_INTERRUPTED_JOB, params)
                    requeued = bool(cr.fetchall())
                    if requeued:
                        # through the Job API, as any end of a job
                        stored = Job.load(
                            api.Environment(cr, SUPERUSER_ID, {}), job_uuid
                        )
                        requeue_interrupted(stored, INTERRUPTED_MESSAGE % os.getpid())
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
            _logger.warning(
                "job %s put back to pending, not counted as a try", job_uuid
            )

    def _release_job_lease(self, env, lease):
        """Release ``lease`` unless the job's final commit did.

        Called once the job's final state is committed (or stored by another
        cursor): whatever this transaction still holds is not to be kept (a
        failed job's transaction was already rolled back). A session-level
        lock survives rollbacks, and the request's connection goes back to
        Odoo's pool, so it is released explicitly, in autocommit.
        """
        if lease.held and connection_lost(env.cr, None):
            lease.released(True)  # it went with the connection
        elif lease.held:
            env.cr.rollback()
            with _autocommit(env.cr):
                lease.release()

    def _load_job(self, env, job_uuid, record):
        """Load the locked job ``job_uuid`` (see :meth:`_lock_enqueued_job`).

        From its claimed ``record`` through ``Job._load_from_db_record()``,
        as ``Job.load()`` does; through ``Job.load()`` itself when an addon
        overrides it or the reading of ``queue.job`` records, or the fast
        paths are off. Jobs whose model, method or
        records no longer exist raise JobError or MissingError, to be stored
        as failed: running them would fail obscurely, or succeed without
        doing anything.
        """
        try:
            if (
                fast_paths.enabled()
                and Job._loads_as_defined_here()
                and sql_store.reads_as_odoo(record)
            ):
                job = Job._load_from_db_record(record)
            else:
                job = Job.load(env, job_uuid)
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

    def _log_not_enqueued(self, env, job_uuid):
        env.cr.rollback()
        env.cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (job_uuid,))
        row = env.cr.fetchone()
        if row is None:
            reason = "it does not exist"
        elif row[0] == ENQUEUED:
            reason = "it is being processed by another transaction"
        else:
            reason = "it is in state %s, not enqueued" % row[0]
        _logger.warning(
            "requested to run job %s, but %s: nothing to run", job_uuid, reason
        )

    def _try_perform_job(self, env, job):
        """Run the job and store its outcome, each step in its own transaction.

        The job is committed as started before running, so that its state
        reflects what happens while it runs; the job's own changes are
        committed with its done state. A PostgreSQL concurrency error is not
        the job's fault: it is retried a few seconds later.

        The job's lease is held all along (see :meth:`_lock_enqueued_job`).
        """
        try:
            job.set_started()
            with commit_with_last_statement(env.cr):
                job.store()
            _logger.debug("%s started", job)
            job.perform()
            # Computed fields of the job's changes are part of its execution.
            env["base"].flush()
            job.set_done()
            if job._lease is not None:
                job._lease.release_on_store = True
            job.store()
            env["base"].flush()
            self._release_lease_before_final_commit(job)
            env.cr.commit()
        except OperationalError as err:
            if err.pgcode not in PG_CONCURRENCY_ERRORS_TO_RETRY:
                raise
            _logger.debug("%s concurrency error, retrying later", job)
            raise RetryableJobError(
                tools.ustr(err.pgerror, errors="replace"), seconds=PG_RETRY
            ) from err
        _logger.debug("%s done", job)

    def _release_lease_before_final_commit(self, job):
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

    def _retry_later(self, env, job, err):
        """Postpone ``job`` after a retryable error, in its own transaction."""
        # Roll back first: the failed transaction may hold a lock on the job row.
        env.cr.rollback()
        with env.registry.cursor() as new_cr:
            job.env = job.env(cr=new_cr)
            job.postpone(result=str(err), seconds=err.seconds)
            job.set_pending(reset_retry=False)
            job.store()
        _logger.debug("%s postponed", job)

    def _store_failure(self, env, job_uuid, job, traceback_txt, orig_exception):
        """Store the job as failed, in its own transaction.

        ``job`` is None when the job could not be loaded: the row is then
        updated directly.
        """
        # Roll back first: the failed transaction may hold a lock on the job row.
        env.cr.rollback()
        with env.registry.cursor() as new_cr:
            new_env = api.Environment(new_cr, SUPERUSER_ID, {})
            values = self._get_failure_values(job, traceback_txt, orig_exception)
            if job is None:
                job_model = new_env["queue.job"]
                job_model.search([("uuid", "=", job_uuid)]).with_context(
                    _job_edit_sentinel=job_model.EDIT_SENTINEL
                ).write(dict(values, state=FAILED))
            else:
                # as the job's user, who authors the failure message
                job.env = job.env(cr=new_cr)
                job.set_failed(**values)
                job.store()

    def _get_failure_values(self, job, traceback_txt, orig_exception):
        """Collect relevant data from exception."""
        exc_class = type(orig_exception)
        exception_name = "%s.%s" % (exc_class.__module__, exc_class.__name__)
        with warnings.catch_warnings():
            # odoo.exceptions.UserError.name: deprecated alias of str()
            warnings.simplefilter("ignore", DeprecationWarning)
            exc_message = getattr(orig_exception, "name", None)
        if not exc_message or not isinstance(exc_message, str):
            exc_message = str(orig_exception)
        return {
            "exc_info": traceback_txt,
            "exc_name": exception_name,
            "exc_message": exc_message,
        }

    def _enqueue_dependent_jobs(self, env, job):
        """Release the jobs waiting on ``job``, now done.

        Retried on concurrency errors (two parents of a job finishing at the
        same time), each time in a new transaction: the job's done state is
        already committed, so there is nothing else to keep in this one.
        A job without dependents has nothing to release: its row's list of
        dependents is the one it just stored.
        """
        if not job._has_dependents():
            return
        tries = 0
        while True:
            try:
                job.enqueue_waiting()
                env.cr.commit()
                return
            except OperationalError as err:
                if err.pgcode not in PG_CONCURRENCY_ERRORS_TO_RETRY:
                    raise
                env.cr.rollback()
                if tries >= DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE:
                    _logger.info(
                        "%s, maximum number of tries reached to update dependencies",
                        errorcodes.lookup(err.pgcode),
                    )
                    raise
                wait_time = random.uniform(0.0, 2**tries)
                tries += 1
                _logger.info(
                    "%s, retry %d/%d in %.04f sec...",
                    errorcodes.lookup(err.pgcode),
                    tries,
                    DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE,
                    wait_time,
                )
                time.sleep(wait_time)

    @http.route("/queue_job/create_test_job", type="http", auth="user")
    def create_test_job(
        self,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        size=1,
        failure_rate=0,
    ):
        """Create test jobs (a graph when ``size`` > 1), for system managers."""
        if not http.request.env.user.has_group("base.group_erp_manager"):
            raise Forbidden(_("Access Denied"))

        failure_rate = _to_number(float, failure_rate, 0)
        if not (0 <= failure_rate <= 1):
            raise BadRequest("failure_rate must be between 0 and 1")
        size = _to_number(int, size, 1)
        priority = _to_number(int, priority, None)
        max_retries = _to_number(int, max_retries, None)

        if size == 1:
            return self._create_single_test_job(
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
                failure_rate=failure_rate,
            )
        if size > 1:
            return self._create_graph_test_jobs(
                size,
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
                failure_rate=failure_rate,
            )
        return ""

    def _create_single_test_job(
        self,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        size=1,
        failure_rate=0,
    ):
        delayed = (
            http.request.env["queue.job"]
            .with_delay(
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
            )
            ._test_job(failure_rate=failure_rate)
        )
        return "job uuid: %s" % (delayed.uuid,)

    def _create_graph_test_jobs(
        self,
        size,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        failure_rate=0,
    ):
        """Delay a random graph of ``size`` test jobs: chains and groups
        of up to TEST_GRAPH_MAX_PER_GROUP jobs, each attached to a random
        batch created before it."""
        model = http.request.env["queue.job"]
        delayables = []
        batches = []
        while len(delayables) < size:
            batch_size = min(
                size - len(delayables),
                random.randint(1, self.TEST_GRAPH_MAX_PER_GROUP),
            )
            batch_delayables = []
            for _index in range(batch_size):
                delayable = model.delayable(
                    priority=priority,
                    max_retries=max_retries,
                    channel=channel,
                    description="%s #%d" % (description, len(delayables) + 1),
                )._test_job(failure_rate=failure_rate)
                delayables.append(delayable)
                batch_delayables.append(delayable)
            batch = random.choice((chain, group))(*batch_delayables)
            if batches:
                random.choice(batches).on_done(batch)
            batches.append(batch)
        batches[0].delay()
        return "graph uuid: %s" % (delayables[0]._generated_job.graph_uuid,)


def _to_number(type_, value, default):
    """``value`` converted by ``type_``, or ``default`` when it cannot be."""
    try:
        return type_(value)
    except (TypeError, ValueError):
        return default
