# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The in-memory job: what to run, how to retry it, and its ``queue.job`` row."""
import contextlib
import functools
import hashlib
import inspect
import itertools
import logging
import os
import sys
import uuid
import weakref
from datetime import datetime, timedelta
from random import randint

import odoo
from odoo import _
from odoo.tools import mute_logger
from psycopg2 import IntegrityError, errorcodes

from . import job_api_lease, sql_store
from .exception import FailedJobError, JobError, NoSuchJobError, RetryableJobError
from .fields import JobEncoder

WAIT_DEPENDENCIES = "wait_dependencies"
PENDING = "pending"
ENQUEUED = "enqueued"
CANCELLED = "cancelled"
DONE = "done"
STARTED = "started"
FAILED = "failed"

STATES = [
    (WAIT_DEPENDENCIES, "Wait Dependencies"),
    (PENDING, "Pending"),
    (ENQUEUED, "Enqueued"),
    (STARTED, "Started"),
    (DONE, "Done"),
    (CANCELLED, "Cancelled"),
    (FAILED, "Failed"),
]

# A job in one of these states is waiting to run: a new job with the same
# identity key is its duplicate.
WAITING_STATES = (WAIT_DEPENDENCIES, PENDING, ENQUEUED)

# The partial unique index of queue_job (created by the model's init()):
# at most one waiting single job (not part of a graph) per identity key.
IDENTITY_KEY_UNIQUE_INDEX = "queue_job_identity_key_unique_index"
# Tries to store a job whose identity key a concurrent transaction stored
# first, when that job leaves the waiting states before it can be read.
IDENTITY_STORE_ATTEMPTS = 3

DEFAULT_PRIORITY = 10  # lower number = runs earlier
DEFAULT_MAX_RETRIES = 5
RETRY_INTERVAL = 10 * 60  # seconds

_logger = logging.getLogger(__name__)

# Job.company_id not computed yet
_UNRESOLVED = object()

# Tie-breaker of Job ordering: creation order within the process.
_job_sequence = itertools.count()

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


def DelayableRecordset(*args, **kwargs):
    """Compatibility alias: the class lives in ``queue_job.delay``."""
    # imported here: delay imports this module
    from .delay import DelayableRecordset as _DelayableRecordset

    _logger.debug(
        "DelayableRecordset moved from the queue_job.job to the queue_job.delay"
        " python module"
    )
    return _DelayableRecordset(*args, **kwargs)


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


def _is_model_method(func):
    return inspect.ismethod(func) and isinstance(
        func.__self__.__class__, odoo.models.MetaModel
    )


class _OffenderTrackingEncoder(JobEncoder):
    """Remember the value the JSON encoder gave up on, for the error message."""

    offender = None

    def default(self, obj):
        try:
            return super().default(obj)
        except TypeError:
            self.offender = obj
            raise


# Encoders keep no state between calls: one serves every job.
_ENCODER = JobEncoder()


def _short_repr(value, limit=200):
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@functools.total_ordering
class Job:
    """A job: a method of a recordset to run later, with its arguments.

    It is persisted as a ``queue.job`` record by :meth:`store` and rebuilt
    from it by :meth:`load`. State changes (``set_*`` methods) happen in
    memory only until the next :meth:`store`.

    Main attributes: ``uuid``, ``recordset`` and ``method_name`` (what to
    run, as which user), ``args``/``kwargs``, ``priority`` (lower runs
    earlier), ``eta`` (not before), ``retry``/``max_retries`` (0 = retry
    forever), ``channel``, ``identity_key`` (to not enqueue duplicates),
    ``state`` and its dates, ``result``, ``exc_name``/``exc_message``/
    ``exc_info`` (last failure), ``graph_uuid`` and the dependencies.
    """

    # Defaults of the attributes that __init__ sets, so that a subclass whose
    # __init__ sets the documented attributes itself (without calling this
    # one) still stores, loads and runs. Immutable: the methods rebind them.
    _uuid = None
    _uuid_given = False
    _db_record_id = None
    _description = None
    _identity_key = None
    _identity_key_func = None
    _company_id = _UNRESOLVED
    _company_env = None
    _eta = None
    _channel = None
    _payload = None
    _stored_values = None
    _lease = None
    _job_config = None
    _job_model = None
    __depends_on_uuids = frozenset()
    __reverse_depends_on_uuids = frozenset()
    _depends_on = frozenset()
    _reverse_depends_on = frozenset()
    _loaded_reverse_depends_on = frozenset()
    job_model_name = "queue.job"
    graph_uuid = None
    state = PENDING
    retry = 0
    max_retries = DEFAULT_MAX_RETRIES
    priority = DEFAULT_PRIORITY
    args = ()
    kwargs = {}
    date_created = None
    date_enqueued = None
    date_started = None
    date_done = None
    date_cancelled = None
    result = None
    exc_name = None
    exc_message = None
    exc_info = None
    worker_pid = None

    # the columns _load_from_db_record() reads, fetched in one query
    _load_field_names = (
        "uuid",
        "graph_uuid",
        "model_name",
        "method_name",
        "records",
        "args",
        "kwargs",
        "name",
        "channel",
        "priority",
        "eta",
        "identity_key",
        "state",
        "retry",
        "max_retries",
        "result",
        "exc_name",
        "exc_message",
        "exc_info",
        "company_id",
        "worker_pid",
        "date_created",
        "date_enqueued",
        "date_started",
        "date_done",
        "date_cancelled",
        "exec_time",
        "dependencies",
    )

    @classmethod
    def load(cls, env, job_uuid):
        """Read a job from the database; ``NoSuchJobError`` if it is gone."""
        stored = cls.db_records_from_uuids(env, [job_uuid])
        if not stored:
            raise NoSuchJobError(
                "Job %s does no longer exist in the storage." % job_uuid
            )
        stored._read(cls._load_field_names)
        return cls._load_from_db_record(stored)

    @classmethod
    def load_many(cls, env, job_uuids):
        """Read several jobs; uuids missing in the database are ignored."""
        stored = cls.db_records_from_uuids(env, job_uuids)
        stored._read(cls._load_field_names)
        return {cls._load_from_db_record(record) for record in stored}

    @classmethod
    def _claimed_record(cls, env, names, values):
        """The ``queue.job`` record of a row read by the caller in the
        current transaction, the row's columns ``names`` with ``values`` put
        in its cache as the ORM would read them: loading the job from it
        (``_load_from_db_record()``) reads nothing more, whatever columns an
        override reads."""
        model = env["queue.job"]
        if not env.su:
            model = model.sudo()
        row = dict(zip(names, values))
        record = model.browse(row["id"])
        cache = env.cache
        for name, value in row.items():
            field = model._fields.get(name)
            if field is None or not field.store or not field.column_type:
                continue
            cache.set(
                record, field, field.convert_to_cache(value, record, validate=False)
            )
        return record

    @classmethod
    def _loads_as_defined_here(cls):
        """Whether ``load()`` is this class's own: else an override (as addons
        patch it) must load every job, the runjob controller's included."""
        return getattr(cls.load, "__func__", None) is _JOB_LOAD

    @classmethod
    def _load_from_db_record(cls, job_db_record):
        stored = job_db_record
        # readable reasons for jobs left behind by an uninstalled addon
        if stored.model_name not in stored.env:
            raise JobError(
                _(
                    "Job %(uuid)s cannot be loaded: its model %(model)s does not"
                    " exist",
                    uuid=stored.uuid,
                    model=stored.model_name,
                )
            )
        recordset = stored.records
        method = getattr(recordset, stored.method_name, None)
        if not _is_model_method(method):
            raise JobError(
                _(
                    "Job %(uuid)s cannot be loaded: model %(model)s has no method"
                    " %(method)s",
                    uuid=stored.uuid,
                    model=stored.model_name,
                    method=stored.method_name,
                )
            )
        job_ = cls(
            method,
            args=stored.args,
            kwargs=stored.kwargs,
            priority=stored.priority,
            eta=stored.eta or None,
            job_uuid=stored.uuid,
            description=stored.name,
            channel=stored.channel,
            identity_key=stored.identity_key,
        )
        if stored.date_created:
            job_.date_created = stored.date_created
        if stored.date_enqueued:
            job_.date_enqueued = stored.date_enqueued
        if stored.date_started:
            job_.date_started = stored.date_started
        if stored.date_done:
            job_.date_done = stored.date_done
        if stored.date_cancelled:
            job_.date_cancelled = stored.date_cancelled
        job_.state = stored.state
        job_.graph_uuid = stored.graph_uuid or None
        job_.result = stored.result or None
        job_.exc_info = stored.exc_info or None
        # kept so that storing the job again does not erase the failure
        job_.exc_name = stored.exc_name or None
        job_.exc_message = stored.exc_message or None
        job_.retry = stored.retry
        job_.max_retries = stored.max_retries
        # a job stored without company keeps having none
        job_.company_id = stored.company_id.id or None
        job_.worker_pid = stored.worker_pid
        dependencies = stored.dependencies or {}
        job_.__depends_on_uuids = job_.__depends_on_uuids | set(
            dependencies.get("depends_on", [])
        )
        job_.__reverse_depends_on_uuids = job_.__reverse_depends_on_uuids | set(
            dependencies.get("reverse_depends_on", [])
        )
        job_._db_record_id = stored.id
        stored_values = job_._store_values_of_job()
        # not derived from the dates in the row: whatever the row holds
        stored_values["exec_time"] = stored.exec_time or False
        job_._remember_stored_values(stored_values, stored.env.cr)
        return job_

    @staticmethod
    def db_record_from_uuid(env, job_uuid):
        _logger.debug("deprecated, use 'db_records_from_uuids' or 'Job.db_record()'")
        return Job.db_records_from_uuids(env, [job_uuid])

    @staticmethod
    def db_records_from_uuids(env, job_uuids):
        model = env["queue.job"].sudo()
        records = model.search([("uuid", "in", tuple(job_uuids))])
        return records.with_env(env).sudo()

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
                return Job._load_from_db_record(existing)
        if self._has_unique_identity():
            existing = self._store_or_find_duplicate()
            if existing:
                return Job._load_from_db_record(existing)
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

    def __init__(
        self,
        func,
        args=None,
        kwargs=None,
        priority=None,
        eta=None,
        job_uuid=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
    ):
        if args is None:
            args = ()
        if isinstance(args, list):
            args = tuple(args)
        assert isinstance(args, tuple), "%s: args are not a tuple" % args
        if kwargs is None:
            kwargs = {}
        assert isinstance(kwargs, dict), "%s: kwargs are not a dict" % kwargs

        if not _is_model_method(func):
            raise TypeError("Job accepts only methods of Models")

        recordset = func.__self__
        env = recordset.env
        self.method_name = func.__name__
        self.recordset = recordset

        self.env = env
        self.job_model = self.env["queue.job"]
        self.job_model_name = "queue.job"

        self.job_config = (
            self.env["queue.job.function"].sudo().job_config(self.job_function_name)
        )

        self.state = PENDING

        self.retry = 0
        if max_retries is None:
            self.max_retries = DEFAULT_MAX_RETRIES
        else:
            self.max_retries = max_retries

        self._uuid = job_uuid
        # A uuid generated by this object cannot be in the database before
        # its first store(): only a uuid given by the caller is looked up.
        self._uuid_given = job_uuid is not None
        self._db_record_id = None
        self.graph_uuid = None

        self.args = args
        self.kwargs = kwargs

        self.__depends_on_uuids = set()
        self.__reverse_depends_on_uuids = set()
        self._depends_on = set()
        self._reverse_depends_on = weakref.WeakSet()
        self._loaded_reverse_depends_on = set()

        self.priority = priority
        if self.priority is None:
            self.priority = DEFAULT_PRIORITY

        self.date_created = datetime.now()
        self.seq = next(_job_sequence)
        self._description = description

        self._identity_key = None
        self._identity_key_func = None
        self.identity_key = identity_key

        self.date_enqueued = None
        self.date_started = None
        self.date_done = None
        self.date_cancelled = None

        self.result = None
        self.exc_name = None
        self.exc_message = None
        self.exc_info = None

        if "company_id" in env.context:
            self._company_id = env.context["company_id"]
        else:
            # resolved on first use: loading a job sets it explicitly and
            # spares the lookup of the user's company
            self._company_id = _UNRESOLVED
        self._company_env = env

        self._eta = None
        self.eta = eta
        self._channel = channel
        self.worker_pid = None

        self._payload = None
        # {column: value} of the job's row as last read or written by this
        # object, see store()
        self._stored_values = None
        # the lease of the run in progress (queue_job.lease.JobLease), given
        # by the runjob controller
        self._lease = None

    @property
    def job_config(self):
        """The configuration of the job's function (``queue.job.function``)."""
        if self._job_config is None:
            self._job_config = (
                self.env["queue.job.function"].sudo().job_config(self.job_function_name)
            )
        return self._job_config

    @job_config.setter
    def job_config(self, value):
        self._job_config = value

    @property
    def job_model(self):
        if self._job_model is None:
            return self.env[self.job_model_name]
        return self._job_model

    @job_model.setter
    def job_model(self, value):
        self._job_model = value

    @property
    def company_id(self):
        if self._company_id is _UNRESOLVED:
            company_env = self.env if self._company_env is None else self._company_env
            self._company_id = company_env.company.id
        return self._company_id

    @company_id.setter
    def company_id(self, value):
        self._company_id = value

    def add_depends(self, jobs):
        """Make this job wait for ``jobs`` (a set of parent jobs)."""
        if self in jobs:
            raise ValueError("job cannot depend on itself")
        self.__depends_on_uuids |= {j.uuid for j in jobs}
        self._depends_on = self._depends_on | set(jobs)
        for parent in jobs:
            parent.__reverse_depends_on_uuids = parent.__reverse_depends_on_uuids | {
                self.uuid
            }
            if not isinstance(parent._reverse_depends_on, weakref.WeakSet):
                parent._reverse_depends_on = weakref.WeakSet()
            parent._reverse_depends_on.add(self)
        if any(j.state != DONE for j in jobs):
            self.state = WAIT_DEPENDENCIES

    def perform(self):
        """Execute the job, counting the try in ``retry``.

        A ``RetryableJobError`` raised once ``max_retries`` tries are
        exhausted becomes a ``FailedJobError``.
        """
        self.retry += 1
        try:
            self.result = self.func(*tuple(self.args), **self.kwargs)
        except RetryableJobError as err:
            if err.ignore_retry:
                self.retry -= 1
                raise
            elif not self.max_retries:  # infinite retries
                raise
            elif self.retry >= self.max_retries:
                type_, value, _traceback = sys.exc_info()
                new_exc = FailedJobError(
                    "Max. retries (%d) reached: %s" % (self.max_retries, value or type_)
                )
                raise new_exc from err
            raise
        return self.result

    def _has_dependents(self):
        """Whether jobs wait on this one, as of its last load or store."""
        return bool(self.__reverse_depends_on_uuids)

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

    def _serialized_payload(self):
        """Encode the recordset and arguments to JSON, once per store.

        Raises a ``TypeError`` naming the job function and the value JSON
        cannot represent, so a bad argument fails when the job is delayed
        instead of when the transaction commits.
        """
        if self._payload is None:
            payload = {}
            for key, value in (
                ("records", self.recordset),
                ("args", self.args),
                ("kwargs", self.kwargs),
            ):
                try:
                    payload[key] = _ENCODER.encode(value)
                except (TypeError, ValueError) as err:
                    raise self._serialization_error(key, value, err) from err
            self._payload = payload
        return self._payload

    def _serialization_error(self, key, value, err):
        """The error to raise when ``value`` (the job's ``key``) is not JSON."""
        # encoded again, to know which value JSON cannot represent
        encoder = _OffenderTrackingEncoder()
        with contextlib.suppress(TypeError, ValueError):
            encoder.encode(value)
        if encoder.offender is not None:
            detail = "value %s of type %s" % (
                _short_repr(encoder.offender),
                type(encoder.offender).__name__,
            )
        else:
            detail = "value %s" % _short_repr(value)
        return type(err)(
            "Cannot delay %s: its %s cannot be stored as JSON (%s): %s"
            % (self.job_function_name, key, detail, err)
        )

    def store(self):
        """Create or update the ``queue.job`` record of this job.

        The row is written with one SQL statement when that is equivalent to
        the ORM's ``create()``/``write()``, see ``queue_job.sql_store``.
        Otherwise ``create()`` and ``write()`` receive what they always did:
        the recordset, a tuple and a dict for ``records``, ``args`` and
        ``kwargs`` at creation, every stored value at each write.

        An update in SQL writes the state, and the values that differ from
        the row as this object last loaded or stored it: a job run writes
        three columns at start and four at the end rather than twenty each
        time. What this object knows of its row is forgotten when the
        transaction that read or wrote it rolls back, but not when it rolls
        back to a savepoint, which Odoo does not signal: a job stored within
        a savepoint that is rolled back is to be loaded again
        (``Job.load()``) before it is stored again.
        """
        self._keep_lease_while_started()
        job_model = self._store_model()
        if self._db_record_id:
            db_record = job_model.browse(self._db_record_id)
        elif self._uuid_given:
            db_record = job_model.browse(self.db_record().ids)
        else:
            db_record = job_model.browse()
        if db_record:
            self._db_record_id = db_record.id
            vals = self._store_values()
            lease = self._lease_to_release(db_record.env.cr)
            returning = lease.returning_release() if lease else None
            written = sql_store.update(
                db_record, self._values_to_write(vals), returning=returning
            )
            if not written:
                db_record.write(vals)
            elif lease:
                lease.released(written[0])
            self._remember_stored_values(vals, db_record.env.cr)
        else:
            vals = self._store_values(create=True)
            plan = job_model._job_sql_store_plan()
            if sql_store.can_insert(plan, job_model, vals):
                self._stored_as(sql_store.insert(job_model, [vals])[0])
            else:
                self._stored_as(job_model.create(self._orm_create_values(vals)).id)

    def _orm_create_values(self, vals):
        """``vals`` as ``create()`` receives them: the recordset and the
        arguments themselves, not their JSON texts."""
        return dict(
            vals, records=self.recordset, args=self.args, kwargs=dict(self.kwargs)
        )

    def _keep_lease_while_started(self):
        """Hold the job's lease while code other than the runjob controller
        (which gives ``_lease``) runs it: a started job without lease is
        taken for one whose worker died (see ``queue_job.job_api_lease``)."""
        if self._lease is None:
            job_api_lease.note_store(self)

    def _lease_to_release(self, cr):
        """The job's lease, if this store is to release it (see
        ``JobLease.release_on_store``): it must be held by ``cr``."""
        lease = self._lease
        if (
            lease is not None
            and lease.release_on_store
            and lease.held
            and lease.cr is cr
        ):
            return lease
        return None

    @classmethod
    def store_many(cls, jobs):
        """``store()`` every job of ``jobs``, inserting the new ones in bulk.

        New jobs that ``queue_job.sql_store`` can insert are inserted with
        one statement per batch of up to ``INSERT_BATCH_SIZE`` rows; the
        others are stored one by one. Used by ``queue_job.delay.delay_many()``.
        """
        rows_by_model = {}
        for job_ in jobs:
            if job_._db_record_id or job_._uuid_given:
                job_.store()
                continue
            job_model = job_._store_model()
            vals = job_._store_values(create=True)
            plan = job_model._job_sql_store_plan()
            if not sql_store.can_insert(plan, job_model, vals):
                job_.store()
                continue
            key = (id(job_model.env), job_model.env.uid)
            batch = rows_by_model.setdefault(key, (job_model, []))[1]
            batch.append((job_, sql_store.insert_row(plan, job_model, vals)))
        for job_model, batch in rows_by_model.values():
            new_ids = sql_store.insert_rows(job_model, [row for _job, row in batch])
            for (job_, _row), new_id in zip(batch, new_ids):
                job_._stored_as(new_id)

    def _store_model(self):
        """``queue.job`` as ``store()`` writes it: superuser, edit sentinel."""
        job_model = self.env["queue.job"].sudo()
        return job_model.with_context(_job_edit_sentinel=job_model.EDIT_SENTINEL)

    def _stored_as(self, record_id):
        """This new job was stored as the row ``record_id``."""
        self._db_record_id = record_id
        self._payload = None

    def _values_to_write(self, vals):
        """The part of ``vals`` that the job's row does not hold yet.

        The state is always written: writing a failed state is what posts
        the failure message (see ``queue.job.write()``).
        """
        stored = self._stored_values
        if not stored:
            return vals
        missing = object()
        return {
            name: value
            for name, value in vals.items()
            if name == "state" or stored.get(name, missing) != value
        }

    def _remember_stored_values(self, vals, cr):
        """``vals`` are in the job's row for the transaction of ``cr``."""
        self._stored_values = vals
        cr.postrollback.add(self._forget_stored_values)

    def _forget_stored_values(self):
        self._stored_values = None

    def _store_values(self, create=False):
        vals = self._store_values_of_job()
        if create:
            vals.update(
                {
                    "user_id": self.env.uid,
                    "channel": self.channel,
                    # The following values must never be modified after the
                    # creation of the job
                    "uuid": self.uuid,
                    "name": self.description,
                    "func_string": self.func_string,
                    "date_created": self.date_created,
                    "model_name": self.recordset._name,
                    "method_name": self.method_name,
                    "job_function_id": self.job_config.job_function_id,
                    "channel_method_name": self.job_function_name,
                }
            )
            # already encoded JSON texts, see _serialized_payload()
            vals.update(self._serialized_payload())

        vals_from_model = self._store_values_from_model()
        # Sanitize values: make sure you cannot screw core values
        vals_from_model = {k: v for k, v in vals_from_model.items() if k not in vals}
        vals.update(vals_from_model)
        return vals

    def _store_values_of_job(self):
        """The values of the job's own state: no hook, no creation-only value."""
        vals = {
            "state": self.state,
            "priority": self.priority,
            "retry": self.retry,
            "max_retries": self.max_retries,
            "exc_name": self.exc_name,
            "exc_message": self.exc_message,
            "exc_info": self.exc_info,
            "company_id": self.company_id,
            "result": str(self.result) if self.result else False,
            "date_enqueued": False,
            "date_started": False,
            "date_done": False,
            "exec_time": False,
            "date_cancelled": False,
            "eta": False,
            "identity_key": False,
            "worker_pid": self.worker_pid,
            "graph_uuid": self.graph_uuid,
        }

        if self.date_enqueued:
            vals["date_enqueued"] = self.date_enqueued
        if self.date_started:
            vals["date_started"] = self.date_started
        if self.date_done:
            vals["date_done"] = self.date_done
        if self.exec_time:
            vals["exec_time"] = self.exec_time
        if self.date_cancelled:
            vals["date_cancelled"] = self.date_cancelled
        if self.eta:
            vals["eta"] = self.eta
        if self.identity_key:
            vals["identity_key"] = self.identity_key

        vals["dependencies"] = {
            # from the uuids: the parent/child objects may not be loaded
            "depends_on": sorted(self.__depends_on_uuids),
            "reverse_depends_on": sorted(self.__reverse_depends_on_uuids),
        }
        return vals

    def _store_values_from_model(self):
        """Extra values from the model: ``_job_store_values`` of the recordset,
        then ``_job_store_values_for_<method>`` on top of it."""
        vals = dict(self.recordset._job_store_values(self) or {})
        specific = getattr(
            self.recordset, "_job_store_values_for_" + self.method_name, None
        )
        if specific is not None:
            vals.update(specific(self) or {})
        return vals

    @property
    def func_string(self):
        model = repr(self.recordset)
        args = [repr(arg) for arg in self.args]
        kwargs = [f"{key}={val!r}" for key, val in self.kwargs.items()]
        all_args = ", ".join(args + kwargs)
        return f"{model}.{self.method_name}({all_args})"

    def __eq__(self, other):
        if not isinstance(other, Job):
            return NotImplemented
        return self.uuid == other.uuid

    def __hash__(self):
        return self.uuid.__hash__()

    def sorting_key(self):
        return self.eta, self.priority, self.date_created, self.seq

    def __lt__(self, other):
        if self.eta and not other.eta:
            return True
        elif not self.eta and other.eta:
            return False
        elif not self.eta:
            # no eta on both sides: None cannot be compared
            return self.sorting_key()[1:] < other.sorting_key()[1:]
        return self.sorting_key() < other.sorting_key()

    def db_record(self):
        return self.db_records_from_uuids(self.env, [self.uuid])

    @property
    def func(self):
        recordset = self.recordset.with_context(job_uuid=self.uuid)
        return getattr(recordset, self.method_name)

    @property
    def job_function_name(self):
        func_model = self.env["queue.job.function"].sudo()
        return func_model.job_function_name(self.recordset._name, self.method_name)

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

    @property
    def depends_on(self):
        if not self._depends_on and self.__depends_on_uuids:
            self._depends_on = type(self).load_many(self.env, self.__depends_on_uuids)
        return self._depends_on

    @property
    def reverse_depends_on(self):
        if self._reverse_depends_on:
            return set(self._reverse_depends_on)
        if not self._loaded_reverse_depends_on and self.__reverse_depends_on_uuids:
            # kept with strong references: nothing else holds loaded children
            self._loaded_reverse_depends_on = type(self).load_many(
                self.env, self.__reverse_depends_on_uuids
            )
        return set(self._loaded_reverse_depends_on)

    @property
    def description(self):
        if self._description:
            return self._description
        # the method as func has it, without the job's context (cheaper)
        method = getattr(self.recordset, self.method_name)
        docstring = method.__doc__
        if docstring:
            # first non-blank line: docstrings may start with a line break
            for line in docstring.splitlines():
                if line.strip():
                    return line.strip()
        return f"{self.model_name}.{method.__name__}"

    @property
    def uuid(self):
        """Job ID, this is an UUID"""
        if self._uuid is None:
            self._uuid = str(uuid.uuid4())
        return self._uuid

    @property
    def model_name(self):
        return self.recordset._name

    @property
    def user_id(self):
        return self.recordset.env.uid

    @property
    def eta(self):
        return self._eta

    @eta.setter
    def eta(self, value):
        if not value:
            self._eta = None
        elif isinstance(value, timedelta):
            self._eta = datetime.now() + value
        elif isinstance(value, int):
            self._eta = datetime.now() + timedelta(seconds=value)
        else:
            self._eta = value

    @property
    def channel(self):
        return self._channel or self.job_config.channel

    @channel.setter
    def channel(self, value):
        self._channel = value

    @property
    def exec_time(self):
        if self.date_done and self.date_started:
            return (self.date_done - self.date_started).total_seconds()
        return None

    def set_pending(self, result=None, reset_retry=True):
        """Back to pending (or waiting for its parents).

        The exception name and message of a previous failure are cleared, its
        traceback (``exc_info``) and the ``eta`` are kept.

        A single job with an identity key that another job waiting to run
        already has (delayed while this one ran or had failed) is its
        duplicate: like a duplicate at delay time, it is not queued twice,
        it is cancelled, with a result naming the waiting job.
        """
        duplicate = self._waiting_duplicate()
        if duplicate:
            self.set_cancelled(
                result="Not queued again: job %s with the same identity key is"
                " already waiting" % duplicate.uuid
            )
            return
        if any(j.state != DONE for j in self.depends_on):
            self.state = WAIT_DEPENDENCIES
        else:
            self.state = PENDING
        self.date_enqueued = None
        self.date_started = None
        self.date_done = None
        self.worker_pid = None
        self.date_cancelled = None
        self.exc_name = None
        self.exc_message = None
        if reset_retry:
            self.retry = 0
        if result is not None:
            self.result = result

    def set_enqueued(self):
        self.state = ENQUEUED
        self.date_enqueued = datetime.now()
        self.date_started = None
        self.worker_pid = None

    def set_started(self):
        self.state = STARTED
        self.date_started = datetime.now()
        self.worker_pid = os.getpid()

    def set_done(self, result=None):
        self.state = DONE
        self.exc_name = None
        self.exc_message = None
        self.exc_info = None
        self.date_done = datetime.now()
        if result is not None:
            self.result = result

    def set_cancelled(self, result=None):
        self.state = CANCELLED
        self.date_cancelled = datetime.now()
        if result is not None:
            self.result = result

    def set_failed(self, **kw):
        self.state = FAILED
        for k, v in kw.items():
            if v is not None:
                setattr(self, k, v)

    def __repr__(self):
        return "<Job %s, priority:%d>" % (self.uuid, self.priority)

    def _get_retry_seconds(self, seconds=None):
        retry_pattern = self.job_config.retry_pattern
        if not seconds and retry_pattern:
            # ordered from lower to higher count of retries
            patt = sorted(retry_pattern.items(), key=lambda t: t[0])
            seconds = RETRY_INTERVAL
            for retry_count, postpone_seconds in patt:
                if self.retry >= retry_count:
                    seconds = postpone_seconds
                else:
                    break
        elif not seconds:
            seconds = RETRY_INTERVAL
        if isinstance(seconds, (list, tuple)):
            seconds = randint(seconds[0], seconds[1])
        return seconds

    def postpone(self, result=None, seconds=None):
        """Delay the next try: ``eta`` = now + the retry delay.

        The state is not changed (see ``set_pending``).
        """
        eta_seconds = self._get_retry_seconds(seconds)
        self.eta = timedelta(seconds=eta_seconds)
        self.exc_name = None
        self.exc_info = None
        if result is not None:
            self.result = result

    def related_action(self):
        record = self.db_record()
        if not self.job_config.related_action_enable:
            return None

        funcname = self.job_config.related_action_func_name
        if not funcname:
            funcname = record._default_related_action
        if not isinstance(funcname, str):
            raise ValueError(
                "related_action must be the name of the method on queue.job as string"
            )
        action = getattr(record, funcname)
        action_kwargs = self.job_config.related_action_kwargs
        return action(**action_kwargs)


_JOB_LOAD = Job.__dict__["load"].__func__
