# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``/queue_job/rescue``: the job runner hands the end of a dead job to Odoo."""
import logging

import odoo
from odoo import SUPERUSER_ID, api, http

from ..rescue import ANSWER_PREFIX, rescue_dead_job

_logger = logging.getLogger(__name__)


class RescueJobController(http.Controller):
    @http.route("/queue_job/rescue", type="http", auth="none", save_session=False)
    def rescue(self, db=None, job_uuid=None, **kw):
        """End the job ``job_uuid`` of database ``db`` whose worker died.

        Anonymous on purpose, like runjob (the runner has no credentials):
        it only ever acts on a job that is started, whose row no transaction
        holds and whose lease is free, which is the runner's own condition
        for a job nobody runs any more (see ``queue_job.rescue``). Answers
        ``queue_job rescue: ...`` when it decided, so that the runner knows
        that it need not rescue the job in SQL.
        """
        env = self._rescue_env(db)
        if env is None or not job_uuid:
            return "%s not rescued: no such database or job" % ANSWER_PREFIX
        answer = rescue_dead_job(env, job_uuid)
        env.cr.commit()
        return answer

    def _rescue_env(self, db):
        """A superuser environment on ``db``, or None; the request is bound
        to ``db`` when Odoo did not bind it (as runjob does)."""
        request = http.request._get_current_object()
        if not db or (request.db and request.db != db):
            return None
        if not request.db:
            if not (
                db in odoo.modules.registry.Registry.registries
                or odoo.service.db.exp_db_exist(db)
            ):
                return None
            request.session.db = db
        env = api.Environment(request.cr, SUPERUSER_ID, request.context)
        if "queue.job" not in env.registry:
            return None
        return env
