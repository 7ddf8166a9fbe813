# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import api, fields, models


class QueueRequeueJob(models.TransientModel):
    _name = "queue.requeue.job"
    _description = "Wizard to requeue a selection of jobs"

    @api.model
    def _default_job_ids(self):
        context = self.env.context
        if context.get("active_model") == "queue.job" and context.get("active_ids"):
            return [(6, 0, context["active_ids"])]
        return False

    job_ids = fields.Many2many(
        comodel_name="queue.job",
        string="Jobs",
        default=lambda self: self._default_job_ids(),
    )

    def requeue(self):
        self.job_ids.requeue()
        return {"type": "ir.actions.act_window_close"}
