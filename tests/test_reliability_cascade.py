"""Cascade cancel on a graph delayed with the public API (chains and groups):
no job is left waiting forever on a cancelled one, and jobs that do not
depend on it are not touched."""
from odoo.addons.queue_job.delay import chain, group
from odoo.addons.queue_job.job import CANCELLED, DONE, PENDING, WAIT_DEPENDENCIES
from odoo.tests.common import TransactionCase

CASCADE_RESULT = "Cancelled because a job it depends on was cancelled"


class TestCascadeCancelGraph(TransactionCase):
    def setUp(self):
        super().setUp()
        model = self.env["test.queue.job"]
        self.nodes = {
            name: model.delayable(description=name).testing_method(name)
            for name in ("root", "a1", "a2", "b1", "b2", "join", "last")
        }
        n = self.nodes
        # root -> group(chain(a1, a2), chain(b1, b2)) -> join -> last
        chain(
            n["root"],
            group(chain(n["a1"], n["a2"]), chain(n["b1"], n["b2"])),
            n["join"],
            n["last"],
        ).delay()

    def record(self, name):
        return self.nodes[name]._generated_job.db_record()

    def states(self):
        return {name: self.record(name).state for name in self.nodes}

    def test_graph_is_stored_waiting(self):
        states = self.states()
        self.assertEqual(states.pop("root"), PENDING)
        self.assertEqual(set(states.values()), {WAIT_DEPENDENCIES})
        graph_uuids = {self.record(name).graph_uuid for name in self.nodes}
        self.assertEqual(len(graph_uuids), 1)

    def test_cancel_a_branch(self):
        self.record("root").button_done()
        self.record("a1").button_done()
        self.assertEqual(self.states()["a2"], PENDING)
        self.record("b1").button_cancelled()
        self.assertEqual(
            self.states(),
            {
                "root": DONE,
                "a1": DONE,
                "a2": PENDING,  # does not depend on b1
                "b1": CANCELLED,
                "b2": CANCELLED,
                "join": CANCELLED,  # waits on b2 as well
                "last": CANCELLED,
            },
        )
        for name in ("b2", "join", "last"):
            self.assertEqual(self.record(name).result, CASCADE_RESULT)
        self.assertEqual(
            self.record("b1").result, "Cancelled by %s" % self.env.user.name
        )

    def test_cancel_the_root_with_the_wizard(self):
        root = self.record("root")
        wizard = (
            self.env["queue.jobs.to.cancelled"]
            .with_context(active_model="queue.job", active_ids=root.ids)
            .create({})
        )
        wizard.set_cancelled()
        self.assertEqual(set(self.states().values()), {CANCELLED})
        # nothing of the graph is left to run, or waiting
        self.assertFalse(
            self.env["queue.job"].search_count(
                [
                    ("graph_uuid", "=", root.graph_uuid),
                    ("state", "in", (WAIT_DEPENDENCIES, PENDING)),
                ]
            )
        )
