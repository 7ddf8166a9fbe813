# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import models

from ..lifecycle import ENQUEUED, FAILED, PENDING


class SetJobsToCancelled(models.TransientModel):
    _inherit = "queue.requeue.job"
    _name = "queue.jobs.to.cancelled"
    _description = "Cancel all selected jobs"

    def set_cancelled(self):
        # only jobs that did not start yet, or failed, can be cancelled
        jobs = self.job_ids.filtered(
            lambda job: job.state in (PENDING, FAILED, ENQUEUED)
        )
        jobs.button_cancelled()
        return {"type": "ir.actions.act_window_close"}
