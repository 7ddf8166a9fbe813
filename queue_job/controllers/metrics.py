# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``/queue_job/metrics`` (Prometheus) and ``/queue_job/health``.

Both read the figures of the database named by ``db`` (else the session's)
on a cursor of their own: one request costs the few queries of
``job_figures``, whatever the number of jobs.

Metrics are off (404) unless a token is configured: ``metrics_token`` in
the ``[queue_job]`` section or the ``ODOO_QUEUE_JOB_METRICS_TOKEN``
environment variable. Then a request is served with that token as
``Authorization: Bearer <token>`` (compared in constant time), or with the
session of a job queue manager on that database; else 401 (no valid
credentials) or 403 (a session without the group), and no figures.

The health check is anonymous and tells only whether a runner leads the
database and looped lately: 200 if so, 503 if not.
"""
import hmac
import json
import logging
import os

import odoo
import psycopg2
from odoo import api, http
from odoo.service import security

from .. import job_figures, metrics_text
from ..jobrunner.runner import queue_job_section

_logger = logging.getLogger(__name__)

TOKEN_ENVIRONMENT_VARIABLE = "ODOO_QUEUE_JOB_METRICS_TOKEN"
MANAGER_GROUP = "queue_job.group_queue_job_manager"


def configured_token():
    """The metrics token, or None: metrics are off."""
    return (
        os.environ.get(TOKEN_ENVIRONMENT_VARIABLE)
        or queue_job_section().get("metrics_token")
        or None
    )


def bearer_token(httprequest):
    scheme, _sep, value = httprequest.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def served_registry(db):
    """The registry of ``db`` if it exists, passes the db filter and has
    queue_job installed, else None."""
    if not db or not http.db_filter([db]):
        return None
    if db not in odoo.modules.registry.Registry.registries:
        if not odoo.service.db.exp_db_exist(db):
            return None
    registry = odoo.registry(db)
    if "queue.job.overview" not in registry:
        return None
    return registry


def _text(status, body, content_type="text/plain; charset=utf-8", headers=()):
    return http.Response(
        body, status=status, headers=[("Content-Type", content_type), *headers]
    )


class QueueJobMetrics(http.Controller):
    @http.route(
        "/queue_job/metrics",
        type="http",
        auth="none",
        methods=["GET"],
        save_session=False,
    )
    def metrics(self, db=None, **kw):
        token = configured_token()
        if token is None:
            return _text(404, "queue_job metrics are off: no metrics_token set\n")
        request = http.request
        db = db or request.session.db
        registry = served_registry(db)
        if registry is None:
            return _text(404, "no such database\n")
        given = bearer_token(request.httprequest)
        authorized = given is not None and hmac.compare_digest(
            given.encode(), token.encode()
        )
        with registry.cursor() as cr:
            if not authorized:
                refusal = self._refuse_session(cr, db, request.session)
                if refusal:
                    return refusal
            figures = job_figures.collect(cr)
        return _text(200, metrics_text.render(db, figures), metrics_text.CONTENT_TYPE)

    def _refuse_session(self, cr, db, session):
        """None if ``session`` is a job queue manager's on ``db``, else the
        answer: 401 without a valid session, 403 without the group."""
        challenge = [("WWW-Authenticate", 'Bearer realm="queue_job"')]
        if not session.uid or session.db != db:
            return _text(401, "unauthorized\n", headers=challenge)
        env = api.Environment(cr, session.uid, {})
        if not security.check_session(session, env):
            return _text(401, "unauthorized\n", headers=challenge)
        if not env.user.has_group(MANAGER_GROUP):
            return _text(403, "forbidden\n")
        return None

    @http.route(
        "/queue_job/health",
        type="http",
        auth="none",
        methods=["GET"],
        save_session=False,
    )
    def health(self, db=None, **kw):
        db = db or http.request.session.db
        registry = served_registry(db)
        if registry is None:
            return self._health(404, db, "no such database")
        try:
            with registry.cursor() as cr:
                cr.execute("SET LOCAL statement_timeout = 5000")
                runner_rows = job_figures.runners(cr)
        except psycopg2.Error as exc:
            _logger.warning("health check of db %s: %s", db, exc)
            return self._health(503, db, "database error")
        leader = job_figures.leader(runner_rows)
        last = job_figures.last_leader(runner_rows)
        body = {
            "runner_up": leader is not None,
            "last_loop_age_seconds": last and round(last["last_seen_age"], 3),
            "liveness_seconds": job_figures.RUNNER_LIVENESS_SECONDS,
        }
        if leader is None:
            return self._health(503, db, "no job runner leads the database", body)
        return self._health(200, db, "ok", body)

    def _health(self, status, db, message, extra=None):
        body = dict(extra or {}, status=message, db=db)
        return _text(status, json.dumps(body) + "\n", "application/json")
