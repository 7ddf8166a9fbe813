"""``/queue_job/session``: the HTTP session the job runner sends with its
runjob requests, bound to their database, on a real prefork server."""
import urllib.error
import urllib.request

import pytest
from odoo.addons.queue_job.job import DONE, ENQUEUED, Job

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory(
        workers=2,
        load="web,queue_job",
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:0"},
        name="controller-session",
    )


def get(server, path, cookie=None):
    """GET ``path``: ``(status, session_id cookie set by the response or None)``."""
    request = urllib.request.Request(server.url + path)
    if cookie:
        request.add_header("Cookie", "session_id=%s" % cookie)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    for header in headers.get_all("Set-Cookie") or ():
        name, _sep, rest = header.partition("=")
        if name.strip() == "session_id":
            return status, rest.split(";", 1)[0]
    return status, None


@pytest.fixture
def enqueued_job(committed_env):
    with committed_env() as env:
        job = Job(env["test.queue.job"].testing_method, args=(7,))
        job.store()
        env["queue.job"].browse(job._db_record_id).with_context(
            _job_edit_sentinel=env["queue.job"].EDIT_SENTINEL
        ).write({"state": ENQUEUED})
    yield job.uuid
    with committed_env() as env:
        env["queue.job"].search([("uuid", "=", job.uuid)]).unlink()


def job_state(committed_env, uuid):
    with committed_env() as env:
        record = env["queue.job"].search([("uuid", "=", uuid)])
        return record.state, record.result


def test_session_runs_jobs_of_its_database(server, committed_env, enqueued_job):
    status, cookie = get(server, "/queue_job/session?db=%s" % server.db)
    assert status == 200
    assert cookie
    path = "/queue_job/runjob?db=%s&job_uuid=%s" % (server.db, enqueued_job)
    # runjob does not save sessions: no new cookie
    assert get(server, path, cookie=cookie) == (200, None)
    assert job_state(committed_env, enqueued_job) == (DONE, "((7,), {})")


def test_session_asked_again_is_kept(server):
    status, cookie = get(server, "/queue_job/session?db=%s" % server.db)
    assert status == 200
    status, again = get(server, "/queue_job/session?db=%s" % server.db, cookie)
    assert (status, again) == (200, cookie)


def test_no_session_for_unknown_database(server):
    assert get(server, "/queue_job/session?db=qj_no_such_database") == (404, None)
    assert get(server, "/queue_job/session") == (404, None)
