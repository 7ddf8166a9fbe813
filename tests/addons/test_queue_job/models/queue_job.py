# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import fields, models


class QueueJob(models.Model):
    _inherit = "queue.job"

    # filled by test.queue.job's _job_store_values
    additional_info = fields.Char()

    def testing_related_method(self, **kwargs):
        """Related action returning what it was called on, for assertions."""
        return self, kwargs

    def testing_related__url(self, **kwargs):
        """Related action opening ``url`` formatted with the first argument."""
        subject = self.args[0]
        return {
            "type": "ir.actions.act_url",
            "target": "new",
            "url": kwargs["url"].format(subject=subject),
        }
