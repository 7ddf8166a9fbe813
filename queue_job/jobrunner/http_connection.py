# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The HTTP/1.1 wire of the dispatcher: requests, and one connection.

Blocking sockets, one request at a time per connection; the dispatcher's
threads use them (see ``dispatcher``). Free of Odoo and database imports.
"""
import base64
import contextlib
import logging
import select
import socket
import time
from urllib.parse import quote

_logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".dispatcher")

IDLE_CONNECTION_TTL = 15  # seconds an unused keep-alive connection is kept
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # larger bodies (error pages) are not kept
USER_AGENT = "odoo-queue-job-runner"
SESSION_COOKIE = "session_id"  # Odoo's


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


def _set_socket_options(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)
    except OSError:
        _logger.debug("could not set TCP options on the dispatch socket")


class HttpConnection:
    """One HTTP/1.1 connection, used for one request at a time."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.idle_since = time.monotonic()

    def usable(self, now):
        """Whether an idle connection can carry a request: the server has not
        closed it (an idle connection with something to read has been closed,
        or sent what it should not have)."""
        if now - self.idle_since >= IDLE_CONNECTION_TTL:
            return False
        try:
            readable, _w, _x = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self):
        self.reader.close()
        self.sock.close()

    def abort(self):
        """Unblock a thread reading or writing this connection (from another
        thread): its call fails or sees the end of the stream."""
        with contextlib.suppress(OSError):  # already closed by the peer
            self.sock.shutdown(socket.SHUT_RDWR)

    def request(self, request_bytes, reused):
        """Send a request; return ``(status, keep_alive, headers)``."""
        try:
            self.sock.sendall(request_bytes)
            status_line = self._readline()
        except ConnectionError:
            if reused:
                raise _StaleConnection("connection closed before use") from None
            raise
        if not status_line:
            if reused:
                raise _StaleConnection("connection closed before use")
            raise DispatchError("connection closed without a response")
        version, status = self._parse_status_line(status_line)
        headers = self._read_headers()
        keep_alive = self._read_body(version, status, headers)
        return status, keep_alive, headers

    def _readline(self):
        line = self.reader.readline(MAX_HEADER_BYTES + 1)
        if len(line) > MAX_HEADER_BYTES:
            raise DispatchError("HTTP response line too long")
        return line

    def _skip(self, size):
        """Read and drop ``size`` bytes of the body."""
        if len(self.reader.read(size)) < size:
            raise DispatchError("connection closed in the response body")

    @staticmethod
    def _parse_status_line(line):
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise DispatchError("invalid HTTP status line %r" % line[:100])
        try:
            return parts[0], int(parts[1])
        except ValueError:
            raise DispatchError("invalid HTTP status line %r" % line[:100]) from None

    def _read_headers(self):
        """``{lowercase name: value}``, but ``set-cookie``: a list of values."""
        headers = {"set-cookie": []}
        size = 0
        while True:
            line = self._readline()
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

    def _read_body(self, version, status, headers):
        """Consume the body; return whether the connection can be reused."""
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if status in (204, 304) or 100 <= status < 200:
            return keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._read_chunked()
            return keep_alive
        length = headers.get("content-length")
        if length is not None:
            try:
                length = int(length)
            except ValueError:
                raise DispatchError("invalid Content-Length %r" % length) from None
            if length > MAX_BODY_BYTES:
                return False  # not worth reading: drop the connection
            self._skip(length)
            return keep_alive
        # No framing: the body ends when the server closes the connection.
        # Nothing is needed from it.
        return False

    def _read_chunked(self):
        total = 0
        while True:
            size_line = self._readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise DispatchError("invalid chunked encoding") from None
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            total += size
            if total > MAX_BODY_BYTES:
                raise DispatchError("HTTP response body too large")
            self._skip(size + 2)
