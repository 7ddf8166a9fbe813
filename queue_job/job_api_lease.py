# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The lease of a job marked started through the Job API by other code.

The runjob controller holds the lease of the job it runs (``Job._lease``).
Other code may run a job itself: ``job.set_started(); job.store();
env.cr.commit()``, then ``perform()``, possibly committing while it runs,
then store its end (as ``queue_job_cron_jobrunner`` does). Without a lease,
the job runner takes such a job for one whose worker died and requeues it
while it runs. So ``Job.store()`` of a started job takes its lease on the
storing cursor's connection (:func:`note_store`), and keeps it until the end
is committed:

* storing the job in another state releases it once that is committed
  (a rollback of that transaction keeps it: the job is still started, and
  its code is alive);
* rolling back the transaction that would have started the job releases it
  (the job was never started);
* closing the cursor releases what is still held (whoever ran the job is
  gone; the job, still started, is then the runner's to rescue): Odoo's pool
  keeps the connection, a lease must not stay on it.

A new job stored started takes its lease at the commit that inserts it (its
id is not known before). The lease is held by the storing cursor: an end
stored through another cursor leaves it held until that cursor commits or
closes, which only keeps a rerun of the job waiting meanwhile.

Odoo runs the hooks of a cursor once per transaction, and forgets those of
the other outcome, so the hooks are armed again at each commit and rollback
for as long as leases are held (the pre-hooks re-arm the post-hooks).
"""
import logging
import weakref

import odoo.sql_db
import psycopg2
from psycopg2 import extensions

from .lease import acquire_job_lease_unless_own, release_job_lease

_logger = logging.getLogger(__name__)

STARTED = "started"

# key of the hooks of this module in the cursor's Callbacks.data
HOOK_KEY = "queue_job.job_api_lease"

# cursor -> _CursorLeases, for the cursors that ever stored a started job
_by_cursor = weakref.WeakKeyDictionary()


def note_store(job):
    """Take or schedule the release of ``job``'s lease, for a ``store()``.

    Called at the start of ``Job.store()`` for jobs without a lease of the
    runjob controller. Costs nothing when the job is not started and its
    cursor holds no lease.
    """
    cr = job.env.cr
    if type(cr) is not odoo.sql_db.Cursor:
        # test cursors: the job is not served by a runner
        return
    leases = _by_cursor.get(cr)
    if job.state == STARTED:
        if leases is None:
            leases = _by_cursor[cr] = _CursorLeases(cr)
        leases.hold(job)
    elif leases is not None:
        leases.end(job)


def held_by(cr):
    """``{job id: uuid}`` of the leases held through :func:`note_store` by
    the session of ``cr``."""
    leases = _by_cursor.get(cr)
    return dict(leases.held) if leases is not None else {}


class _CursorLeases:
    """The leases taken by ``Job.store()`` on the session of one cursor."""

    def __init__(self, cr):
        self.cr = cr
        # job id -> uuid: held by the session
        self.held = {}
        # ids of the leases taken in the current transaction
        self.taken = set()
        # ids of the jobs stored in another state in the current transaction
        self.ending = set()
        # uuid -> job: new jobs stored started, leased at the commit
        self.deferred = {}

    def hold(self, job):
        """``job`` is stored started: take its lease if not held yet."""
        job_id = job._db_record_id
        if job_id is None:
            self.deferred[job.uuid] = job
            self._arm()
            return
        if job_id in self.held:
            self.ending.discard(job_id)
            return
        self._acquire(job_id, job.uuid)

    def end(self, job):
        """``job`` is stored in another state than started."""
        self.deferred.pop(job.uuid, None)
        job_id = job._db_record_id
        if job_id is None:
            job_id = next((i for i, u in self.held.items() if u == job.uuid), None)
        if job_id in self.held:
            self.ending.add(job_id)
            self._arm()

    def _acquire(self, job_id, uuid):
        taken = acquire_job_lease_unless_own(self.cr, job_id)
        if taken:
            self.held[job_id] = uuid
            self.taken.add(job_id)
            self._arm()
        elif taken is False:
            _logger.warning(
                "job %s is stored started, but its lease is held by another"
                " session: it is left to that session",
                uuid,
            )
        # None: this session holds it already (the runjob controller's)

    def _arm(self):
        """Make sure the hooks of the current transaction are registered."""
        cr = self.cr
        for callbacks, func in (
            (cr.precommit, self._precommit),
            (cr.postcommit, self._committed),
            (cr.prerollback, self._arm),
            (cr.postrollback, self._rolled_back),
        ):
            # data is cleared with the callbacks: present = registered (or
            # running, then it is armed again by the other hooks)
            if HOOK_KEY not in callbacks.data:
                callbacks.data[HOOK_KEY] = True
                callbacks.add(func)

    def _precommit(self):
        deferred, self.deferred = self.deferred, {}
        for uuid, job in deferred.items():
            job_id = job._db_record_id
            if job_id is not None and job_id not in self.held:
                self._acquire(job_id, uuid)
        self._arm()

    def _committed(self):
        ending = self.ending & set(self.held)
        self.taken.clear()
        self.ending.clear()
        self._release(ending)
        if self.held:
            self._arm()

    def _rolled_back(self):
        # Cursor.close() rolls back after it dropped its psycopg2 cursor
        closing = "_obj" not in vars(self.cr)
        released = set(self.held) if closing else self.taken & set(self.held)
        self.taken.clear()
        self.ending.clear()
        self.deferred.clear()
        self._release(released)
        if self.held and not closing:
            self._arm()

    def _release(self, job_ids):
        """Release leases on the connection, outside of any transaction when
        none is open (the hooks run between transactions): this must not
        begin one, whose snapshot would be older than the next statement."""
        if not job_ids:
            return
        uuids = {job_id: self.held.pop(job_id) for job_id in job_ids}
        connection = self.cr._cnx
        if connection.closed:
            return  # PostgreSQL released them with the session
        idle = (
            not connection.autocommit and connection.status == extensions.STATUS_READY
        )
        try:
            if idle:
                connection.autocommit = True
            try:
                with connection.cursor() as raw:
                    for job_id, uuid in uuids.items():
                        if not release_job_lease(raw, job_id):
                            _logger.warning(
                                "the lease of job %s was not held any more", uuid
                            )
            finally:
                if idle:
                    connection.autocommit = False
        except psycopg2.Error:
            # a broken connection: its session, and the leases, are gone
            _logger.warning(
                "could not release the leases of jobs %s",
                ", ".join(uuids.values()),
                exc_info=True,
            )
