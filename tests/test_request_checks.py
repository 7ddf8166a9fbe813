"""The checks of the parameters of ``/queue_job/runjob`` and
``/queue_job/session``, and their logging (no server: see
test_controller_hostile.py for the same over HTTP)."""
import logging
import uuid as uuid_lib
from urllib.parse import quote

import pytest
from odoo.addons.queue_job.controllers import request_checks
from odoo.addons.queue_job.controllers.request_checks import (
    BadRequestParams,
    RefusalLog,
    check_environ,
    refuse_or_none,
)

UUID = str(uuid_lib.uuid4())


def environ(path, query="", method="GET", **extra):
    return dict(PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method, **extra)


@pytest.mark.parametrize(
    "query, reason",
    [
        ("db=qj&job_uuid=" + "a" * 100_000, "query string too long"),
        ("db=qj&job_uuid=" + "a" * 300, "parameter job_uuid too long"),
        ("db=qj&job_uuid=%s&junk=%s" % (UUID, "x" * 1000), "parameter junk too long"),
        ("db=qj&job_uuid=%s%%00" % UUID[:-1], "NUL byte in parameter job_uuid"),
        ("db=qj%00&job_uuid=" + UUID, "NUL byte in parameter db"),
        ("db=qj&job_uuid=not-a-uuid", "job_uuid is not a uuid"),
        ("db=qj&job_uuid=%s'" % UUID, "job_uuid is not a uuid"),
        ("db=qj&job_uuid=%s%%0A" % UUID, "job_uuid is not a uuid"),
        ("db=%s&job_uuid=%s" % ("d" * 64, UUID), "db is not a database name"),
        ("db=a%%0Ab&job_uuid=%s" % UUID, "db is not a database name"),
        ("&".join("p%d=1" % i for i in range(20)), "too many parameters"),
    ],
)
def test_runjob_refusals(query, reason):
    with pytest.raises(BadRequestParams) as excinfo:
        check_environ(environ("/queue_job/runjob", query))
    assert excinfo.value.reason == reason


@pytest.mark.parametrize(
    "extra, reason",
    [
        ({"CONTENT_LENGTH": str(1024 * 1024)}, "request body too long"),
        ({"CONTENT_LENGTH": "lots"}, "invalid Content-Length"),
        ({"HTTP_TRANSFER_ENCODING": "chunked"}, "request body of unknown length"),
    ],
)
def test_long_bodies_refused_unread(extra, reason):
    with pytest.raises(BadRequestParams) as excinfo:
        check_environ(
            environ("/queue_job/runjob", "db=qj&job_uuid=" + UUID, "POST", **extra)
        )
    assert excinfo.value.reason == reason


@pytest.mark.parametrize(
    "path, query",
    [
        ("/queue_job/runjob", "db=qj&job_uuid=" + UUID),
        ("/queue_job/runjob", "db=qj&job_uuid=" + UUID.upper()),
        ("/queue_job/runjob", "db=%s&job_uuid=%s" % (quote("my db.é"), UUID)),
        # missing parameters are the controller's business
        ("/queue_job/runjob", "db=qj"),
        ("/queue_job/runjob", ""),
        ("/queue_job/session", "db=qj"),
        # only the queue_job routes are checked
        ("/web/login", "job_uuid=" + "a" * 5000),
    ],
)
def test_fit_requests_pass(path, query):
    assert refuse_or_none(environ(path, query)) is None


def test_session_route_checks_db():
    response = refuse_or_none(environ("/queue_job/session", "db=" + "x" * 500))
    assert response.status_code == 400


def test_refused_request_answered_400_with_reason():
    response = refuse_or_none(environ("/queue_job/runjob", "db=qj&job_uuid=zz"))
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Bad Request: job_uuid is not a uuid\n"


def test_refusals_logged_once_per_burst_truncated(caplog, monkeypatch):
    log = RefusalLog(logger=logging.getLogger("test.refusals"), window=60)
    timers = []
    monkeypatch.setattr(
        request_checks.threading,
        "Timer",
        lambda delay, function: timers.append(function) or FakeTimer(),
    )
    error = BadRequestParams("job_uuid is not a uuid", "u" * 100_000)
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for _i in range(1000):
            log.refused("/queue_job/runjob", error)
        assert len(caplog.records) == 1
        (function,) = timers
        function()
    first, summary = (record.getMessage() for record in caplog.records)
    assert "'%s'... (100000 characters)" % ("u" * 100) in first
    assert len(first) < 400
    assert summary.startswith("refused 999 more requests")
    assert len(summary) < 400


class FakeTimer:
    daemon = False

    def start(self):
        pass


def test_shorten_middle_keeps_both_ends():
    text = "Traceback\n" + "x" * 100_000 + "\nValueError: end"
    short = request_checks.shorten_middle(text, 1000)
    assert short.startswith("Traceback\n") and short.endswith("ValueError: end")
    assert len(short) < 1100
    assert "characters not logged" in short


def test_long_access_log_line_of_queue_job_routes_shortened():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /queue_job/runjob?job_uuid=%s HTTP/1.1" % ("a" * 60000), "400", "-"),
        None,
    )
    request_checks.AccessLogFilter().filter(record)
    assert len(record.getMessage()) < 400


def test_refused_at_the_wsgi_entry_before_any_dispatch(odoo, monkeypatch):
    """The check comes before the short runjob path and Odoo's dispatch."""
    from odoo.addons.queue_job.fast_paths import runjob_dispatch

    def no_dispatch(*args):
        raise AssertionError("dispatched")

    monkeypatch.setattr(runjob_dispatch, "serve_runjob", no_dispatch)
    statuses = []
    body = odoo.http.root(
        environ("/queue_job/runjob", "db=qj&job_uuid=" + "%00" * 3),
        lambda status, headers: statuses.append(status),
    )
    assert statuses == ["400 BAD REQUEST"]
    assert b"".join(body) == b"Bad Request: NUL byte in parameter job_uuid\n"


@pytest.mark.parametrize(
    "method, params, reason",
    [
        ("runjob", {"db": "qj", "job_uuid": "nope"}, "job_uuid is not a uuid"),
        ("runjob", {"db": "qj\x00", "job_uuid": UUID}, "NUL byte in parameter db"),
        (
            "runjob",
            {"db": "qj", "job_uuid": UUID, "x": "y" * 1000},
            "parameter x too long",
        ),
        ("session", {"db": "q" * 300}, "parameter db too long"),
    ],
)
def test_refused_by_the_controllers_too(method, params, reason):
    """For a request Odoo dispatched before queue_job was imported."""
    from odoo.addons.queue_job.controllers.main import RunJobController

    # the function itself: the route's wrapper needs a bound request
    function = getattr(RunJobController, method).original_func
    response = function(RunJobController(), **params)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Bad Request: %s\n" % reason


def test_a_request_checked_at_the_wsgi_entry_is_marked():
    checked = environ("/queue_job/runjob", "db=qj&job_uuid=" + UUID)
    assert request_checks.refuse_or_none(checked) is None
    assert checked[request_checks.CHECKED_ENVIRON_KEY] is True
    refused = environ("/queue_job/runjob", "db=qj&job_uuid=nope")
    assert request_checks.refuse_or_none(refused).status_code == 400
    assert request_checks.CHECKED_ENVIRON_KEY not in refused
