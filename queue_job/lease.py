# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The PostgreSQL advisory locks of queue_job: job leases, runner leadership.

A job being executed holds a *lease*: a session-level advisory lock keyed on
its id, taken by the HTTP worker in the transaction that marks the job
``started`` (so no transaction ever sees a ``started`` job whose lease is not
yet held), kept across the job's own commits, and released once the job's
final state is written: in the transaction that commits it, by the UPDATE
of the row (``JobLease.release_on_store``) or right after it (the row's lock
keeps the runner off the row until the commit, see ``jobrunner.sql_rescue``),
or after the commit of a failure. PostgreSQL releases it by itself when the
worker's connection dies (process killed, ``limit_time_real`` reached,
server crash): a ``started`` job whose lease is free has therefore no live
worker, and the job runner puts it back in the queue at once, however long
jobs may run.

The runner of a database holds the *leader* lock of that database on its own
connection: only the holder dispatches and rescues jobs there, other runners
stand by until it is free (advisory locks are per database).

Free of Odoo imports: the functions take any DB-API cursor (an Odoo cursor
or a psycopg2 one).
"""
import logging
import time

_logger = logging.getLogger(__name__)

# First key of the two-int4 advisory lock functions, so that these locks do
# not collide with other users of advisory locks: 'qjob' and 'qjrn' as
# big-endian int4 (positive, as pg_locks shows the keys as oid).
JOB_LEASE_NAMESPACE = 0x716A6F62
RUNNER_LEADER_NAMESPACE = 0x716A726E
# Second key of the leader lock: there is one leader per database.
RUNNER_LEADER_KEY = 0

# How long a worker waits for a lease held by someone else: only a
# finishing worker (between its final commit and its release) or the runner
# checking the lease hold it, each for an instant. The wait polls, so that a
# worker never waits in PostgreSQL's lock queue while it holds the job's row
# lock (no deadlock with the runner).
LEASE_WAIT = 2.0  # seconds
LEASE_POLL_INTERVAL = 0.05  # seconds

TRY_ACQUIRE_LEASE = "SELECT pg_try_advisory_lock(%s, %s)"
RELEASE_EXPRESSION = "pg_advisory_unlock(%s, %s)"
RELEASE_LEASE = "SELECT " + RELEASE_EXPRESSION

# SQL condition, for the runner: the lease of the job whose id is the
# expression ``{job_id}`` is free. Taking the lock for the transaction
# (released at its end) is what proves it free: unlike a read of pg_locks,
# it cannot miss a lease taken meanwhile.
LEASE_IS_FREE = "pg_try_advisory_xact_lock(%d, {job_id})" % JOB_LEASE_NAMESPACE


def acquire_job_lease(cr, job_id, wait=LEASE_WAIT):
    """Take the lease of job ``job_id`` for the session of ``cr``.

    Call it in the transaction that marks the job ``started``, before its
    commit. Returns False when the lease is still held by another session
    after ``wait`` seconds: the job is being handled elsewhere, it must not
    be run. A True result must be paired with :func:`release_job_lease`.
    """
    deadline = time.monotonic() + wait
    while True:
        cr.execute(TRY_ACQUIRE_LEASE, (JOB_LEASE_NAMESPACE, job_id))
        if cr.fetchone()[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(LEASE_POLL_INTERVAL)


def release_job_lease(cr, job_id):
    """Release the lease of job ``job_id`` held by the session of ``cr``.

    Call it once the job's final state is committed. Rolling back does not
    release a session-level lock: this must be called in every case, also
    after a failure (the transaction must not be in an aborted state).
    Returns False if the session did not hold it.
    """
    cr.execute(RELEASE_LEASE, (JOB_LEASE_NAMESPACE, job_id))
    return cr.fetchone()[0]


# Takes the lease of job ``%(job_id)s`` for the session, unless the session
# holds it already (NULL then): session-level advisory locks are re-entrant,
# and a second hold would outlive the release its first holder does.
HOLD_LEASE_UNLESS_OWN = (
    "SELECT CASE WHEN EXISTS ("
    " SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 2"
    " AND classid = %(namespace)s::oid AND objid = %(job_id)s::oid"
    " AND database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database()))"
    " THEN NULL ELSE pg_try_advisory_lock(%(namespace)s, %(job_id)s) END"
)


def acquire_job_lease_unless_own(cr, job_id, wait=LEASE_WAIT):
    """Like :func:`acquire_job_lease`, but None when the session of ``cr``
    holds the lease already (taken by someone else in this session, who
    releases it): only a True result is to be released by the caller."""
    params = {"namespace": JOB_LEASE_NAMESPACE, "job_id": job_id}
    deadline = time.monotonic() + wait
    while True:
        cr.execute(HOLD_LEASE_UNLESS_OWN, params)
        taken = cr.fetchone()[0]
        if taken is None or taken:
            return taken
        if time.monotonic() >= deadline:
            return False
        time.sleep(LEASE_POLL_INTERVAL)


class JobLease:
    """The lease of job ``job_id``, held by the session of ``cr``.

    Released once: by the transaction storing the job's end when it gets
    there (see ``job_run.perform_job``), else after it.
    """

    __slots__ = ("cr", "job_id", "held", "release_on_store")

    def __init__(self, cr, job_id):
        self.cr = cr
        self.job_id = job_id
        self.held = True
        # set for the job's final store: the UPDATE of its row releases the
        # lease too, which spares a round trip (see ``Job.store()``)
        self.release_on_store = False

    def returning_release(self):
        """``(sql, params)``: the RETURNING expression that releases the lease
        in an UPDATE of the job's row; give its value to :meth:`released`."""
        return RELEASE_EXPRESSION, (JOB_LEASE_NAMESPACE, self.job_id)

    def released(self, was_held):
        """The lease was released by SQL run elsewhere, which said whether the
        session held it."""
        self.held = False
        if not was_held:
            _logger.warning("the lease of job id %s was not held any more", self.job_id)

    def release(self):
        """Release the lease if still held; False (logged) if the session had
        lost it."""
        if not self.held:
            return True
        released = release_job_lease(self.cr, self.job_id)
        self.released(released)
        return released


def held_job_leases(cr, job_ids):
    """The ids, among ``job_ids``, of the jobs whose lease is held now.

    A read of pg_locks: nothing is locked. A job whose lease is held is
    being run by a live worker.
    """
    if not job_ids:
        return set()
    cr.execute(
        "SELECT objid::int FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid = %s::oid"
        " AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
        " AND objid::int = ANY(%s)",
        (JOB_LEASE_NAMESPACE, list(job_ids)),
    )
    return {job_id for (job_id,) in cr.fetchall()}
