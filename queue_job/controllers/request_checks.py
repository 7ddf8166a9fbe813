# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Checks of the parameters of the anonymous queue_job routes.

``/queue_job/runjob`` and ``/queue_job/session`` answer anyone: their
parameters are checked before anything else (no database is touched, no
session read), a bad request is answered 400, and the refusals are logged
once per burst, values truncated, so that a client sending garbage can
neither flood the log nor reach the database with it.

Applied at the WSGI entry (``runjob_dispatch.install``), for every request
once queue_job's hooks are installed, which marks the request as checked
(``CHECKED_ENVIRON_KEY``); the controllers check only the requests not so
marked (one Odoo dispatched before the hooks were installed).
"""
import logging
import re
import threading
import time
from urllib.parse import parse_qsl

_logger = logging.getLogger(__name__)

RUNJOB_PATH = "/queue_job/runjob"
SESSION_PATH = "/queue_job/session"
CHECKED_PATHS = (RUNJOB_PATH, SESSION_PATH)
# Set in the WSGI environ of a request whose parameters were checked.
CHECKED_ENVIRON_KEY = "queue_job.params_checked"

# Longest parameter (name or value) accepted: the runner sends a uuid and a
# database name, far shorter.
MAX_PARAM_LENGTH = 256
MAX_PARAMS = 16
# Longest query string and request body accepted (checked before they are
# parsed or read).
MAX_QUERY_LENGTH = 2048
MAX_BODY_LENGTH = 4096
# Characters of a refused value shown in the log.
LOGGED_VALUE_LENGTH = 100
# Seconds during which the refusals following a logged one are only counted.
BURST_WINDOW = 10.0

UUID_RE = re.compile(
    r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
# PostgreSQL truncates identifiers to this many bytes.
MAX_DB_NAME_BYTES = 63
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")


def shorten(text, limit=LOGGED_VALUE_LENGTH):
    """``text`` cut at ``limit`` characters, saying how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[:limit], len(text))


def shown(value):
    """``value`` for the log: its repr, cut at ``LOGGED_VALUE_LENGTH``."""
    value = str(value)
    text = repr(value[:LOGGED_VALUE_LENGTH])
    if len(value) > LOGGED_VALUE_LENGTH:
        text += "... (%d characters)" % len(value)
    return text


def shorten_middle(text, limit):
    """``text`` with its middle left out beyond ``limit`` characters: a
    traceback keeps its first frames and the end of its message."""
    if len(text) <= limit:
        return text
    tail = limit // 5
    head = limit - tail
    return "%s\n[... %d characters not logged ...]\n%s" % (
        text[:head],
        len(text) - head - tail,
        text[-tail:],
    )


def is_plausible_db_name(name):
    """A name PostgreSQL could have given a database: not empty, no control
    character, not longer than an identifier. Odoo's stricter pattern is
    not required: the runner serves any database it lists."""
    return (
        bool(name)
        and not CONTROL_CHARS_RE.search(name)
        and len(name.encode("utf-8", "surrogatepass")) <= MAX_DB_NAME_BYTES
    )


class BadRequestParams(ValueError):
    """Why a request is refused: ``reason``, and the ``value`` refused."""

    def __init__(self, reason, value=""):
        super().__init__(reason)
        self.reason = reason
        self.value = value


def check_params(path, params):
    """Raise BadRequestParams unless ``params`` (name, value pairs) are
    fit for the route ``path``. Missing parameters are the controller's
    business (answered, and logged, as nothing to run)."""
    if len(params) > MAX_PARAMS:
        raise BadRequestParams("too many parameters", str(len(params)))
    for name, value in params:
        for text in (name, value):
            if len(text) > MAX_PARAM_LENGTH:
                raise BadRequestParams("parameter %s too long" % shorten(name), text)
            if "\x00" in text:
                raise BadRequestParams("NUL byte in parameter %s" % shorten(name), text)
        if name == "db" and value and not is_plausible_db_name(value):
            raise BadRequestParams("db is not a database name", value)
        if path == RUNJOB_PATH and name == "job_uuid" and value:
            if not UUID_RE.match(value):
                raise BadRequestParams("job_uuid is not a uuid", value)


def check_environ(environ):
    """Raise BadRequestParams unless the WSGI request ``environ`` to one of
    ``CHECKED_PATHS`` has fit parameters. Its body is never read here: a
    body too long is refused by its announced length."""
    query = environ.get("QUERY_STRING", "")
    if len(query) > MAX_QUERY_LENGTH:
        raise BadRequestParams("query string too long", query)
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        raise BadRequestParams("request body of unknown length")
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(length)
    except ValueError:
        raise BadRequestParams("invalid Content-Length", length) from None
    if length > MAX_BODY_LENGTH:
        raise BadRequestParams("request body too long", "%d bytes" % length)
    # as werkzeug decodes them; "+" and "%xx" included
    params = parse_qsl(query, keep_blank_values=True, errors="replace")
    check_params(environ.get("PATH_INFO", ""), params)


class RefusalLog:
    """Logs a refused request, then only counts those of the same burst.

    The first refusal is logged at once; the following ones, within
    ``window`` seconds of it, are counted, and their number is logged when
    the window closes (by a timer: a burst that stops is still reported).
    """

    def __init__(self, logger=_logger, window=BURST_WINDOW):
        self.logger = logger
        self.window = window
        self._lock = threading.Lock()
        self._burst_end = 0.0
        self._count = 0
        self._last = None

    def refused(self, path, error):
        now = time.monotonic()
        with self._lock:
            if now < self._burst_end:
                self._count += 1
                self._last = (path, error)
                return
            self._burst_end = now + self.window
            self._count = 0
        self.logger.warning(
            "refused a request to %s (answered 400): %s (%s); further refusals"
            " are counted for %.0fs",
            path,
            error.reason,
            shown(error.value),
            self.window,
        )
        timer = threading.Timer(self.window, self.flush)
        timer.daemon = True
        timer.start()

    def flush(self):
        """Log how many requests were refused since the last log line."""
        with self._lock:
            count, last = self._count, self._last
            self._count, self._last = 0, None
        if count:
            path, error = last
            self.logger.warning(
                "refused %d more requests to queue_job routes (answered 400)"
                " in the last %.0fs; the last one to %s: %s (%s)",
                count,
                self.window,
                path,
                error.reason,
                shown(error.value),
            )


refusal_log = RefusalLog()

# Longest request line of a queue_job route in the server's access log.
LOGGED_REQUEST_LINE_LENGTH = 300


class AccessLogFilter(logging.Filter):
    """Shortens the access log line of a request to a queue_job route: the
    HTTP server logs whole request lines, which a client makes as long as
    the server accepts."""

    def filter(self, record):
        args = record.args
        if '"%s" %s %s' not in str(record.msg):
            return True  # not a request line
        if isinstance(args, tuple) and any(
            isinstance(arg, str)
            and len(arg) > LOGGED_REQUEST_LINE_LENGTH
            and "/queue_job/" in arg
            for arg in args
        ):
            record.args = tuple(
                shorten(arg, LOGGED_REQUEST_LINE_LENGTH)
                if isinstance(arg, str) and len(arg) > LOGGED_REQUEST_LINE_LENGTH
                else arg
                for arg in args
            )
        return True


def refuse_or_none(environ):
    """The 400 answer to the WSGI request ``environ`` when it is to one of
    ``CHECKED_PATHS`` with unfit parameters (logged), else None."""
    path = environ.get("PATH_INFO")
    if path not in CHECKED_PATHS:
        return None
    try:
        check_environ(environ)
    except BadRequestParams as error:
        refusal_log.refused(path, error)
        return bad_request_response(error)
    environ[CHECKED_ENVIRON_KEY] = True
    return None


def refuse_params_or_none(path, params):
    """As ``refuse_or_none``, for the parameters a controller received."""
    try:
        check_params(
            path,
            [(str(name), str(value)) for name, value in params.items()],
        )
    except BadRequestParams as error:
        refusal_log.refused(path, error)
        return bad_request_response(error)
    return None


def bad_request_response(error):
    """The 400 answer to a refused request (a plain text reason)."""
    from werkzeug.wrappers import Response

    return Response(
        "Bad Request: %s\n" % error.reason, status=400, mimetype="text/plain"
    )
