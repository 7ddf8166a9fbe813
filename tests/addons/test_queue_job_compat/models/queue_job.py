import json

from odoo import api, fields, models


def _type_name(value):
    if isinstance(value, models.BaseModel):
        return "recordset"
    return type(value).__name__


class QueueJob(models.Model):
    _inherit = "queue.job"

    compat_note = fields.Char(tracking=True)
    additional_info = fields.Char()
    loaded_additional_info = fields.Char()

    def _compat_log(self, kind, job_uuid, state=None, info=None):
        self.env["test.queue.job.compat.log"].sudo().create(
            {"kind": kind, "job_uuid": job_uuid, "state": state, "info": info}
        )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            records = vals.get("records")
            info = {
                "records": _type_name(records),
                "records_model": getattr(records, "_name", None),
                "records_ids": getattr(records, "ids", None),
                "args": _type_name(vals.get("args")),
                "kwargs": _type_name(vals.get("kwargs")),
            }
            self._compat_log(
                "create", vals.get("uuid"), vals.get("state"), json.dumps(info)
            )
        return super().create(vals_list)

    def write(self, vals):
        if "state" in vals:
            info = {}
            if self.env.context.get("_job_edit_sentinel") is self.EDIT_SENTINEL:
                # Job.store() passes all the stored values of the job
                info["priority"] = vals["priority"]
            for record in self:
                self._compat_log("write", record.uuid, vals["state"], json.dumps(info))
        return super().write(vals)

    def _message_post_on_failure(self):
        result = super()._message_post_on_failure()
        for record in self:
            self._compat_log(
                "message_post_on_failure", record.uuid, record.state, str(self.env.uid)
            )
        return result

    def related_action_compat_log(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": "Compat log of %s" % self.uuid,
            "res_model": "test.queue.job.compat.log",
            "view_mode": "tree,form",
            "domain": [("job_uuid", "=", self.uuid)],
        }


class QueueJobChannel(models.Model):
    _inherit = "queue.job.channel"

    compat_label = fields.Char()


class QueueJobFunction(models.Model):
    _inherit = "queue.job.function"

    compat_label = fields.Char()
