# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import http
from odoo.addons.queue_job.controllers.main import RunJobController


class TestRunJobController(RunJobController):
    """An addon's override of runjob: its responses say it was called."""

    @http.route()
    def runjob(self, db=None, job_uuid=None, **kw):
        response = super().runjob(db=db, job_uuid=job_uuid, **kw)
        response.headers["X-Test-Queue-Job-Runjob"] = "overridden"
        return response
