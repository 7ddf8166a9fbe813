# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import os
import time

from odoo import api, fields, models
from odoo.addons.queue_job.exception import RetryableJobError


class TestRunnerJob(models.Model):
    """One row per execution of a job of the job runner's end-to-end tests.

    The tests delay these methods, let a real server run them, and read the
    rows back: which jobs ran, in which order, how long, how many at once.
    """

    _name = "test.runner.job"
    _description = "Execution of a job runner test job"
    _order = "id"

    name = fields.Char(required=True, index=True)
    label = fields.Char()
    started_at = fields.Float(help="Epoch seconds when the execution started")
    finished_at = fields.Float(help="Epoch seconds when the execution ended")
    worker_pid = fields.Integer()

    @api.model
    def record_run(self, name, label=None, duration=0.0):
        """Sleep ``duration`` seconds, then record the execution."""
        started_at = time.time()
        if duration:
            time.sleep(duration)
        return self.create(
            {
                "name": name,
                "label": label,
                "started_at": started_at,
                "finished_at": time.time(),
                "worker_pid": os.getpid(),
            }
        ).id

    @api.model
    def record_then_retry(self, name, label=None):
        """Record the attempt (committed on its own), then ask for a retry."""
        self.record_run_committed(name, label)
        raise RetryableJobError("try %s again" % name)

    @api.model
    def pg_sleep_then_record(self, name, duration):
        """Wait ``duration`` seconds in a statement, then record the execution."""
        self.env.cr.execute("SELECT pg_sleep(%s)", (duration,))
        return self.record_run(name)

    @api.model
    def short_sleeps_then_record(self, name, duration):
        """Sleep ``duration`` seconds by short steps (Python runs between
        them), then record the execution."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            time.sleep(0.05)
        return self.record_run(name)

    @api.model
    def attempt_then_sleep(self, name, duration):
        """Record the attempt (committed on its own), then sleep ``duration``
        seconds and record the end."""
        self.record_run_committed(name, "attempt")
        time.sleep(duration)
        return self.record_run(name, label="end")

    def record_run_committed(self, name, label):
        """Record an execution in a transaction of its own, committed at once."""
        now = time.time()
        with self.env.registry.cursor() as cr:
            self.with_env(self.env(cr=cr)).create(
                {
                    "name": name,
                    "label": label,
                    "started_at": now,
                    "finished_at": now,
                    "worker_pid": os.getpid(),
                }
            )
