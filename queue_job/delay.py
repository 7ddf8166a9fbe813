# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Delaying jobs: ``with_delay()``, ``delayable()`` and graphs of jobs.

A :class:`Delayable` prepares one job; :func:`chain` and :func:`group` (and
``on_done()``) combine them into a graph whose edges are dependencies;
``delay()`` builds the jobs of everything reachable from the object it is
called on, links their dependencies and stores them.
"""
import logging

from .delay_graph import (  # noqa: F401 (public names of this module)
    NO_DELAY_CONTEXT_KEYS,
    NO_DELAY_ENV_VARS,
    DelayableChain,
    DelayableGraph,
    DelayableGroup,
    Graph,
)
from .fast_paths.sql_store import INSERT_BATCH_SIZE
from .job import Job, _is_model_method

_logger = logging.getLogger(__name__)


def delay_many(delayables):
    """Delay many jobs at once, for imports and other mass enqueuing.

    ``delayables``: an iterable of what has a ``delay()`` method: delayables
    (``records.delayable().method(...)``), chains and groups. The result is
    the same as calling ``delay()`` on each of them in turn (same jobs, same
    graphs, same ``_generated_job``), but the new jobs are inserted in bulk,
    with one INSERT statement per batch of up to 1000 jobs instead of one
    ORM ``create()`` per job (see ``Job.store_many``). A job is not in the
    database before its batch is inserted: by the time this function returns,
    all are. The jobs of an item having an identity key are stored by its
    ``delay()``, after the jobs of the items before it, as their duplicate
    check must see those.
    """
    # an ordered set: a job reached again (a delayable given twice, or part
    # of two graphs) is stored once, with its final values
    pending = {}
    for delayable in delayables:
        graph = delayable._graph._connect_graphs()
        if any(vertex.identity_key for vertex in graph.vertices()):
            Job.store_many(list(pending))
            pending.clear()
            delayable.delay()
            continue
        for vertex in delayable._graph._prepare_jobs(graph):
            pending[vertex._generated_job] = None
        if len(pending) >= INSERT_BATCH_SIZE:
            Job.store_many(list(pending))
            pending.clear()
    Job.store_many(list(pending))


def group(*delayables):
    """Delayables that may run in parallel; dependents wait for all of them."""
    return DelayableGroup(*delayables)


def chain(*delayables):
    """Delayables that run one after the other; dependents wait for the last."""
    return DelayableChain(*delayables)


class Delayable:
    """One future job: a method of ``recordset``, its arguments and options.

    Calling a method of the recordset on it records the call (builder
    style, returns ``self``); ``set()`` changes options; ``on_done()``
    makes other delayables wait for this one; ``delay()`` stores the jobs of
    the whole graph reachable from here.
    """

    _properties = (
        "priority",
        "eta",
        "max_retries",
        "description",
        "channel",
        "identity_key",
        "timeout",
    )
    __slots__ = _properties + (
        "recordset",
        "_graph",
        "_job_method",
        "_job_args",
        "_job_kwargs",
        "_generated_job",
    )

    def __init__(
        self,
        recordset,
        priority=None,
        eta=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
        timeout=None,
    ):
        self._graph = DelayableGraph()
        self._graph.add_vertex(self)

        self.recordset = recordset

        self.priority = priority
        self.eta = eta
        self.max_retries = max_retries
        self.description = description
        self.channel = channel
        self.identity_key = identity_key
        self.timeout = timeout

        self._job_method = None
        self._job_args = ()
        self._job_kwargs = {}

        self._generated_job = None

    def _head(self):
        return [self]

    def _tail(self):
        return [self]

    def __repr__(self):
        return "Delayable({}.{}({}, {}))".format(
            self.recordset,
            self._job_method.__name__ if self._job_method else "",
            self._job_args,
            self._job_kwargs,
        )

    def __del__(self):
        try:
            generated_job = self._generated_job
        except AttributeError:  # __init__ did not complete
            return
        if not generated_job:
            _logger.warning("Delayable %s was prepared but never delayed", self)

    def _set_from_dict(self, properties):
        for key, value in properties.items():
            if key not in self._properties:
                raise ValueError("No property %s" % (key,))
            setattr(self, key, value)

    def set(self, *args, **kwargs):
        if args:
            self._set_from_dict(*args)
        self._set_from_dict(kwargs)
        return self

    def on_done(self, *delayables):
        for child in delayables:
            self._graph.add_edge(self, child)
        return self

    def delay(self):
        self._graph.delay()

    def _build_job(self):
        if self._generated_job:
            return self._generated_job
        if self._job_method is None:
            raise ValueError(
                "%r has no method to delay: call one of the methods of %s on it"
                " before delay()" % (self, self.recordset._name)
            )
        # given only when set: what trap_jobs() records (as the original
        # does) stays the same for jobs without timeout
        options = {} if self.timeout is None else {"timeout": self.timeout}
        self._generated_job = Job(
            self._job_method,
            args=self._job_args,
            kwargs=self._job_kwargs,
            priority=self.priority,
            max_retries=self.max_retries,
            eta=self.eta,
            description=self.description,
            channel=self.channel,
            identity_key=self.identity_key,
            **options,
        )
        return self._generated_job

    def _store_args(self, *args, **kwargs):
        self._job_args = args
        self._job_kwargs = kwargs
        return self

    def __getattr__(self, name):
        if name in self.__slots__:
            # a slot not assigned yet (only during __init__ or __del__)
            raise AttributeError(name)
        recordset = self.recordset
        if name in recordset._fields:
            raise AttributeError(
                "only methods can be delayed (%s called on %s)" % (name, recordset)
            )
        try:
            recordset_method = getattr(recordset, name)
        except AttributeError:
            raise AttributeError(
                "Cannot delay %s.%s: the model has no such method"
                % (recordset._name, name)
            ) from None
        if not _is_model_method(recordset_method):
            raise AttributeError(
                "only methods can be delayed (%s is a %s on %s)"
                % (name, type(recordset_method).__name__, recordset._name)
            )
        self._job_method = recordset_method
        return self._store_args

    def _execute_direct(self):
        assert self._generated_job
        return self._generated_job.perform()


class DelayableRecordset:
    """``recordset.with_delay().method(...)``: delay one call at once.

    Any attribute is a method of the recordset; calling it stores the job
    and returns it.
    """

    __slots__ = ("delayable",)

    def __init__(
        self,
        recordset,
        priority=None,
        eta=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
        timeout=None,
    ):
        self.delayable = Delayable(
            recordset,
            priority=priority,
            eta=eta,
            max_retries=max_retries,
            description=description,
            channel=channel,
            identity_key=identity_key,
            timeout=timeout,
        )

    @property
    def recordset(self):
        return self.delayable.recordset

    def __getattr__(self, name):
        if name == "delayable":
            raise AttributeError(name)
        # resolved now: an unknown method fails here, not at call time
        store_args = getattr(self.delayable, name)

        def _delay_delayable(*args, **kwargs):
            store_args(*args, **kwargs).delay()
            return self.delayable._generated_job

        return _delay_delayable

    def __str__(self):
        return "DelayableRecordset(%s%s)" % (
            self.delayable.recordset._name,
            getattr(self.delayable.recordset, "_ids", ""),
        )

    __repr__ = __str__
