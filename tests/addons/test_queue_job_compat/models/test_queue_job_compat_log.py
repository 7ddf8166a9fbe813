from odoo import fields, models


class TestQueueJobCompatLog(models.Model):
    """What the overrides of the compat addon saw, one row per event."""

    _name = "test.queue.job.compat.log"
    _description = "Queue job compatibility test log"
    _order = "id"

    kind = fields.Char(required=True, index=True)
    job_uuid = fields.Char(index=True)
    state = fields.Char()
    info = fields.Text()
