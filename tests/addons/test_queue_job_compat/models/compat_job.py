"""What public addons do with the ``Job`` class itself.

* ``Job._load_from_db_record`` is monkeypatched (the original kept and
  called) to read an extra column of the job's row into the job;
* ``CompatJob`` subclasses ``Job`` with its own ``__init__`` setting the
  documented attributes, without calling ``Job.__init__``.

The patch is process-wide: it is guarded so that databases without the
column keep working.
"""
import weakref
from datetime import datetime

from odoo.addons.queue_job.job import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
    PENDING,
    Job,
)

_original_load_from_db_record = Job._load_from_db_record.__func__


def _compat_load_from_db_record(cls, job_db_record):
    job = _original_load_from_db_record(cls, job_db_record)
    if "additional_info" in job_db_record._fields:
        job.additional_info = job_db_record.additional_info
    return job


_compat_load_from_db_record.compat_patch = True

if not getattr(Job._load_from_db_record, "compat_patch", False):
    Job._load_from_db_record = classmethod(_compat_load_from_db_record)


class CompatJob(Job):
    """A job built by its own ``__init__`` (no call to ``Job.__init__``)."""

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
        args = tuple(args or ())
        kwargs = dict(kwargs or {})
        recordset = func.__self__
        env = recordset.env
        self.method_name = func.__name__
        self.recordset = recordset
        self.env = env
        self.job_model = env["queue.job"]
        self.job_model_name = "queue.job"
        self.job_config = (
            env["queue.job.function"].sudo().job_config(self.job_function_name)
        )
        self.state = PENDING
        self.retry = 0
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self._uuid = job_uuid
        self.graph_uuid = None
        # the private dependency bookkeeping of Job
        self._Job__depends_on_uuids = set()
        self._Job__reverse_depends_on_uuids = set()
        self._depends_on = set()
        self._reverse_depends_on = weakref.WeakSet()
        self.args = args
        self.kwargs = kwargs
        self.priority = DEFAULT_PRIORITY if priority is None else priority
        self.date_created = datetime.now()
        self._description = description
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
            self.company_id = env.context["company_id"]
        else:
            self.company_id = env.company.id
        self.eta = eta
        self.channel = channel
        self.worker_pid = None
        self.built_by = "CompatJob"
