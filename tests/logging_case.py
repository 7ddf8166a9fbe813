"""A test case for jobs of ``test.queue.job`` that log what they do.

``create_ir_logging`` writes a message in ``ir.logging``: the messages a
test's jobs logged say which jobs ran, in which order, and that a trapped
or mocked job did not run.
"""
from odoo.addons.queue_job.tests.common import JobCounter
from odoo.tests.common import TransactionCase


class JobLoggingCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.test_model = cls.env["test.queue.job"]

    def setUp(self):
        super().setUp()
        self.counter = JobCounter(self.env)
        self.logs = self.env["ir.logging"].search([("name", "=", "test_queue_job")])

    def _messages(self):
        """The messages logged since the test started, oldest first."""
        logs = self.env["ir.logging"].search(
            [("name", "=", "test_queue_job"), ("id", "not in", self.logs.ids)],
            order="id",
        )
        return logs.mapped("message")
