# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Delaying jobs: ``with_delay()``, ``delayable()`` and graphs of jobs.

A :class:`Delayable` prepares one job; :func:`chain` and :func:`group` (and
``on_done()``) combine them into a graph whose edges are dependencies;
``delay()`` builds the jobs of everything reachable from the object it is
called on, links their dependencies and stores them.
"""
import itertools
import logging
import os
import uuid
from collections import deque

from .fast_paths.sql_store import INSERT_BATCH_SIZE
from .job import Job, _is_model_method

_logger = logging.getLogger(__name__)

# Environment variables and context keys executing jobs synchronously instead
# of storing them (development and tests only): the historical name first.
NO_DELAY_ENV_VARS = ("TEST_QUEUE_JOB_NO_DELAY", "QUEUE_JOB__NO_DELAY")
NO_DELAY_CONTEXT_KEYS = ("test_queue_job_no_delay", "queue_job__no_delay")


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


class Graph:
    """Directed graph: adjacency dict of vertex -> set of children."""

    __slots__ = "_graph"

    def __init__(self, graph=None):
        if graph:
            self._graph = graph
        else:
            self._graph = {}

    def add_vertex(self, vertex):
        self._graph.setdefault(vertex, set())

    def add_edge(self, parent, child):
        self.add_vertex(child)
        self._graph.setdefault(parent, set()).add(child)

    def vertices(self):
        return set(self._graph)

    def edges(self):
        links = []
        for vertex, neighbours in self._graph.items():
            for neighbour in neighbours:
                links.append((vertex, neighbour))
        return links

    def paths(self, vertex):
        """Generate the maximal cycle-free paths starting at ``vertex``"""
        stack = [[vertex]]
        while stack:
            path = stack.pop()
            extensions = [
                child for child in self._graph.get(path[-1], ()) if child not in path
            ]
            if not extensions:
                yield path
            for child in extensions:
                stack.append(path + [child])

    def topological_sort(self):
        """Kahn's algorithm: every vertex comes after all its parents."""
        in_degree = {vertex: 0 for vertex in self._graph}
        for _parent, child in self.edges():
            in_degree[child] += 1
        queue = deque(self.root_vertices())
        while queue:
            vertex = queue.popleft()
            yield vertex
            for child in self._graph[vertex]:
                in_degree[child] -= 1
                if in_degree[child] == 0:
                    queue.append(child)

    def root_vertices(self):
        dependency_vertices = set()
        for dependencies in self._graph.values():
            dependency_vertices.update(dependencies)
        return set(self._graph.keys()) - dependency_vertices

    def __repr__(self):
        paths = [path for vertex in self.root_vertices() for path in self.paths(vertex)]
        lines = []
        for path in paths:
            lines.append(" → ".join(repr(vertex) for vertex in path))
        return "\n".join(lines)


class DelayableGraph(Graph):
    """Graph of Delayable vertices, able to delay all their jobs at once."""

    def _merge_graph(self, graph):
        """Add the edges of ``graph``, whose vertices may be chains or groups.

        Every tail of a vertex is linked to every head of each of its children,
        so only Delayable vertices end up in this graph.
        """
        for vertex, neighbours in graph._graph.items():
            tails = vertex._tail()
            for delayable in itertools.chain(vertex._head(), tails):
                self.add_vertex(delayable)
            for neighbour in neighbours:
                for head in neighbour._head():
                    for tail in tails:
                        self.add_edge(tail, head)

    def _connect_graphs(self):
        """Merge this graph and every graph reachable from its vertices.

        Parents pointing to this graph are not reachable: not collected.
        """
        graph = DelayableGraph()
        graph._merge_graph(self)

        seen = {self}
        visit_stack = deque([self])
        while visit_stack:
            current = visit_stack.popleft()
            for vertex, neighbours in current._graph.items():
                for delayable in itertools.chain((vertex,), neighbours):
                    vertex_graph = delayable._graph
                    if vertex_graph in seen:
                        continue
                    seen.add(vertex_graph)
                    graph._merge_graph(vertex_graph)
                    visit_stack.append(vertex_graph)
        return graph

    def _has_to_execute_directly(self, vertices):
        """Whether to run the jobs now instead of storing them (development).

        In tests, prefer :func:`odoo.addons.queue_job.tests.common.trap_jobs`.
        """
        for env_var in NO_DELAY_ENV_VARS:
            if os.getenv(env_var):
                _logger.warning("`%s` env var found. NO JOB scheduled.", env_var)
                return True
        for vertex in vertices:
            context = vertex.recordset.env.context
            for key in NO_DELAY_CONTEXT_KEYS:
                if context.get(key):
                    _logger.warning("`%s` ctx key found. NO JOB scheduled.", key)
                    return True
        return False

    @staticmethod
    def _ensure_same_graph_uuid(jobs):
        """Give all jobs of a graph one graph uuid (a single job gets none)."""
        jobs_count = len(jobs)
        if jobs_count == 0:
            raise ValueError("Expecting jobs")
        elif jobs_count == 1:
            if jobs[0].graph_uuid:
                raise ValueError(
                    "Job %s is a single job, it should not"
                    " have a graph uuid" % (jobs[0],)
                )
        else:
            graph_uuids = {job.graph_uuid for job in jobs if job.graph_uuid}
            if len(graph_uuids) > 1:
                raise ValueError("Jobs cannot have dependencies between several graphs")
            elif len(graph_uuids) == 1:
                graph_uuid = graph_uuids.pop()
            else:
                graph_uuid = str(uuid.uuid4())
            for job in jobs:
                job.graph_uuid = graph_uuid

    def delay(self):
        """Build the jobs of the graph, link their dependencies, store them."""
        ordered = self._prepare_jobs(self._connect_graphs())
        if len(ordered) == 1 and ordered[0]._generated_job._has_unique_identity():
            # A duplicate may have been stored since the lookup above.
            existing = ordered[0]._generated_job._store_or_find_duplicate()
            if existing:
                ordered[0]._generated_job = existing
            return
        Job.store_many([vertex._generated_job for vertex in ordered])

    def _prepare_jobs(self, graph):
        """Everything ``delay()`` does with the connected ``graph`` before
        storing: return its vertices whose jobs are to be stored, parents
        first, or nothing when the jobs ran at once (no-delay mode) or are
        all duplicates."""
        vertices = graph.vertices()
        ordered = list(graph.topological_sort())
        if len(ordered) != len(vertices):
            raise ValueError(
                "The jobs cannot be delayed: their dependencies form a cycle"
                " (%s)" % ", ".join(sorted(repr(v) for v in vertices - set(ordered)))
            )

        for vertex in vertices:
            vertex._build_job()

        self._ensure_same_graph_uuid([vertex._generated_job for vertex in vertices])

        if self._has_to_execute_directly(vertices):
            self._execute_graph_direct(graph)
            return []

        for vertex, neighbour in graph.edges():
            neighbour._generated_job.add_depends({vertex._generated_job})

        # If all the jobs having an identity key already exist (waiting to
        # run), nothing is stored: each of them is given the existing record.
        existing_mapping = {}
        for vertex in vertices:
            if not vertex.identity_key:
                continue
            generated_job = vertex._generated_job
            existing = generated_job.job_record_with_same_identity_key()
            if not existing:
                # at least one does not exist yet, we'll delay the whole graph
                existing_mapping.clear()
                break
            existing_mapping[vertex] = existing

        if existing_mapping:
            for vertex, existing in existing_mapping.items():
                vertex._generated_job = existing
            return []

        # encode every job before storing any: a bad argument stores nothing
        for vertex in ordered:
            vertex._generated_job._serialized_payload()
        return ordered

    def _execute_graph_direct(self, graph):
        for delayable in graph.topological_sort():
            delayable._execute_direct()


class DelayableChain:
    """Delayables, chains or groups running one after the other.

    ``on_done()`` makes other delayables wait for the last member.
    """

    __slots__ = ("_graph", "__head", "__tail")

    def __init__(self, *delayables):
        self._graph = DelayableGraph()
        iter_delayables = iter(delayables)
        head = next(iter_delayables)
        self.__head = head
        self._graph.add_vertex(head)
        for neighbour in iter_delayables:
            self._graph.add_edge(head, neighbour)
            head = neighbour
        self.__tail = head

    def _head(self):
        return self.__head._head()

    def _tail(self):
        return self.__tail._tail()

    def __repr__(self):
        inner_graph = "\n\t".join(repr(self._graph).split("\n"))
        return f"DelayableChain(\n\t{inner_graph}\n)"

    def on_done(self, *delayables):
        for delayable in delayables:
            self._graph.add_edge(self.__tail, delayable)
        return self

    def delay(self):
        self._graph.delay()


class DelayableGroup:
    """Delayables, chains or groups that may run concurrently.

    ``on_done()`` makes other delayables wait for every member.
    """

    __slots__ = ("_graph", "_delayables")

    def __init__(self, *delayables):
        self._graph = DelayableGraph()
        self._delayables = set(delayables)
        for delayable in delayables:
            self._graph.add_vertex(delayable)

    def _head(self):
        return [head for node in self._delayables for head in node._head()]

    def _tail(self):
        return [tail for node in self._delayables for tail in node._tail()]

    def __repr__(self):
        inner_graph = "\n\t".join(repr(self._graph).split("\n"))
        return f"DelayableGroup(\n\t{inner_graph}\n)"

    def on_done(self, *delayables):
        for parent in self._delayables:
            for child in delayables:
                self._graph.add_edge(parent, child)
        return self

    def delay(self):
        self._graph.delay()


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
    ):
        self.delayable = Delayable(
            recordset,
            priority=priority,
            eta=eta,
            max_retries=max_retries,
            description=description,
            channel=channel,
            identity_key=identity_key,
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
