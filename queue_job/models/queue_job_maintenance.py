# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``queue.job``: the maintenance crons' methods (purge of old jobs, requeue
of stuck ones)."""
from datetime import datetime, timedelta

from odoo import _, api, exceptions, fields, models
from odoo.osv import expression
from odoo.tools import config

from ..lease import held_job_leases
from ..lifecycle import ENQUEUED, STARTED


class QueueJob(models.Model):
    _inherit = "queue.job"

    # number of jobs deleted per channel by one run of the autovacuum
    _autovacuum_batch_size = 1000

    @api.model
    def autovacuum(self):
        """Delete the done and cancelled jobs older than their channel's interval.

        Called by the cron ``queue_job.ir_cron_autovacuum_queue_jobs``. Each
        call deletes at most one batch of jobs per channel, in the caller's
        transaction (the cron commits it), and re-triggers the cron when a
        channel has more to delete. A large backlog is thus removed in short
        transactions that each make progress, without committing from here:
        a commit in the middle of a method would also commit the caller's
        work (or a test's), which is not this method's decision to take.
        """
        self.check_access_rights("unlink")
        more_to_delete = False
        for channel in self.env["queue.job.channel"].search([]):
            deadline = datetime.now() - timedelta(days=int(channel.removal_interval))
            jobs = self.search(
                [
                    "|",
                    ("date_done", "<=", deadline),
                    ("date_cancelled", "<=", deadline),
                    ("channel", "=", channel.complete_name),
                ],
                limit=self._autovacuum_batch_size,
            )
            if len(jobs) == self._autovacuum_batch_size:
                more_to_delete = True
            jobs.unlink()
        if more_to_delete:
            cron = self.env.ref(
                "queue_job.ir_cron_autovacuum_queue_jobs", raise_if_not_found=False
            )
            if cron:
                cron.sudo()._trigger()
        return True

    @api.model
    def requeue_stuck_jobs(self, enqueued_delta=1, started_delta=0):
        """Fix jobs that are in a bad states

        :param enqueued_delta: minutes after which a job still ``enqueued`` is
            requeued (0 to disable)
        :param started_delta: minutes after which a job still ``started`` is
            requeued (0 to disable, -1 for the real time limit of the
            workers in minutes, plus one)
        """
        self.check_access_rights("write")
        if started_delta == -1:
            started_delta = (config["limit_time_real"] // 60) + 1
        return self._get_stuck_jobs_to_requeue(
            enqueued_delta=enqueued_delta, started_delta=started_delta
        ).requeue()

    def _get_stuck_jobs_domain(self, queue_dl, started_dl):
        """Domain of the jobs enqueued (started) for more than ``queue_dl``
        (``started_dl``) minutes; a delta of 0 disables its part."""
        domain = []
        now = fields.Datetime.now()
        if queue_dl:
            queue_dl = now - timedelta(minutes=queue_dl)
            domain.append([("date_enqueued", "<=", queue_dl), ("state", "=", ENQUEUED)])
        if started_dl:
            started_dl = now - timedelta(minutes=started_dl)
            domain.append([("date_started", "<=", started_dl), ("state", "=", STARTED)])
        if not domain:
            raise exceptions.ValidationError(
                _("If both parameters are 0, ALL jobs will be requeued!")
            )
        return expression.OR(domain)

    def _get_stuck_jobs_to_requeue(self, enqueued_delta, started_delta):
        """The stuck jobs, but the started ones a live worker still runs.

        Those hold their lease (see ``queue_job.lease``): however long they
        run, requeueing them would only make the runner send them again.
        """
        jobs = self.search(self._get_stuck_jobs_domain(enqueued_delta, started_delta))
        started = jobs.filtered(lambda job: job.state == STARTED)
        alive = held_job_leases(self.env.cr, started.ids)
        return jobs.filtered(lambda job: job.id not in alive)
