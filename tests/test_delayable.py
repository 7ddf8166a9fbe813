"""Delayables and graphs of jobs."""
import gc
import os
from unittest import mock

from job_cases import JobLoggingCase, QueueJobCase
from odoo.addons.queue_job.delay import (
    Delayable,
    DelayableChain,
    DelayableGraph,
    DelayableGroup,
    Graph,
    chain,
    group,
)
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import PENDING, WAIT_DEPENDENCIES, Job


class TestGraph:
    """The plain directed graph (no database)."""

    def _graph(self):
        graph = Graph()
        graph.add_edge("a", "b")
        graph.add_edge("a", "c")
        graph.add_edge("b", "d")
        graph.add_edge("c", "d")
        graph.add_vertex("e")
        return graph

    def test_vertices_edges_roots(self):
        graph = self._graph()
        graph.add_edge("a", "b")  # idempotent
        graph.add_vertex("a")
        assert graph.vertices() == {"a", "b", "c", "d", "e"}
        assert sorted(graph.edges()) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
        assert graph.root_vertices() == {"a", "e"}

    def test_paths(self):
        graph = self._graph()
        assert sorted(graph.paths("a")) == [["a", "b", "d"], ["a", "c", "d"]]
        assert list(graph.paths("e")) == [["e"]]
        # cycles do not loop forever
        graph.add_edge("d", "a")
        assert sorted(graph.paths("b")) == [["b", "d", "a", "c"]]

    def test_topological_sort(self):
        graph = self._graph()
        order = list(graph.topological_sort())
        assert sorted(order) == ["a", "b", "c", "d", "e"]
        for parent, child in graph.edges():
            assert order.index(parent) < order.index(child)

    def test_repr(self):
        graph = Graph()
        graph.add_edge("a", "b")
        graph.add_edge("b", "c")
        assert repr(graph) == "'a' → 'b' → 'c'"

    def test_graph_given_dict(self):
        graph = Graph({"x": {"y"}, "y": set()})
        assert graph.edges() == [("x", "y")]


def _edges(delayable):
    """Edges between the delayables reachable from ``delayable``."""
    return set(delayable._graph._connect_graphs().edges())


class TestGraphShapes(QueueJobCase):
    """Which dependencies chain(), group() and on_done() produce."""

    def _nodes(self, count):
        return [self.test_model.delayable().testing_method(i) for i in range(count)]

    def tearDown(self):
        # the delayables of these tests are never delayed on purpose
        with mock.patch("odoo.addons.queue_job.delay._logger"):
            gc.collect()
        super().tearDown()

    def test_on_done(self):
        node, node2 = self._nodes(2)
        node.on_done(node2)
        self.assertEqual(_edges(node), {(node, node2)})

    def test_chain(self):
        n1, n2, n3 = self._nodes(3)
        self.assertEqual(_edges(chain(n1, n2, n3)), {(n1, n2), (n2, n3)})
        self.assertIsInstance(chain(n1), DelayableChain)
        with self.assertRaises(StopIteration):
            chain()

    def test_group(self):
        n1, n2, n3, n4 = self._nodes(4)
        grp = group(n1, n2).on_done(n3)
        self.assertIsInstance(grp, DelayableGroup)
        self.assertEqual(_edges(grp), {(n1, n3), (n2, n3)})
        n1, n2, n3, n4 = self._nodes(4)
        grp = group(n1, n2).on_done(group(n3, n4))
        self.assertEqual(_edges(grp), {(n1, n3), (n2, n3), (n1, n4), (n2, n4)})

    def test_group_of_chains(self):
        a, b, c, d, e, f, g, h = self._nodes(8)
        grp = group(chain(a, b), chain(c, d)).on_done(chain(e, f), chain(g, h))
        self.assertEqual(
            _edges(grp),
            {(a, b), (c, d), (b, e), (d, e), (b, g), (d, g), (e, f), (g, h)},
        )
        roots = grp._graph._connect_graphs().root_vertices()
        self.assertEqual(roots, {a, c})

    def test_diamond(self):
        n1, n2, n3, n4 = self._nodes(4)
        diamond = chain(n1, group(n2, n3), n4)
        self.assertEqual(_edges(diamond), {(n1, n2), (n1, n3), (n2, n4), (n3, n4)})

    def test_chain_on_done(self):
        n1, n2, n3 = self._nodes(3)
        chn = chain(n1, n2).on_done(n3)
        self.assertEqual(_edges(chn), {(n1, n2), (n2, n3)})

    def test_nested_chain_first(self):
        # OCA connects x to b here (so a does not wait for x)
        x, a, b, c = self._nodes(4)
        x.on_done(chain(chain(a, b), c))
        self.assertEqual(_edges(x), {(x, a), (a, b), (b, c)})

    def test_nested_chain_last(self):
        a, b, c, y = self._nodes(4)
        chn = chain(a, chain(b, c)).on_done(y)
        self.assertEqual(_edges(chn), {(a, b), (b, c), (c, y)})

    def test_only_downstream_is_collected(self):
        parent, node, child = self._nodes(3)
        parent.on_done(node)
        node.on_done(child)
        self.assertEqual(_edges(node), {(node, child)})

    def test_set(self):
        delayable = self.test_model.delayable().testing_method()
        self.assertIs(delayable.set(priority=15), delayable)
        self.assertEqual(delayable.priority, 15)
        delayable.set({"priority": 20, "description": "test"})
        self.assertEqual(delayable.priority, 20)
        self.assertEqual(delayable.description, "test")
        delayable.set({"channel": "root.a"}, eta=30)
        self.assertEqual(delayable.channel, "root.a")
        self.assertEqual(delayable.eta, 30)
        with self.assertRaisesRegex(ValueError, "No property foo"):
            delayable.set(foo=15)

    def test_builder(self):
        delayable = self.test_model.delayable(priority=3)
        self.assertIs(delayable.testing_method(1, a=2), delayable)
        self.assertEqual(delayable._job_args, (1,))
        self.assertEqual(delayable._job_kwargs, {"a": 2})
        self.assertEqual(
            repr(delayable),
            "Delayable(test.queue.job().testing_method((1,), {'a': 2}))",
        )
        # calling another method replaces the call
        delayable.no_description()
        self.assertEqual(delayable._job_method.__name__, "no_description")
        self.assertEqual(delayable._job_args, ())
        self.assertEqual(delayable._head(), [delayable])
        self.assertEqual(delayable._tail(), [delayable])

    def test_ensure_same_graph_uuid(self):
        with self.assertRaisesRegex(ValueError, "Expecting jobs"):
            DelayableGraph._ensure_same_graph_uuid([])
        job_a = Job(self.test_model.testing_method)
        DelayableGraph._ensure_same_graph_uuid([job_a])
        self.assertIsNone(job_a.graph_uuid)
        job_a.graph_uuid = "xxx"
        with self.assertRaises(ValueError):
            DelayableGraph._ensure_same_graph_uuid([job_a])
        job_b = Job(self.test_model.testing_method)
        DelayableGraph._ensure_same_graph_uuid([job_a, job_b])
        self.assertEqual(job_b.graph_uuid, "xxx")
        job_c = Job(self.test_model.testing_method)
        job_c.graph_uuid = "yyy"
        with self.assertRaisesRegex(ValueError, "several graphs"):
            DelayableGraph._ensure_same_graph_uuid([job_a, job_c])
        job_d, job_e = Job(self.test_model.testing_method), Job(
            self.test_model.no_description
        )
        DelayableGraph._ensure_same_graph_uuid([job_d, job_e])
        self.assertTrue(job_d.graph_uuid)
        self.assertEqual(job_d.graph_uuid, job_e.graph_uuid)


class TestGraphDelay(QueueJobCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.method = cls.test_model.testing_method

    def _node(self, *args, **kwargs):
        return self.test_model.delayable().testing_method(*args, **kwargs)

    def test_on_done_delay(self):
        node = self._node(1)
        node2 = self._node(2)
        node.on_done(node2).delay()
        self.assertEqual(self.counter.count_created(), 2)
        job1, job2 = node._generated_job, node2._generated_job
        self.assertEqual(job2.depends_on, {job1})
        self.assertEqual(job1.reverse_depends_on, {job2})
        self.assertEqual(job1.state, PENDING)
        self.assertEqual(job2.state, WAIT_DEPENDENCIES)
        record1, record2 = job1.db_record(), job2.db_record()
        self.assertEqual(record1.state, PENDING)
        self.assertEqual(record2.state, WAIT_DEPENDENCIES)
        self.assertEqual(
            record1.dependencies,
            {"depends_on": [], "reverse_depends_on": [job2.uuid]},
        )
        self.assertEqual(
            record2.dependencies,
            {"depends_on": [job1.uuid], "reverse_depends_on": []},
        )
        loaded = Job.load(self.env, job2.uuid)
        self.assertEqual(loaded.depends_on, {job1})

    def test_graph_uuid(self):
        n1, n2, n3 = self._node(1), self._node(2), self._node(3)
        chain(n1, group(n2, n3)).delay()
        jobs = [n._generated_job for n in (n1, n2, n3)]
        graph_uuid = jobs[0].graph_uuid
        self.assertTrue(graph_uuid)
        for job_ in jobs:
            self.assertEqual(job_.graph_uuid, graph_uuid)
            self.assertEqual(job_.db_record().graph_uuid, graph_uuid)
        single = self.test_model.with_delay().testing_method()
        self.assertIsNone(single.graph_uuid)
        self.assertFalse(single.db_record().graph_uuid)
        self.assertEqual(single.db_record().dependency_graph, {})

    def test_chain_delay(self):
        n1, n2, n3 = self._node(1), self._node(2), self._node(3)
        chain(n1, n2, n3).delay()
        j1, j2, j3 = (n._generated_job for n in (n1, n2, n3))
        self.assertEqual(j2.depends_on, {j1})
        self.assertEqual(j3.depends_on, {j2})
        self.assertEqual(
            [j.db_record().state for j in (j1, j2, j3)],
            [PENDING, WAIT_DEPENDENCIES, WAIT_DEPENDENCIES],
        )

    def test_group_of_chains_delay(self):
        a, b, c, d, e, f, g, h = (self._node(i) for i in range(8))
        group(chain(a, b), chain(c, d)).on_done(chain(e, f), chain(g, h)).delay()
        self.assertEqual(self.counter.count_created(), 8)
        job = {n: n._generated_job for n in (a, b, c, d, e, f, g, h)}
        self.assertEqual(job[e].depends_on, {job[b], job[d]})
        self.assertEqual(job[g].depends_on, {job[b], job[d]})
        self.assertEqual(job[f].depends_on, {job[e]})
        self.assertEqual(job[h].depends_on, {job[g]})
        self.assertEqual(job[a].depends_on, set())
        self.assertEqual(job[c].depends_on, set())
        self.assertEqual(job[a].state, PENDING)
        self.assertEqual(job[c].state, PENDING)

    def test_diamond_delay(self):
        n1, n2, n3, n4 = (self._node(i) for i in range(4))
        chain(n1, group(n2, n3), n4).delay()
        j1, j2, j3, j4 = (n._generated_job for n in (n1, n2, n3, n4))
        self.assertEqual(j2.depends_on, {j1})
        self.assertEqual(j3.depends_on, {j1})
        self.assertEqual(j4.depends_on, {j2, j3})

    def test_reuse_delayed_job(self):
        node = self._node(1)
        node2 = self._node(2)
        node2.delay()
        job2 = node2._generated_job
        self.assertIsNone(job2.graph_uuid)
        node.on_done(node2).delay()
        self.assertIs(node2._generated_job, job2)
        self.assertEqual(self.counter.count_created(), 2)
        self.assertEqual(job2.depends_on, {node._generated_job})
        record2 = job2.db_record()
        self.assertEqual(record2.state, WAIT_DEPENDENCIES)
        self.assertEqual(record2.dependencies["depends_on"], [node._generated_job.uuid])
        self.assertTrue(record2.graph_uuid)
        self.assertEqual(record2.graph_uuid, node._generated_job.db_record().graph_uuid)

    def test_enqueue_waiting(self):
        root, child = self._node(1), self._node(2)
        root.on_done(child)
        root.delay()
        root_job, child_job = root._generated_job, child._generated_job
        root_job.perform()
        root_job.set_done()
        root_job.store()
        self.env["queue.job"].flush()
        root_job.enqueue_waiting()
        self.assertEqual(child_job.db_record().state, PENDING)
        # a child waits for all of its parents
        first, second, last = self._node(4), self._node(5), self._node(6)
        group(first, second).on_done(last).delay()
        first_job = first._generated_job
        first_job.set_done()
        first_job.store()
        self.env["queue.job"].flush()
        first_job.enqueue_waiting()
        self.assertEqual(last._generated_job.db_record().state, WAIT_DEPENDENCIES)
        second_job = second._generated_job
        second_job.set_done()
        second_job.store()
        self.env["queue.job"].flush()
        second_job.enqueue_waiting()
        self.assertEqual(last._generated_job.db_record().state, PENDING)

    def test_requeue_failed_parent(self):
        parent, child = self._node(1), self._node(2)
        parent.on_done(child).delay()
        parent_job = parent._generated_job
        parent_job.set_failed(exc_info="trace", exc_name="X", exc_message="boom")
        parent_job.store()
        records = parent_job.db_record() | child._generated_job.db_record()
        records.requeue()
        self.assertEqual(parent_job.db_record().state, PENDING)
        self.assertEqual(child._generated_job.db_record().state, WAIT_DEPENDENCIES)

    def test_dependency_graph(self):
        n1, n2, n3, n4 = (self.test_model.delayable().testing_method() for __ in "1234")
        chain(n1, group(n2, n3), n4).delay()
        other = self.test_model.delayable().testing_method()
        other.on_done(self.test_model.delayable().testing_method()).delay()
        records = {n: n._generated_job.db_record() for n in (n1, n2, n3, n4)}
        ids = {n: r.id for n, r in records.items()}
        expected_nodes = [
            {
                "id": record.id,
                "title": "<strong>Method used for tests</strong><br/>"
                "test.queue.job().testing_method()",
                "color": "#D2E5FF",
                "border": "#2B7CE9",
                "shadow": True,
            }
            for record in records.values()
        ]
        expected_edges = sorted(
            [
                [ids[n1], ids[n2]],
                [ids[n1], ids[n3]],
                [ids[n2], ids[n4]],
                [ids[n3], ids[n4]],
            ]
        )
        for record in records.values():
            graph = record.dependency_graph
            self.assertEqual(
                sorted(graph["nodes"], key=lambda node: node["id"]),
                sorted(expected_nodes, key=lambda node: node["id"]),
            )
            self.assertEqual(
                sorted(list(edge) for edge in graph["edges"]), expected_edges
            )

    def test_identity_key_in_graph_all_duplicates(self):
        self.test_model.with_delay(identity_key="graph-key").testing_method(0)
        existing = self.counter.search_created()
        node = self.test_model.delayable(identity_key="graph-key").testing_method(1)
        node2 = self._node(2)
        node.on_done(node2).delay()
        # everything having an identity key is already waiting: nothing stored
        self.assertEqual(self.counter.count_created(), 1)
        self.assertEqual(node._generated_job, existing)

    def test_identity_key_in_graph_one_new(self):
        self.test_model.with_delay(identity_key="graph-key").testing_method(0)
        node = self.test_model.delayable(identity_key="graph-key").testing_method(1)
        node2 = self.test_model.delayable(identity_key="new-key").testing_method(2)
        node.on_done(node2).delay()
        self.assertEqual(self.counter.count_created(), 3)

    def test_cycle(self):
        node, node2 = self._node(1), self._node(2)
        node.on_done(node2)
        node2.on_done(node)
        with self.assertRaisesRegex(ValueError, "cycle"):
            node.delay()
        self.assertEqual(self.counter.count_created(), 0)
        with mock.patch("odoo.addons.queue_job.delay._logger"):
            del node, node2
            gc.collect()

    def test_never_delayed_warning(self):
        delayable = Delayable(self.test_model).testing_method(1)
        with self.assertLogs("odoo.addons.queue_job.delay", level="WARNING") as logs:
            del delayable
            gc.collect()
        self.assertIn(
            "Delayable Delayable(test.queue.job().testing_method((1,), {}))"
            " was prepared but never delayed",
            logs.output[0],
        )

    def test_no_warning_when_delayed(self):
        delayable = self._node(1)
        delayable.delay()
        with mock.patch("odoo.addons.queue_job.delay._logger") as logger:
            del delayable
            gc.collect()
        logger.warning.assert_not_called()


class TestDirectExecution(JobLoggingCase):
    """Jobs executed at once instead of stored."""

    def _delay_graph(self, model):
        node = model.delayable().create_ir_logging("node")
        node2 = model.delayable().create_ir_logging("node2")
        node2.on_done(node).delay()
        return node, node2

    def _check_env_var(self, name):
        with mock.patch.dict(os.environ, {name: "1"}):
            with self.assertLogs(
                "odoo.addons.queue_job.delay", level="WARNING"
            ) as logs:
                node, node2 = self._delay_graph(self.test_model)
                job_ = self.test_model.with_delay().create_ir_logging("single")
        self.assertIn("`%s` env var found. NO JOB scheduled." % name, logs.output[0])
        self.assertEqual(self._messages(), ["node2", "node", "single"])
        self.assertEqual(self.counter.count_created(), 0)
        self.assertIsInstance(job_, Job)
        self.assertEqual(job_.retry, 1)
        self.assertEqual(job_.result.message, "single")
        self.assertEqual(node._generated_job.result.message, "node")

    def test_env_var(self):
        self._check_env_var("TEST_QUEUE_JOB_NO_DELAY")

    def test_env_var_new_name(self):
        self._check_env_var("QUEUE_JOB__NO_DELAY")

    def test_env_var_any_value(self):
        with mock.patch.dict(os.environ, {"TEST_QUEUE_JOB_NO_DELAY": "0"}):
            with self.assertLogs("odoo.addons.queue_job.delay", level="WARNING"):
                self.test_model.with_delay().create_ir_logging("zero")
        self.assertEqual(self.counter.count_created(), 0)

    def test_env_var_empty(self):
        with mock.patch.dict(
            os.environ, {"TEST_QUEUE_JOB_NO_DELAY": "", "QUEUE_JOB__NO_DELAY": ""}
        ):
            self.test_model.with_delay().create_ir_logging("stored")
        self.assertEqual(self.counter.count_created(), 1)
        self.assertEqual(self._messages(), [])

    def _check_context_key(self, key):
        node = self.test_model.delayable().create_ir_logging("node")
        node2 = (
            self.test_model.with_context(**{key: True})
            .delayable()
            .create_ir_logging("node2")
        )
        node3 = self.test_model.delayable().create_ir_logging("node3")
        with self.assertLogs("odoo.addons.queue_job.delay", level="WARNING") as logs:
            chain(node, node2, node3).delay()
        self.assertIn("`%s` ctx key found. NO JOB scheduled." % key, logs.output[0])
        self.assertEqual(self._messages(), ["node", "node2", "node3"])
        self.assertEqual(self.counter.count_created(), 0)

    def test_context_key(self):
        self._check_context_key("test_queue_job_no_delay")

    def test_context_key_new_name(self):
        self._check_context_key("queue_job__no_delay")

    def test_exception_stops_the_graph(self):
        node = self.test_model.delayable().create_ir_logging("node")
        failing = self.test_model.delayable().testing_method(raise_retry=True)
        after = self.test_model.delayable().create_ir_logging("after")
        # not assertRaises: Odoo's rolls back what the jobs did before failing
        raised = None
        with mock.patch.dict(os.environ, {"TEST_QUEUE_JOB_NO_DELAY": "1"}):
            with self.assertLogs("odoo.addons.queue_job.delay", level="WARNING"):
                try:
                    chain(node, failing, after).delay()
                except RetryableJobError as err:
                    raised = err
        self.assertIsNotNone(raised)
        self.assertEqual(self._messages(), ["node"])
        self.assertEqual(self.counter.count_created(), 0)
