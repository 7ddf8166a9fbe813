# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import os
import time

from odoo import api, fields, models


class TestReliabilityJob(models.Model):
    """One row per committed execution of a job of the reliability tests.

    A row is created in the job's own transaction, so it exists only if the
    execution committed: counting rows per name tells how many times a job's
    effect was committed, whatever crashed in between.
    """

    _name = "test.reliability.job"
    _description = "Committed execution of a reliability test job"
    _order = "id"

    name = fields.Char(required=True, index=True)
    stage = fields.Char(help="Which commit of the job created the row")
    worker_pid = fields.Integer()

    def _record(self, name, stage):
        return self.create({"name": name, "stage": stage, "worker_pid": os.getpid()})

    @api.model
    def sleep_and_record(self, name, duration=0.0):
        """Sleep ``duration`` seconds, then record the execution."""
        if duration:
            time.sleep(duration)
        return self._record(name, "end").id

    @api.model
    def commit_then_sleep(self, name, duration):
        """Commit a first row (as long jobs do), sleep, then record the end."""
        self._record(name, "midway")
        # The point of this job: a commit of its own while it runs.
        self.env.cr.commit()  # pylint: disable=invalid-commit
        time.sleep(duration)
        return self._record(name, "end").id

    @api.model
    def sleep_first_try(self, name, duration):
        """Sleep ``duration`` seconds on the first try only, then record.

        For jobs killed on their first try: the next try ends quickly.
        """
        self.env.cr.execute(
            "SELECT retry FROM queue_job WHERE uuid = %s",
            (self.env.context["job_uuid"],),
        )
        if not self.env.cr.fetchone()[0]:
            time.sleep(duration)
        return self._record(name, "end").id

    def _job_store_values_for_sleep_first_try(self, job):
        """Append each state stored through ``Job.store()`` to the job's
        ``additional_info``: an end written in SQL leaves no trace there."""
        stored = self.env["queue.job"].sudo().search([("uuid", "=", job.uuid)])
        states = (stored.additional_info or "").split()
        return {"additional_info": " ".join(states + [job.state])}
