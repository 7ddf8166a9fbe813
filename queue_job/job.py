# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The in-memory job: what to run, its state changes and its retry policy.

A ``Job`` is built by ``with_delay()`` (``queue_job.delay``), stored as a
``queue.job`` row and loaded back by the methods it inherits from
``queue_job.job_storage``, and run by a worker (``queue_job.job_run``).
The states and the rules of their changes are ``queue_job.lifecycle``'s.
"""
import functools
import itertools
import logging
import os
import sys
import uuid
import weakref
from datetime import datetime, timedelta

from .exception import FailedJobError, RetryableJobError
from .job_graph import (  # noqa: F401 (public names of this module)
    ENQUEUE_WAITING_SQL,
    JobDependencies,
)
from .job_identity import (  # noqa: F401 (public names of this module)
    IDENTITY_KEY_UNIQUE_INDEX,
    IDENTITY_STORE_ATTEMPTS,
    JobIdentity,
    identity_exact,
    identity_exact_hasher,
)
from .job_storage import JobStorage, _is_model_method  # noqa: F401
from .lifecycle import (  # noqa: F401 (public names of this module)
    CANCELLED,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
    DONE,
    ENQUEUED,
    FAILED,
    PENDING,
    RETRY_INTERVAL,
    STARTED,
    STATES,
    WAIT_DEPENDENCIES,
    WAITING_STATES,
    pending_state,
    retries_exhausted,
    retry_delay,
)

_logger = logging.getLogger(__name__)

# Job.company_id not computed yet
_UNRESOLVED = object()

# Tie-breaker of Job ordering: creation order within the process.
_job_sequence = itertools.count()


def DelayableRecordset(*args, **kwargs):
    """Compatibility alias: the class lives in ``queue_job.delay``."""
    # imported here: delay imports this module
    from .delay import DelayableRecordset as _DelayableRecordset

    _logger.debug(
        "DelayableRecordset moved from the queue_job.job to the queue_job.delay"
        " python module"
    )
    return _DelayableRecordset(*args, **kwargs)


@functools.total_ordering
class Job(JobIdentity, JobDependencies, JobStorage):
    """A job: a method of a recordset to run later, with its arguments.

    It is persisted as a ``queue.job`` record by :meth:`store` and rebuilt
    from it by :meth:`load`. State changes (``set_*`` methods) happen in
    memory only until the next :meth:`store`.

    Main attributes: ``uuid``, ``recordset`` and ``method_name`` (what to
    run, as which user), ``args``/``kwargs``, ``priority`` (lower runs
    earlier), ``eta`` (not before), ``retry``/``max_retries`` (0 = retry
    forever), ``channel``, ``identity_key`` (to not enqueue duplicates),
    ``state`` and its dates, ``result``, ``exc_name``/``exc_message``/
    ``exc_info`` (last failure), ``graph_uuid`` and the dependencies,
    ``timeout`` (seconds it may run, see :attr:`effective_timeout`).
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
    # {column: value} of the job's row as last read or written by this
    # object, see store()
    _stored_values = None
    # the lease of the run in progress (queue_job.lease.JobLease), given by
    # the runjob controller
    _lease = None
    _job_config = None
    _job_model = None
    job_model_name = "queue.job"
    graph_uuid = None
    state = PENDING
    retry = 0
    max_retries = DEFAULT_MAX_RETRIES
    timeout = None
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
        timeout=None,
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
        self.job_config = (
            self.env["queue.job.function"].sudo().job_config(self.job_function_name)
        )
        if max_retries is None:
            self.max_retries = DEFAULT_MAX_RETRIES
        else:
            self.max_retries = max_retries
        self.timeout = timeout or None

        self._uuid = job_uuid
        # A uuid generated by this object cannot be in the database before
        # its first store(): only a uuid given by the caller is looked up.
        self._uuid_given = job_uuid is not None
        self.args = args
        self.kwargs = kwargs
        self.__depends_on_uuids = set()
        self.__reverse_depends_on_uuids = set()
        self._depends_on = set()
        self._reverse_depends_on = weakref.WeakSet()
        self._loaded_reverse_depends_on = set()
        self.priority = DEFAULT_PRIORITY if priority is None else priority
        self.date_created = datetime.now()
        self.seq = next(_job_sequence)
        self._description = description
        self.identity_key = identity_key
        if "company_id" in env.context:
            self._company_id = env.context["company_id"]
        else:
            # resolved on first use: loading a job sets it explicitly and
            # spares the lookup of the user's company
            self._company_id = _UNRESOLVED
        self._company_env = env
        self.eta = eta
        self._channel = channel
        # the state, its dates, the result and the failure start at their
        # class defaults

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
    def effective_timeout(self):
        """Seconds the job may run: its own ``timeout``, else its function's;
        None: no limit."""
        return self.timeout or self.job_config.timeout

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
            elif retries_exhausted(self.retry, self.max_retries):
                type_, value, _traceback = sys.exc_info()
                new_exc = FailedJobError(
                    "Max. retries (%d) reached: %s" % (self.max_retries, value or type_)
                )
                raise new_exc from err
            raise
        return self.result

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

    @property
    def func(self):
        recordset = self.recordset.with_context(job_uuid=self.uuid)
        return getattr(recordset, self.method_name)

    @property
    def job_function_name(self):
        func_model = self.env["queue.job.function"].sudo()
        return func_model.job_function_name(self.recordset._name, self.method_name)

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
        state = pending_state(
            waiting_duplicate=bool(duplicate),
            parents_done=not duplicate
            and all(j.state == DONE for j in self.depends_on),
        )
        if state == CANCELLED:
            self.set_cancelled(
                result="Not queued again: job %s with the same identity key is"
                " already waiting" % duplicate.uuid
            )
            return
        self.state = state
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
        """Seconds until the next try: ``seconds``, else the retry pattern's
        (see ``lifecycle.retry_delay``)."""
        return retry_delay(self.retry, self.job_config.retry_pattern, seconds)

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
