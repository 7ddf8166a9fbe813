# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The runner asks Odoo to end the jobs of dead workers (``/queue_job/rescue``).

Written by an Odoo worker through the Job API, the end of such a job is what
any end of a job is (failure message and followers, ``write()`` overrides,
automated actions; see ``queue_job.rescue``). The runner writes it in SQL
itself (``jobrunner.sql_rescue``) only when Odoo could not be asked: no
connection, no answer within ``RESCUE_TIMEOUT``, or an answer that is not
the route's (an error status, an Odoo without the route). A job is never
ended twice: both ways lock its row and check that it is still started with
a free lease.

The requests of a database are sent one after the other by a thread of
their own (rescues are rare), so that the runner's loop never waits on
HTTP; a database has one such thread at a time.

Free of Odoo and database imports.
"""
import http.client
import logging
import threading
from urllib.parse import quote

from .dispatcher import basic_auth

_logger = logging.getLogger(__name__)

# seconds to connect and for each read of the answer: the request may wait
# in Odoo's listen backlog for a free worker
RESCUE_TIMEOUT = 30
THREAD_NAME = "queue_job.rescue"
# first words of the route's answers (queue_job.rescue.ANSWER_PREFIX)
ANSWER_PREFIX = "queue_job rescue:"


def rescue_path(db_name, uuid):
    return "/queue_job/rescue?db=%s&job_uuid=%s" % (
        quote(db_name, safe=""),
        quote(uuid, safe=""),
    )


class OdooRescues:
    """The rescue requests of the runner, and what became of them.

    ``on_fallback()`` is called from the request thread when Odoo could not
    end the jobs of a database: the runner then rescues them in SQL (see
    :meth:`take_fallback`).
    """

    def __init__(self, endpoint, on_fallback):
        self.endpoint = endpoint
        self.on_fallback = on_fallback
        self._lock = threading.Lock()
        self._busy = set()  # database names with a thread
        self._fallbacks = {}  # database name -> why Odoo could not be asked

    def take_fallback(self, db_name):
        """Why the last requests of ``db_name`` did not reach the route, once;
        None when they did."""
        with self._lock:
            return self._fallbacks.pop(db_name, None)

    def busy(self, db_name):
        with self._lock:
            return db_name in self._busy

    def request(self, db_name, uuids):
        """Ask Odoo to end the jobs ``uuids`` of ``db_name``, in a thread."""
        with self._lock:
            if db_name in self._busy:
                return
            self._busy.add(db_name)
        thread = threading.Thread(
            target=self._run,
            args=(db_name, list(uuids)),
            name=THREAD_NAME,
            daemon=True,
        )
        thread.start()

    def _run(self, db_name, uuids):
        failure = None
        try:
            for uuid in uuids:
                failure = self._ask(db_name, uuid)
                if failure:
                    break
        except Exception as exc:  # a thread must not die silently
            failure = "%s: %s" % (type(exc).__name__, exc)
        finally:
            with self._lock:
                self._busy.discard(db_name)
                if failure:
                    self._fallbacks[db_name] = failure
        if failure:
            self.on_fallback()

    def _ask(self, db_name, uuid):
        """One request; None when the route answered, else why not."""
        endpoint = self.endpoint
        connection_class = (
            http.client.HTTPSConnection
            if endpoint.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = connection_class(endpoint.host, endpoint.port, timeout=RESCUE_TIMEOUT)
        headers = {}
        if endpoint.user:
            headers["Authorization"] = basic_auth(endpoint.user, endpoint.password)
        try:
            conn.request("GET", rescue_path(db_name, uuid), headers=headers)
            response = conn.getresponse()
            body = response.read(4096).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            return "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
        if response.status != 200 or not body.startswith(ANSWER_PREFIX):
            return "HTTP status %s, not the answer of /queue_job/rescue" % (
                response.status
            )
        _logger.info("rescue of job %s of db %s by Odoo: %s", uuid, db_name, body)
        return None
