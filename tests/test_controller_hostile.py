"""Hostile requests to the anonymous queue_job routes, on a real prefork
server: answered 400 without touching the database, logged in a few short
lines; a failed job's huge message is stored whole but logged shortened."""
import re
import socket
import time
import urllib.parse
import urllib.request

import pytest
from odoo.addons.queue_job.job import DONE, FAILED
from test_controller import NO_RUNNER, Jobs, runjob

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

REFUSED = "refused a request to "
MORE_REFUSED = re.compile(r"refused (\d+) more requests to queue_job routes")


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory(
        workers=2, load="web,queue_job", env=NO_RUNNER, name="hostile"
    )


@pytest.fixture
def jobs(committed_env):
    jobs = Jobs(committed_env)
    yield jobs
    jobs.cleanup()


def post(server, path, data, timeout=30):
    """Status of a POST; None when the server closed the connection while
    the body was still being sent (it answered before reading the body)."""
    request = urllib.request.Request(server.url + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (BrokenPipeError, ConnectionResetError)):
            return None
        raise
    except (BrokenPipeError, ConnectionResetError):
        return None


def raw_get(server, target):
    """Status of a GET of ``target`` sent as is (urllib refuses some bytes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_hostile_requests_answered_400_and_logged_briefly(server, jobs):
    log_start = len(server.log_text())
    db = server.db
    huge_uuid = "a" * 100_000
    long_uuid = "b" * 60_000
    refused = 0

    # beyond what the HTTP server may read as a request line (it then
    # answers Request-URI Too Long)
    status = raw_get(
        server,
        b"/queue_job/runjob?db=" + db.encode() + b"&job_uuid=" + huge_uuid.encode(),
    )
    assert status in (400, 414)
    refused += status == 400
    # a long uuid in a GET, and a longer one in a body
    assert server.get("/queue_job/runjob?db=%s&job_uuid=%s" % (db, long_uuid))[0] == 400
    # refused before its body is read: the answer may not reach a client
    # still sending it
    assert post(
        server,
        "/queue_job/runjob?db=%s" % db,
        urllib.parse.urlencode({"job_uuid": "c" * 1024 * 1024}).encode(),
    ) in (400, None)
    refused += 2
    # a NUL byte (was an internal error and a traceback)
    target = "/queue_job/runjob?db=%s&job_uuid=%s%%00" % (db, "d" * 35)
    assert raw_get(server, target.encode()) == 400
    refused += 1
    # not uuids, not database names, on both routes
    for _i in range(20):
        assert runjob(server, "not-a-uuid")[0] == 400
        assert runjob(server, urllib.parse.quote("'; SELECT pg_sleep(10) --"))[0] == 400
        assert server.get("/queue_job/session?db=%s" % ("e" * 500))[0] == 400
        assert server.get("/queue_job/runjob?db=x%0Ay&job_uuid=x")[0] == 400
        refused += 4
    # a fit request is still served
    uuid = jobs.enqueued("testing_method", (1,))
    assert runjob(server, uuid) == (200, "")
    assert jobs.read(uuid, ["state"])["state"] == DONE

    # the refusals of each burst are counted, then reported
    server.wait_for_log("more requests to queue_job routes", timeout=20)
    time.sleep(2)  # the other worker's report
    log = server.log_text()[log_start:]
    lines = log.splitlines()
    first = [line for line in lines if REFUSED in line]
    counted = sum(int(m.group(1)) for m in map(MORE_REFUSED.search, lines) if m)
    assert 1 <= len(first) <= 2  # one per worker
    assert len(first) + counted == refused
    assert all(" WARNING " in line and len(line) < 600 for line in first)
    assert "(60000 characters)" in log or "query string too long" in log
    assert " ERROR " not in log
    assert "Traceback" not in log
    # the access log has a short line per request, nothing else is long
    assert max(len(line) for line in lines) < 600
    assert len(log) < 60_000


def test_huge_failure_message_stored_whole_logged_short(server, jobs):
    record_id = jobs.record()
    message = "boom " * 200_000
    uuid = jobs.enqueued("rename_then_fail", ("renamed", message), record_id=record_id)
    log_start = len(server.log_text())
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_message", "exc_info"])
    assert job["state"] == FAILED
    assert job["exc_message"] == message
    assert message in job["exc_info"]
    server.wait_for_log("characters not logged", timeout=10)
    time.sleep(1)
    log = server.log_text()[log_start:]
    assert "ValueError" in log
    assert "JobFailedError: job %s failed with ValueError: boom" % uuid in log
    assert max(len(line) for line in log.splitlines()) < 12_000
    assert len(log) < 40_000
