# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The original runner's one-thread-per-job dispatch, kept for compatibility.

The runner itself dispatches through ``HttpDispatcher``; addons may still
call ``runner._async_http_get``.
"""
import http.client
import logging
import threading

import psycopg2

from . import queries
from .dispatcher import CONNECT_TIMEOUT, basic_auth, runjob_path
from .odoo_settings import _connection_info_for
from .timings import RUNNER_LOGGER

_logger = logging.getLogger(RUNNER_LOGGER)


def _reset_job_if_enqueued(db_name, job_uuid):
    conn = psycopg2.connect(**_connection_info_for(db_name))
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(queries.RESET_TO_PENDING, ([job_uuid],))
            if cr.fetchall():
                _logger.warning(
                    "state of job %s was reset from enqueued to pending", job_uuid
                )
    finally:
        conn.close()


def _async_http_get(scheme, host, port, user, password, db_name, job_uuid):
    """Ask Odoo to run one job, from a new thread.

    As with ``HttpDispatcher``, the request is waited for as long as the job
    runs, and the job is reset to pending (if still enqueued) when it fails.
    """
    path = runjob_path(db_name, job_uuid)

    def target():
        connection_class = (
            http.client.HTTPSConnection
            if scheme == "https"
            else http.client.HTTPConnection
        )
        conn = connection_class(host, int(port), timeout=CONNECT_TIMEOUT)
        headers = {"Authorization": basic_auth(user, password)} if user else {}
        error = None
        try:
            conn.request("GET", path, headers=headers)
            conn.sock.settimeout(None)
            response = conn.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                error = "HTTP status %s" % response.status
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
        if error:
            _logger.warning("exception in GET %s: %s", path, error)
            try:
                _reset_job_if_enqueued(db_name, job_uuid)
            except psycopg2.Error:
                _logger.exception("could not reset job %s to pending", job_uuid)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
