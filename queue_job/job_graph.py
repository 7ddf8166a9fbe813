# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Jobs that wait for others: the dependency graph of a job.

A job of a graph (``chain``, ``group``, ``on_done``) waits in state
``wait_dependencies`` until its parents are done; the uuids of its parents
and children are stored in its ``dependencies`` column. ``Job`` inherits
these methods.
"""
import logging
import random
import time
import weakref

from odoo.service.model import PG_CONCURRENCY_ERRORS_TO_RETRY
from psycopg2 import OperationalError, errorcodes

from .lifecycle import DONE, PENDING, WAIT_DEPENDENCIES

_logger = logging.getLogger(__name__)

DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE = 5

# Promote the waiting children of a job whose parents (in the same graph) are
# all done. Uses the indexes on queue_job.uuid and queue_job.graph_uuid.
ENQUEUE_WAITING_SQL = """
    UPDATE queue_job child
    SET state = %(pending)s
    FROM queue_job parent
    WHERE parent.uuid = %(uuid)s
    AND child.graph_uuid = parent.graph_uuid
    AND child.state = %(wait_dependencies)s
    AND child.uuid IN (
        SELECT json_array_elements_text(
            parent.dependencies::json -> 'reverse_depends_on'
        )
    )
    AND NOT EXISTS (
        SELECT 1
        FROM queue_job other_parent
        WHERE other_parent.graph_uuid = child.graph_uuid
        AND other_parent.state <> %(done)s
        AND other_parent.uuid IN (
            SELECT json_array_elements_text(
                child.dependencies::json -> 'depends_on'
            )
        )
    )
"""


def dependency_edges(jobs):
    """The ``(parent id, child id)`` edges, sorted, between ``jobs``: an
    iterable of ``(id, uuid, dependencies column value)``. Edges to jobs
    outside of ``jobs`` are left out."""
    jobs = list(jobs)
    id_by_uuid = {job_uuid: job_id for job_id, job_uuid, _deps in jobs}
    edges = set()
    for job_id, _uuid, dependencies in jobs:
        dependencies = dependencies or {}
        for parent_uuid in dependencies.get("depends_on") or ():
            if parent_uuid in id_by_uuid:
                edges.add((id_by_uuid[parent_uuid], job_id))
        for child_uuid in dependencies.get("reverse_depends_on") or ():
            if child_uuid in id_by_uuid:
                edges.add((job_id, id_by_uuid[child_uuid]))
    return sorted(edges)


class JobDependencies:
    """The dependency half of ``Job`` (see ``queue_job.job``).

    The uuids of the parents and children are the attributes that
    ``Job.__init__`` names ``__depends_on_uuids`` and
    ``__reverse_depends_on_uuids``, hence their mangled names here: subclasses
    of the original ``Job`` set them by those names.
    """

    _Job__depends_on_uuids = frozenset()
    _Job__reverse_depends_on_uuids = frozenset()
    _depends_on = frozenset()
    _reverse_depends_on = frozenset()
    _loaded_reverse_depends_on = frozenset()

    def add_depends(self, jobs):
        """Make this job wait for ``jobs`` (a set of parent jobs)."""
        if self in jobs:
            raise ValueError("job cannot depend on itself")
        self._Job__depends_on_uuids |= {j.uuid for j in jobs}
        self._depends_on = self._depends_on | set(jobs)
        for parent in jobs:
            parent._Job__reverse_depends_on_uuids = (
                parent._Job__reverse_depends_on_uuids | {self.uuid}
            )
            if not isinstance(parent._reverse_depends_on, weakref.WeakSet):
                parent._reverse_depends_on = weakref.WeakSet()
            parent._reverse_depends_on.add(self)
        if any(j.state != DONE for j in jobs):
            self.state = WAIT_DEPENDENCIES

    @property
    def depends_on(self):
        if not self._depends_on and self._Job__depends_on_uuids:
            self._depends_on = type(self).load_many(
                self.env, self._Job__depends_on_uuids
            )
        return self._depends_on

    @property
    def reverse_depends_on(self):
        if self._reverse_depends_on:
            return set(self._reverse_depends_on)
        if not self._loaded_reverse_depends_on and self._Job__reverse_depends_on_uuids:
            # kept with strong references: nothing else holds loaded children
            self._loaded_reverse_depends_on = type(self).load_many(
                self.env, self._Job__reverse_depends_on_uuids
            )
        return set(self._loaded_reverse_depends_on)

    def _dependencies(self):
        """The ``dependencies`` column's value: from the uuids, as the
        parent and child objects may not be loaded."""
        return {
            "depends_on": sorted(self._Job__depends_on_uuids),
            "reverse_depends_on": sorted(self._Job__reverse_depends_on_uuids),
        }

    def _add_dependencies(self, dependencies):
        """Add the uuids of a ``dependencies`` column's value."""
        self._Job__depends_on_uuids = self._Job__depends_on_uuids | set(
            dependencies.get("depends_on", [])
        )
        self._Job__reverse_depends_on_uuids = self._Job__reverse_depends_on_uuids | set(
            dependencies.get("reverse_depends_on", [])
        )

    def enqueue_waiting(self):
        """Set to pending the children of this job whose parents are all done."""
        self.env.cr.execute(
            ENQUEUE_WAITING_SQL,
            {
                "uuid": self.uuid,
                "pending": PENDING,
                "wait_dependencies": WAIT_DEPENDENCIES,
                "done": DONE,
            },
        )
        self.env["queue.job"].invalidate_cache(["state"])

    def _has_dependents(self):
        """Whether jobs wait on this one, as of its last load or store."""
        return bool(self._Job__reverse_depends_on_uuids)


def enqueue_dependent_jobs(env, job):
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
