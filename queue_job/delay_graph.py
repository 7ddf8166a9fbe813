# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Graphs of delayed jobs: ``chain``, ``group`` and ``on_done()``.

The vertices are ``queue_job.delay.Delayable`` objects (a chain or a group
stands for its heads and tails); ``DelayableGraph.delay()`` builds the jobs
of a whole graph, links their dependencies and stores them at once. The
public names are imported from ``queue_job.delay``.
"""
import itertools
import logging
import os
import uuid
from collections import deque

# The logger of queue_job.delay, where these warnings always came from (log
# handlers configured for it keep seeing them).
_logger = logging.getLogger(__name__.rpartition(".")[0] + ".delay")

# Environment variables and context keys executing jobs synchronously instead
# of storing them (development and tests only): the historical name first.
NO_DELAY_ENV_VARS = ("TEST_QUEUE_JOB_NO_DELAY", "QUEUE_JOB__NO_DELAY")
NO_DELAY_CONTEXT_KEYS = ("test_queue_job_no_delay", "queue_job__no_delay")


def _job_class():
    """The ``Job`` class of ``queue_job.delay``, looked up at each call: the
    test helper ``trap_jobs()`` replaces it there (imported late: that
    module imports this one)."""
    from . import delay

    return delay.Job


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
        _job_class().store_many([vertex._generated_job for vertex in ordered])

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
