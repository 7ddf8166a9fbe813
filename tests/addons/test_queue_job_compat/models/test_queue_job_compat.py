import json
import time

from odoo import SUPERUSER_ID, api, fields, models
from odoo.addons.queue_job.job import Job
from odoo.exceptions import UserError


class TestQueueJobCompat(models.Model):
    """Records whose methods are delayed by the compat tests."""

    _name = "test.queue.job.compat"
    _description = "Queue job compatibility test records"

    name = fields.Char()

    def _log(self, kind, **values):
        values.update(kind=kind, job_uuid=self.env.context.get("job_uuid"))
        return self.env["test.queue.job.compat.log"].sudo().create(values)

    # job methods

    def do_work(self, value, factor=1):
        self._log("do_work", info=json.dumps([value, factor, self.env.uid]))
        return "worked %s" % (value * factor)

    def fail_work(self, message):
        raise UserError(message)

    def sleep_once(self, seconds):
        """Sleep on the first try only (the mark is committed at once)."""
        job_uuid = self.env.context.get("job_uuid")
        with self.env.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            logs = env["test.queue.job.compat.log"]
            first = not logs.search_count(
                [("kind", "=", "sleep"), ("job_uuid", "=", job_uuid)]
            )
            logs.create({"kind": "sleep", "job_uuid": job_uuid})
        if first:
            time.sleep(seconds)
        return "slept" if first else "woke"

    def commit_while_running(self, seconds):
        for tick in range(int(seconds)):
            time.sleep(1)
            self._log("tick", info=str(tick))
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return "ran %s s" % seconds

    def _job_store_values(self, job):
        vals = super()._job_store_values(job)
        vals["additional_info"] = getattr(job, "additional_info", None) or (
            "compat:%s" % job.method_name
        )
        if hasattr(job, "additional_info"):
            # set by the patched Job._load_from_db_record
            vals["loaded_additional_info"] = job.additional_info
        return vals

    # entry points of the end-to-end tests (XML-RPC)

    @api.model
    def compat_ensure_user(self, login):
        users = self.env["res.users"].with_context(active_test=False)
        user = users.search([("login", "=", login)], limit=1)
        if not user:
            user = users.create(
                {
                    "name": "Compat %s" % login,
                    "login": login,
                    "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
                }
            )
        return {"id": user.id, "partner_id": user.partner_id.id}

    @api.model
    def compat_delay(
        self, method_name, args=None, kwargs=None, options=None, login=None
    ):
        records = self.create({"name": "compat %s" % method_name})
        if login:
            user = self.env["res.users"].search([("login", "=", login)], limit=1)
            records = records.with_user(user)
        delayable = records.with_delay(**(options or {}))
        job = getattr(delayable, method_name)(*(args or []), **(kwargs or {}))
        return job.uuid

    @api.model
    def compat_run_like_cron(self, job_uuid):
        """Run a job the way queue_job_cron_jobrunner does, outside runjob."""
        job = Job.load(self.env, job_uuid)
        job.set_started()
        job.store()
        self.env.cr.commit()  # pylint: disable=invalid-commit
        job.perform()
        job.set_done()
        job.store()
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return True
