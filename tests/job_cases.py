"""Test cases on the test database with the test addon's model.

``QueueJobCase``: a transaction with ``test_model`` (``test.queue.job``)
and ``counter``, a ``JobCounter`` of the jobs created during the test.

``JobLoggingCase``: also the messages that the test's jobs logged with
``create_ir_logging`` (in ``ir.logging``), which say which jobs ran, in
which order, and that a trapped or mocked job did not run.
"""
from odoo.addons.queue_job.tests.common import JobCounter
from odoo.tests.common import TransactionCase


class QueueJobCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.test_model = cls.env["test.queue.job"]

    def setUp(self):
        super().setUp()
        self.counter = JobCounter(self.env)


class JobLoggingCase(QueueJobCase):
    def setUp(self):
        super().setUp()
        self.logs = self.env["ir.logging"].search([("name", "=", "test_queue_job")])

    def _messages(self):
        """The messages logged since the test started, oldest first."""
        logs = self.env["ir.logging"].search(
            [("name", "=", "test_queue_job"), ("id", "not in", self.logs.ids)],
            order="id",
        )
        return logs.mapped("message")
