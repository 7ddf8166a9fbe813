# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""HTTP dispatch of jobs to Odoo: ``GET /queue_job/runjob?db=..&job_uuid=..``.

One thread runs an asyncio loop that carries every request, however many
are in flight: no thread per job, and the runner's loop never blocks on
HTTP (``dispatch()`` only schedules the request). Connections are HTTP/1.1
and reused when the server keeps them open (a reverse proxy usually does;
Odoo 15's own server answers in HTTP/1.0 and closes them).

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

Addresses. Given a host name (the default host is ``localhost``), asyncio
resolves it for each connection, in a thread of its executor. The
dispatcher connects by name once, then to the address that answered, for
``ADDRESS_TTL`` seconds or until a connection to it fails (then by name
again, at once).

Free of Odoo and database imports: results are handed to a callback.
"""
import asyncio
import base64
import logging
import socket
import ssl
import threading
import time
from collections import namedtuple
from urllib.parse import quote

_logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10  # seconds to establish a connection (and TLS)
IDLE_CONNECTION_TTL = 15  # seconds an unused keep-alive connection is kept
MAX_IDLE_CONNECTIONS = 32
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # larger bodies (error pages) are not kept
USER_AGENT = "odoo-queue-job-runner"
SESSION_COOKIE = "session_id"  # Odoo's
SESSION_TTL = 600  # seconds a session is used before it is asked again
SESSION_RETRY = 60  # seconds before asking again when Odoo gave none
ADDRESS_TTL = 60  # seconds the address that answered for the host is reused

Endpoint = namedtuple("Endpoint", "scheme host port user password")

# error: None when Odoo answered 2xx, else a short description.
DispatchResult = namedtuple("DispatchResult", "db_name uuid error")


class DispatchError(Exception):
    """The request did not get a 2xx answer."""


class _StaleConnection(DispatchError):
    """A reused keep-alive connection was closed by the server before use."""


def runjob_path(db_name, uuid):
    return "/queue_job/runjob?db=%s&job_uuid=%s" % (
        quote(db_name, safe=""),
        quote(uuid, safe=""),
    )


def session_path(db_name):
    return "/queue_job/session?db=%s" % quote(db_name, safe="")


def basic_auth(user, password):
    """Value of the Authorization header for HTTP basic authentication."""
    credentials = "%s:%s" % (user, password or "")
    return "Basic %s" % base64.b64encode(credentials.encode()).decode("ascii")


def build_request(endpoint, path, session_id=None):
    """The bytes of a keep-alive GET request for ``path``."""
    host = endpoint.host
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host  # IPv6 literal
    lines = [
        "GET %s HTTP/1.1" % path,
        "Host: %s:%s" % (host, endpoint.port),
        "User-Agent: %s" % USER_AGENT,
        "Accept: */*",
        "Connection: keep-alive",
    ]
    if endpoint.user:
        lines.append("Authorization: %s" % basic_auth(endpoint.user, endpoint.password))
    if session_id:
        lines.append("Cookie: %s=%s" % (SESSION_COOKIE, session_id))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def session_cookie(set_cookie_headers):
    """The value of Odoo's session cookie among ``Set-Cookie`` values."""
    for header in set_cookie_headers:
        name, _sep, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0].strip() or None
    return None


class _Session:
    """The session of one database: its id (or None), when to ask again."""

    __slots__ = ("session_id", "renew_at", "renewing")

    def __init__(self):
        self.session_id = None
        self.renew_at = 0.0
        self.renewing = False


def _set_socket_options(writer):
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)
    except OSError:
        _logger.debug("could not set TCP options on the dispatch socket")


class _Connection:
    """One HTTP/1.1 connection, used for one request at a time."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def usable(self, now):
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < IDLE_CONNECTION_TTL
        )

    def close(self):
        self.writer.close()

    async def request(self, request_bytes, reused):
        """Send a request; return ``(status, keep_alive, headers)``."""
        try:
            self.writer.write(request_bytes)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except ConnectionError:
            if reused:
                raise _StaleConnection("connection closed before use") from None
            raise
        if not status_line:
            if reused:
                raise _StaleConnection("connection closed before use")
            raise DispatchError("connection closed without a response")
        version, status = self._parse_status_line(status_line)
        headers = await self._read_headers()
        keep_alive = await self._read_body(version, status, headers)
        return status, keep_alive, headers

    @staticmethod
    def _parse_status_line(line):
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise DispatchError("invalid HTTP status line %r" % line[:100])
        try:
            return parts[0], int(parts[1])
        except ValueError:
            raise DispatchError("invalid HTTP status line %r" % line[:100]) from None

    async def _read_headers(self):
        """``{lowercase name: value}``, but ``set-cookie``: a list of values."""
        headers = {"set-cookie": []}
        size = 0
        while True:
            line = await self.reader.readline()
            size += len(line)
            if size > MAX_HEADER_BYTES:
                raise DispatchError("HTTP response headers too large")
            if not line:
                raise DispatchError("connection closed in the response headers")
            if line in (b"\r\n", b"\n"):
                return headers
            name, _sep, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "set-cookie":
                headers[name].append(value.strip())
            else:
                headers[name] = value.strip()

    async def _read_body(self, version, status, headers):
        """Consume the body; return whether the connection can be reused."""
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if status in (204, 304) or 100 <= status < 200:
            return keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await self._read_chunked()
            return keep_alive
        length = headers.get("content-length")
        if length is not None:
            try:
                length = int(length)
            except ValueError:
                raise DispatchError("invalid Content-Length %r" % length) from None
            if length > MAX_BODY_BYTES:
                return False  # not worth reading: drop the connection
            await self.reader.readexactly(length)
            return keep_alive
        # No framing: the body ends when the server closes the connection.
        # Nothing is needed from it.
        return False

    async def _read_chunked(self):
        total = 0
        while True:
            size_line = await self.reader.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise DispatchError("invalid chunked encoding") from None
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            total += size
            if total > MAX_BODY_BYTES:
                raise DispatchError("HTTP response body too large")
            await self.reader.readexactly(size + 2)


class HttpDispatcher:
    """Sends runjob requests from a single background thread.

    ``on_result(DispatchResult)`` is called in that thread once per
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
        self._loop = None
        self._thread = None
        self._idle = []
        self._tasks = set()
        self._session_tasks = set()  # not job requests: not in_flight
        self._ssl_context = (
            ssl.create_default_context() if endpoint.scheme == "https" else None
        )
        # (IP address that answered for endpoint.host, until when to use it)
        self._address = None

    def __repr__(self):
        return "<HttpDispatcher %s://%s:%s>" % self.endpoint[:3]

    @property
    def in_flight(self):
        return len(self._tasks)

    def start(self):
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="queue_job.dispatcher", daemon=True
        )
        self._thread.start()
        ready.wait()

    def _run(self, ready):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        ready.set()
        try:
            self._loop.run_forever()
            tasks = list(self._tasks) + list(self._session_tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                self._loop.run_until_complete(
                    asyncio.gather(*tasks, return_exceptions=True)
                )
        finally:
            self._close_all()
            self._loop.close()

    def stop(self, timeout=5):
        """Stop the thread; requests in flight are abandoned (not failed).

        Their jobs are in Odoo's hands already; Odoo's own shutdown deals
        with the requests it is serving.
        """
        if not self._thread:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def _close_all(self):
        for conn in self._idle:
            conn.close()
        self._idle = []

    def dispatch(self, db_name, uuid):
        """Schedule the request for a job (thread-safe, never blocks)."""
        self._loop.call_soon_threadsafe(self._start_request, db_name, uuid)

    def _start_request(self, db_name, uuid):
        task = self._loop.create_task(self._request(db_name, uuid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, db_name, uuid):
        path = runjob_path(db_name, uuid)
        error = None
        try:
            request = build_request(self.endpoint, path, self._session_id(db_name))
            status, _headers = await self._roundtrip(request)
            if not 200 <= status < 300:
                error = "HTTP status %s" % status
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            error = "no connection within %ss" % self.connect_timeout
        except (OSError, EOFError, DispatchError, ssl.SSLError) as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        except Exception as exc:  # never lose a job on an unexpected error
            _logger.exception("unexpected error dispatching job %s", uuid)
            error = "%s: %s" % (type(exc).__name__, exc)
        if error:
            _logger.debug("GET %s failed: %s", path, error)
        try:
            self.on_result(DispatchResult(db_name, uuid, error))
        except Exception:
            _logger.exception("error reporting the dispatch of job %s", uuid)

    async def _roundtrip(self, request_bytes):
        """Send a request: ``(status, headers)`` of the response."""
        conn, reused = await self._acquire()
        try:
            status, keep_alive, headers = await conn.request(request_bytes, reused)
        except _StaleConnection:
            # The server closed an idle connection as we reused it (nothing
            # was processed): retry once on a fresh connection.
            conn.close()
            conn, reused = await self._acquire(fresh=True)
            try:
                status, keep_alive, headers = await conn.request(request_bytes, reused)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
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
        session = self._sessions.get(db_name)
        if session is None:
            session = self._sessions[db_name] = _Session()
        if not session.renewing and time.monotonic() >= session.renew_at:
            session.renewing = True
            task = self._loop.create_task(self._renew_session(db_name, session))
            self._session_tasks.add(task)
            task.add_done_callback(self._session_tasks.discard)
        return session.session_id

    async def _renew_session(self, db_name, session):
        """Ask Odoo for a session bound to ``db_name`` (the same one if any)."""
        request = build_request(
            self.endpoint, session_path(db_name), session.session_id
        )
        session_id = None
        try:
            status, headers = await self._roundtrip(request)
            if status == 200:
                # Odoo sets the cookie again for a session it saved
                session_id = session_cookie(headers["set-cookie"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # requests go without session meanwhile
            _logger.debug("no session for db %s: %s", db_name, exc)
        finally:
            session.renewing = False
        if session_id is None:
            _logger.debug("no session for db %s: runjob requests go without", db_name)
            session.renew_at = time.monotonic() + SESSION_RETRY
        else:
            session.renew_at = time.monotonic() + SESSION_TTL
        session.session_id = session_id

    async def _acquire(self, fresh=False):
        now = time.monotonic()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if conn.usable(now):
                return conn, True
            conn.close()
        reader, writer = await self._open_connection()
        _set_socket_options(writer)
        return _Connection(reader, writer), False

    async def _open_connection(self):
        """``(reader, writer)`` of a new connection (see "Addresses" above)."""
        host = self.endpoint.host
        address = self._address
        if address is not None and time.monotonic() < address[1]:
            try:
                return await self._connect(address[0])
            except (OSError, asyncio.TimeoutError):
                _logger.debug(
                    "%s did not answer for %s: resolving again", address[0], host
                )
        self._address = None
        reader, writer = await self._connect(host)
        peer = writer.get_extra_info("peername")
        # not for an IPv6 address with a scope (link-local): keep the name
        if peer and (len(peer) == 2 or not peer[3]) and peer[0] != host:
            self._address = (peer[0], time.monotonic() + ADDRESS_TTL)
        return reader, writer

    async def _connect(self, host):
        options = {"ssl": self._ssl_context, "limit": MAX_HEADER_BYTES}
        if self._ssl_context is not None:
            # the certificate is checked against the name, not the address
            options["server_hostname"] = self.endpoint.host
        return await asyncio.wait_for(
            asyncio.open_connection(host, self.endpoint.port, **options),
            self.connect_timeout,
        )

    def _release(self, conn, keep_alive):
        if keep_alive and len(self._idle) < MAX_IDLE_CONNECTIONS:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
