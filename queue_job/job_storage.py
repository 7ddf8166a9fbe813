# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Loading and storing a job: the ``queue.job`` row of a ``Job``.

``Job`` inherits these methods (``Job.load()``, ``job.store()``, ...): they
are its public API, and addons' ``Job`` subclasses override them. Storing
is where the fast paths of queue_job are taken (``queue_job.fast_paths``):
the row written in one SQL statement when that is what the ORM would do,
the job loaded from the row its claim read. Nothing else of the worker side
touches them.
"""
import inspect
import logging

import odoo
from odoo import _

from . import fast_paths, job_api_lease
from .exception import JobError, NoSuchJobError
from .fast_paths import chained_commit, claimed_load, sql_store
from .fields import JobEncoder, serialization_error

_logger = logging.getLogger(__name__)

# Encoders keep no state between calls: one serves every job.
_ENCODER = JobEncoder()


def _is_model_method(func):
    return inspect.ismethod(func) and isinstance(
        func.__self__.__class__, odoo.models.MetaModel
    )


class JobStorage:
    """The loading and storing half of ``Job`` (see ``queue_job.job``)."""

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
        "timeout",
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
        """The ``queue.job`` record of the row that the runjob claim read in
        this transaction (columns ``names``, ``values``), the row in its
        cache (see ``fast_paths.claimed_load``)."""
        return claimed_load.claimed_record(env, names, values)

    @classmethod
    def _load_claimed(cls, env, job_uuid, record):
        """The job of the claimed ``record`` (see ``_claimed_record()``):
        loaded from the row in its cache, or through ``load()`` when an
        addon overrides it or the reading of ``queue.job`` records, or the
        fast paths are off."""
        if (
            fast_paths.enabled()
            and cls._loads_as_defined_here()
            and claimed_load.reads_as_odoo(record)
        ):
            return cls._load_from_db_record(record)
        return cls.load(env, job_uuid)

    def _store_and_commit(self):
        """``store()``, then commit, the COMMIT sent with the job's UPDATE
        when it can be (``fast_paths.chained_commit``)."""
        with chained_commit.commit_with_last_statement(self.env.cr):
            self.store()

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
        job_.timeout = stored.timeout or None
        # a job stored without company keeps having none
        job_.company_id = stored.company_id.id or None
        job_.worker_pid = stored.worker_pid
        job_._add_dependencies(stored.dependencies or {})
        job_._db_record_id = stored.id
        stored_values = job_._store_values_of_job()
        # not derived from the dates in the row: whatever the row holds
        stored_values["exec_time"] = stored.exec_time or False
        job_._remember_stored_values(stored_values, stored.env.cr)
        return job_

    @staticmethod
    def db_record_from_uuid(env, job_uuid):
        _logger.debug("deprecated, use 'db_records_from_uuids' or 'Job.db_record()'")
        return JobStorage.db_records_from_uuids(env, [job_uuid])

    @staticmethod
    def db_records_from_uuids(env, job_uuids):
        model = env["queue.job"].sudo()
        records = model.search([("uuid", "in", tuple(job_uuids))])
        return records.with_env(env).sudo()

    def db_record(self):
        return self.db_records_from_uuids(self.env, [self.uuid])

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
            "timeout": self.timeout or False,
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

        vals["dependencies"] = self._dependencies()
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
                    raise serialization_error(
                        self.job_function_name, key, value, err
                    ) from err
            self._payload = payload
        return self._payload


_JOB_LOAD = JobStorage.__dict__["load"].__func__
