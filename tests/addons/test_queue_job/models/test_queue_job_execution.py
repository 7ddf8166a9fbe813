# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import http, models
from odoo.addons.queue_job.exception import NothingToDoJob
from odoo.exceptions import UserError


class TestQueueJob(models.Model):
    """Job methods for the tests of /queue_job/runjob: each outcome of a job."""

    _inherit = "test.queue.job"

    def rename(self, name):
        """A change of the job's records, committed only if the job succeeds."""
        self.write({"name": name})
        return name

    def rename_then_fail(self, name, message):
        self.write({"name": name})
        raise ValueError(message)

    def nothing_to_do(self, message=""):
        raise NothingToDoJob(message)

    def raise_user_error(self, message):
        raise UserError(message)

    def raise_serialization_failure(self):
        """Fail like a transaction losing a race against a concurrent update."""
        self.env.cr.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'simulated concurrent update'"
            " USING ERRCODE = 'serialization_failure'; END $$"
        )

    def job_state_seen_from_outside(self):
        """The state of the running job, as another transaction sees it."""
        with self.env.registry.cursor() as cr:
            cr.execute(
                "SELECT state FROM queue_job WHERE uuid = %s",
                (self.env.context["job_uuid"],),
            )
            return cr.fetchone()[0]

    def http_request_seen(self):
        """What the job sees of Odoo's current HTTP request."""
        request = http.request
        if not request:
            return "no request"
        return "db=%s endpoint=%s auth=%s uid=%s lang=%s" % (
            request.db,
            request.endpoint.method.__name__,
            request.auth_method,
            request.uid,
            request.context.get("lang"),
        )
