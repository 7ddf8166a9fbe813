# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""HTTP dispatch of jobs to Odoo: ``GET /queue_job/runjob?db=..&job_uuid=..``.

Each request is sent by a thread of a small pool, with a blocking socket:
the runner's loop never blocks on HTTP (``dispatch()`` only queues the
request). The pool holds a thread per request in flight, which the channels'
capacity bounds; a thread that finished its request takes the next one, and
exits after ``worker_pool.IDLE_THREAD_TTL`` seconds without work: no
thread per job. Threads rather than an event loop because a request is a
few system calls (connect, send, receive, close), and asyncio's streams
cost about as much CPU per request as the rest of the runner's work for a
job (see docs/performance.rst). Connections are HTTP/1.1 and reused when
the server keeps them open (a reverse proxy usually does; Odoo 15's own
server answers in HTTP/1.0 and closes them).

Timeouts. The request is the job's ticket: while it is alive, the job is in
Odoo's hands (queued in the listen backlog or running in a worker), so the
runner waits for the response however long the job runs, and reports a
failure only when the request demonstrably did not get through: connection
refused or not established within ``connect_timeout``, connection lost
before a response (e.g. the worker was killed), or a non-2xx status. The
runner then resets the job to pending if it is still enqueued (a job that
reached ``started`` did get through, and is not dispatched twice). TCP
keepalive detects a peer that vanished without closing the connection.

Sessions. A request without session makes Odoo look for its database by
listing the databases, on a new PostgreSQL connection to the ``postgres``
database (which Odoo's pool does not keep): a connection per job. So the
dispatcher asks Odoo once per database for a session bound to it
(``/queue_job/session``) and sends its cookie with the runjob requests of
that database. It asks again every ``SESSION_TTL`` seconds, which keeps the
session alive in Odoo's store. Until a session is there (the first request
of a database, an Odoo without the route, a database filter rejecting the
database), requests go without one, as they did before.

Addresses. Given a host name (the default host is ``localhost``), connecting
resolves it (``socket.getaddrinfo``) for each connection. The dispatcher
connects by name once, then to the address that answered, for
``ADDRESS_TTL`` seconds or until a connection to it fails (then by name
again, at once).

Free of Odoo and database imports: results are handed to a callback.
"""
import logging
import socket
import ssl
import threading
import time
from collections import namedtuple

from .http_connection import (  # noqa: F401 (public names of this module)
    DispatchError,
    HttpConnection,
    _set_socket_options,
    _StaleConnection,
    basic_auth,
    build_request,
    runjob_path,
    session_cookie,
    session_path,
)
from .worker_pool import WorkerPool

_logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10  # seconds to establish a connection (and TLS)
MAX_IDLE_CONNECTIONS = 32
SESSION_TTL = 600  # seconds a session is used before it is asked again
SESSION_RETRY = 60  # seconds before asking again when Odoo gave none
ADDRESS_TTL = 60  # seconds the address that answered for the host is reused
THREAD_NAME = "queue_job.dispatcher"

Endpoint = namedtuple("Endpoint", "scheme host port user password")

# error: None when Odoo answered 2xx, else a short description.
DispatchResult = namedtuple("DispatchResult", "db_name uuid error")


class _Session:
    """The session of one database: its id (or None), when to ask again."""

    __slots__ = ("session_id", "renew_at", "renewing")

    def __init__(self):
        self.session_id = None
        self.renew_at = 0.0
        self.renewing = False


class HttpDispatcher:
    """Sends runjob requests from a pool of threads (see the module docstring).

    ``on_result(DispatchResult)`` is called in a thread of the pool once per
    dispatched job, when its request ends; it must be quick and thread-safe
    (the runner appends to a deque and wakes its loop).
    """

    def __init__(
        self, endpoint, on_result, connect_timeout=CONNECT_TIMEOUT, sessions=True
    ):
        self.endpoint = endpoint
        self.on_result = on_result
        self.connect_timeout = connect_timeout
        # database name -> _Session (see the module docstring); None: no
        # sessions are asked for
        self._sessions = {} if sessions else None
        self._pool = None
        self._lock = threading.Lock()
        self._idle = []  # keep-alive connections not in use
        self._busy = set()  # connections carrying a request
        self._in_flight = 0  # job requests not ended
        self._stopped = False
        self._ssl_context = (
            ssl.create_default_context() if endpoint.scheme == "https" else None
        )
        # (IP address that answered for endpoint.host, until when to use it)
        self._address = None

    def __repr__(self):
        return "<HttpDispatcher %s://%s:%s>" % self.endpoint[:3]

    @property
    def in_flight(self):
        return self._in_flight

    def start(self):
        self._stopped = False
        self._in_flight = 0
        self._pool = WorkerPool(THREAD_NAME)

    def stop(self, timeout=5):
        """Stop sending; requests in flight are abandoned (not failed).

        Their jobs are in Odoo's hands already; Odoo's own shutdown deals
        with the requests it is serving. Their connections are shut down,
        which ends the threads waiting for their answers.
        """
        if self._pool is None:
            return
        with self._lock:
            self._stopped = True
            busy = list(self._busy)
        for conn in busy:
            conn.abort()
        self._pool.stop(timeout)
        self._pool = None
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def dispatch(self, db_name, uuid):
        """Queue the request for a job (thread-safe, never blocks)."""
        with self._lock:
            self._in_flight += 1
        if not self._pool.submit(self._request, db_name, uuid):
            with self._lock:
                self._in_flight -= 1

    def _request(self, db_name, uuid):
        path = runjob_path(db_name, uuid)
        error = None
        try:
            request = build_request(self.endpoint, path, self._session_id(db_name))
            status, _headers = self._roundtrip(request)
            if not 200 <= status < 300:
                error = "HTTP status %s" % status
        except socket.timeout:
            error = "no connection within %ss" % self.connect_timeout
        except (OSError, EOFError, DispatchError, ssl.SSLError) as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        except Exception as exc:  # never lose a job on an unexpected error
            _logger.exception("unexpected error dispatching job %s", uuid)
            error = "%s: %s" % (type(exc).__name__, exc)
        with self._lock:
            self._in_flight -= 1
            if self._stopped:
                return  # abandoned: see stop()
        if error:
            _logger.debug("GET %s failed: %s", path, error)
        try:
            self.on_result(DispatchResult(db_name, uuid, error))
        except Exception:
            _logger.exception("error reporting the dispatch of job %s", uuid)

    def _roundtrip(self, request_bytes):
        """Send a request: ``(status, headers)`` of the response."""
        conn, reused = self._acquire()
        try:
            status, keep_alive, headers = conn.request(request_bytes, reused)
        except _StaleConnection:
            # The server closed an idle connection as we reused it (nothing
            # was processed): retry once on a fresh connection.
            self._discard(conn)
            conn, reused = self._acquire(fresh=True)
            try:
                status, keep_alive, headers = conn.request(request_bytes, reused)
            except BaseException:
                self._discard(conn)
                raise
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn, keep_alive)
        return status, headers

    def _session_id(self, db_name):
        """The session to send with the requests for ``db_name``, or None.

        Asks Odoo for one in the background when it is time to: the job's
        request does not wait for it.
        """
        if self._sessions is None:
            return None
        with self._lock:
            session = self._sessions.get(db_name)
            if session is None:
                session = self._sessions[db_name] = _Session()
            renew = not session.renewing and time.monotonic() >= session.renew_at
            if renew:
                session.renewing = True
            session_id = session.session_id
        if renew and not self._pool.submit(self._renew_session, db_name, session):
            session.renewing = False
        return session_id

    def _renew_session(self, db_name, session):
        """Ask Odoo for a session bound to ``db_name`` (the same one if any)."""
        request = build_request(
            self.endpoint, session_path(db_name), session.session_id
        )
        session_id = None
        try:
            status, headers = self._roundtrip(request)
            if status == 200:
                # Odoo sets the cookie again for a session it saved
                session_id = session_cookie(headers["set-cookie"])
        except Exception as exc:  # requests go without session meanwhile
            _logger.debug("no session for db %s: %s", db_name, exc)
        if session_id is None:
            _logger.debug("no session for db %s: runjob requests go without", db_name)
            renew_at = time.monotonic() + SESSION_RETRY
        else:
            renew_at = time.monotonic() + SESSION_TTL
        with self._lock:
            session.session_id = session_id
            session.renew_at = renew_at
            session.renewing = False

    def _acquire(self, fresh=False):
        """A connection to send a request on, and whether it was used before."""
        now = time.monotonic()
        conn = None
        with self._lock:
            while self._idle and not fresh:
                candidate = self._idle.pop()
                if candidate.usable(now):
                    conn = candidate
                    break
                candidate.close()
        reused = conn is not None
        if conn is None:
            conn = HttpConnection(self._open_socket())
        with self._lock:
            if self._stopped:
                conn.close()
                raise DispatchError("dispatcher stopped")
            self._busy.add(conn)
        return conn, reused

    def _release(self, conn, keep_alive):
        with self._lock:
            self._busy.discard(conn)
            if (
                keep_alive
                and not self._stopped
                and len(self._idle) < MAX_IDLE_CONNECTIONS
            ):
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
                return
        conn.close()

    def _discard(self, conn):
        with self._lock:
            self._busy.discard(conn)
        conn.close()

    def _open_socket(self):
        """A new connected socket (see "Addresses" above)."""
        host = self.endpoint.host
        address = self._address
        if address is not None and time.monotonic() < address[1]:
            try:
                return self._connect(address[0])
            except OSError:
                _logger.debug(
                    "%s did not answer for %s: resolving again", address[0], host
                )
        self._address = None
        sock = self._connect(host)
        try:
            peer = sock.getpeername()
        except OSError:
            peer = None
        # not for an IPv6 address with a scope (link-local): keep the name
        if peer and (len(peer) == 2 or not peer[3]) and peer[0] != host:
            self._address = (peer[0], time.monotonic() + ADDRESS_TTL)
        return sock

    def _connect(self, host):
        """Connect (and shake hands for TLS) within ``connect_timeout``; then
        the socket blocks without timeout (see "Timeouts" above)."""
        sock = socket.create_connection(
            (host, self.endpoint.port), timeout=self.connect_timeout
        )
        try:
            _set_socket_options(sock)
            if self._ssl_context is not None:
                # the certificate is checked against the name, not the address
                sock = self._ssl_context.wrap_socket(
                    sock, server_hostname=self.endpoint.host
                )
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return sock
