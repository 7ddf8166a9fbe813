# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Jobs that are not enqueued twice: the identity key of a job.

A single job whose identity key a waiting job already has is that job's
duplicate: ``with_delay()`` returns the waiting job instead of storing a new
one, and a job put back to pending is cancelled instead of waiting twice.
A partial unique index on ``queue_job`` guarantees it between concurrent
transactions. ``Job`` inherits these methods.
"""
import hashlib
import logging

from odoo.tools import mute_logger
from psycopg2 import IntegrityError, errorcodes

from .lifecycle import WAITING_STATES

_logger = logging.getLogger(__name__)

# The partial unique index of queue_job (created by the model's init()):
# at most one waiting single job (not part of a graph) per identity key.
IDENTITY_KEY_UNIQUE_INDEX = "queue_job_identity_key_unique_index"
# Tries to store a job whose identity key a concurrent transaction stored
# first, when that job leaves the waiting states before it can be read.
IDENTITY_STORE_ATTEMPTS = 3


def identity_exact(job_):
    """Identity function: same model, method, records and arguments.

    Use as ``with_delay(identity_key=identity_exact)`` to not enqueue a job
    when the very same one is still waiting to run.
    """
    return identity_exact_hasher(job_).hexdigest()


def identity_exact_hasher(job_):
    """The sha1 object behind :func:`identity_exact`, to feed more data to it."""
    hasher = hashlib.sha1()
    hasher.update(job_.model_name.encode("utf-8"))
    hasher.update(job_.method_name.encode("utf-8"))
    hasher.update(str(sorted(job_.recordset.ids)).encode("utf-8"))
    hasher.update(str(job_.args).encode("utf-8"))
    hasher.update(str(sorted(job_.kwargs.items())).encode("utf-8"))
    return hasher


def _job_class():
    """``queue_job.job.Job``, which the deprecated ``enqueue()`` loads a
    duplicate as (imported late: that module imports this one)."""
    from .job import Job

    return Job


class JobIdentity:
    """The duplicate rules of ``Job`` (see ``queue_job.job``)."""

    def job_record_with_same_identity_key(self):
        """The waiting ``queue.job`` having this job's identity key, if any.

        Jobs already started, done, failed or cancelled never count.
        """
        return (
            self.env["queue.job"]
            .sudo()
            .search(
                [
                    ("identity_key", "=", self.identity_key),
                    ("state", "in", list(WAITING_STATES)),
                ],
                limit=1,
            )
        )

    def _has_unique_identity(self):
        """Whether this job, while waiting, is under the unique identity index.

        Single jobs only: in a graph, a job duplicating a waiting one is
        stored all the same when another job of the graph is new.
        """
        return bool(self.identity_key) and not self.graph_uuid

    def _store_or_find_duplicate(self):
        """Store this new job, or return the duplicate that got in first.

        For a single job with an identity key, after the duplicate lookup
        found nothing: a concurrent transaction may have stored a job with
        the same key since. The unique index then refuses this one (once
        that transaction commits), and this returns that job's
        ``queue.job`` record, as the duplicate rule of ``with_delay()``
        does; otherwise it returns None, the job being stored.
        """
        for attempt in range(1, IDENTITY_STORE_ATTEMPTS + 1):
            try:
                # The refused INSERT is expected: not logged as a bad query.
                with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                    self.store()
                return None
            except IntegrityError as err:
                if (
                    err.pgcode != errorcodes.UNIQUE_VIOLATION
                    or err.diag.constraint_name != IDENTITY_KEY_UNIQUE_INDEX
                    or attempt == IDENTITY_STORE_ATTEMPTS
                ):
                    raise
            existing = self._committed_waiting_duplicate()
            if existing:
                _logger.debug(
                    "job not stored: job %s with the same identity key (%s) was"
                    " stored by a concurrent transaction",
                    existing.uuid,
                    self.identity_key,
                )
                return existing

    def _committed_waiting_duplicate(self):
        """The waiting job with this identity key committed by another
        transaction, as a ``queue.job`` record of this environment, or None.

        The row is not visible in this transaction's snapshot (Odoo's
        transactions are REPEATABLE READ): it is read with a new cursor,
        and its columns are put in this environment's cache, so that the
        record can be read (``uuid``, ``state``, ...) and loaded as a Job.
        """
        names = self._load_field_names
        with self.env.registry.cursor() as cr:
            other_env = self.env(cr=cr, su=True)
            other = other_env["queue.job"].search(
                [
                    ("identity_key", "=", self.identity_key),
                    ("state", "in", list(WAITING_STATES)),
                ],
                limit=1,
            )
            if not other:
                return None
            other._read(names)
            record = self.env["queue.job"].sudo().browse(other.id)
            for name in names:
                field = other._fields[name]
                self.env.cache.set(record, field, other_env.cache.get(other, field))
        return record

    def _waiting_duplicate(self):
        """Another waiting job with this job's unique identity key, if any."""
        if not self._has_unique_identity():
            return None
        duplicate = (
            self.env["queue.job"]
            .sudo()
            .search(
                [
                    ("identity_key", "=", self.identity_key),
                    ("state", "in", list(WAITING_STATES)),
                    ("uuid", "!=", self.uuid),
                ],
                limit=1,
            )
        )
        return duplicate or None

    @property
    def identity_key(self):
        if self._identity_key is None:
            if self._identity_key_func:
                self._identity_key = self._identity_key_func(self)
        return self._identity_key

    @identity_key.setter
    def identity_key(self, value):
        if isinstance(value, str):
            self._identity_key = value
            self._identity_key_func = None
        else:
            # computed on first read, from the complete job
            self._identity_key = None
            self._identity_key_func = value

    @classmethod
    def enqueue(
        cls,
        func,
        args=None,
        kwargs=None,
        priority=None,
        eta=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
    ):
        """Create and store a job (deprecated: use ``with_delay()``)."""
        new_job = cls(
            func=func,
            args=args,
            kwargs=kwargs,
            priority=priority,
            eta=eta,
            max_retries=max_retries,
            description=description,
            channel=channel,
            identity_key=identity_key,
        )
        return new_job._enqueue_job()

    def _enqueue_job(self):
        if self.identity_key:
            existing = self.job_record_with_same_identity_key()
            if existing:
                _logger.debug(
                    "a job has not been enqueued due to having "
                    "the same identity key (%s) than job %s",
                    self.identity_key,
                    existing.uuid,
                )
                return _job_class()._load_from_db_record(existing)
        if self._has_unique_identity():
            existing = self._store_or_find_duplicate()
            if existing:
                return _job_class()._load_from_db_record(existing)
        else:
            self.store()
        _logger.debug(
            "enqueued %s:%s(*%r, **%r) with uuid: %s",
            self.recordset,
            self.method_name,
            self.args,
            self.kwargs,
            self.uuid,
        )
        return self
