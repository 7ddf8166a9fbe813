"""The short way of runjob requests through Odoo's HTTP stack
(``queue_job.controllers.runjob_dispatch``), in this process, on Odoo's WSGI
application and the test database."""
import pytest
from odoo.addons.queue_job.fast_paths import runjob_dispatch
from odoo.addons.queue_job.job import DONE, ENQUEUED, FAILED
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE
from werkzeug.test import Client, EnvironBuilder


@pytest.fixture
def client(odoo, db_name):
    client = Client(odoo.http.root)
    # loads the registry, as the first request of a worker does
    assert client.get("/web/login?db=%s" % db_name).status_code == 200
    return client


def read_job(committed_env, uuid):
    with committed_env() as env:
        job = env["queue.job"].search([("uuid", "=", uuid)])
        return job.state, job.result


def environ(path, method="GET"):
    return EnvironBuilder(path=path, method=method).get_environ()


def test_job_runs_in_odoo_request(odoo, db_name, client, committed_env, enqueued_jobs):
    uuid = enqueued_jobs("http_request_seen")
    response = client.get("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "")
    # the endpoint of the database's routing map: the test addon's override
    assert response.headers["X-Test-Queue-Job-Runjob"] == "overridden"
    # runjob does not save sessions
    assert "Set-Cookie" not in response.headers
    assert read_job(committed_env, uuid) == (
        DONE,
        "db=%s endpoint=runjob auth=none uid=None lang=en_US" % db_name,
    )


def test_failed_job_rolls_request_back(
    odoo, db_name, client, committed_env, enqueued_jobs
):
    uuid = enqueued_jobs("rename_then_fail", "renamed", "boom", record_name="original")
    # as on Odoo's own way: the error goes up to the WSGI server (a 500)
    with pytest.raises(ValueError, match="boom"):
        client.get("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    state, _result = read_job(committed_env, uuid)
    assert state == FAILED
    with committed_env() as env:
        names = env["test.queue.job"].search([]).mapped("name")
    assert "renamed" not in names and "original" in names


def _signal_cache_change(registry):
    """What another process does after changing a cache."""
    with registry.cursor() as cr:
        cr.execute("SELECT nextval('base_cache_signaling')")
        return cr.fetchone()[0]


def test_registry_changes_of_other_processes_are_applied(
    odoo, db_name, client, committed_env, enqueued_jobs
):
    registry = odoo.registry(db_name)
    signaled = _signal_cache_change(registry)
    assert registry.cache_sequence != signaled
    uuid = enqueued_jobs("testing_method", 1)
    response = client.get("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    assert response.status_code == 200
    assert response.headers["X-Test-Queue-Job-Runjob"] == "overridden"
    assert odoo.registry(db_name).cache_sequence == signaled
    assert read_job(committed_env, uuid)[0] == DONE


def test_claim_undone_and_left_to_odoo_when_the_registry_changed(
    odoo, db_name, client, committed_env, enqueued_jobs
):
    """The registry is checked with the claim: the job is not run on an
    outdated registry, its lease and row are free for Odoo's dispatch."""
    registry = odoo.registry(db_name)
    uuid = enqueued_jobs("testing_method", 1)
    signaled = _signal_cache_change(registry)
    request_environ = environ("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    assert runjob_dispatch.serve_runjob(odoo.http.root, request_environ) is None
    assert registry.cache_sequence == signaled
    with committed_env() as env:
        env.cr.execute(
            "SELECT state, pg_try_advisory_lock(%s, id) FROM queue_job"
            " WHERE uuid = %s FOR UPDATE NOWAIT",
            (JOB_LEASE_NAMESPACE, uuid),
        )
        state, lease_free = env.cr.fetchone()
        assert (state, lease_free) == (ENQUEUED, True)
        env.cr.execute("SELECT pg_advisory_unlock_all()")
    request_environ = environ("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    response = runjob_dispatch.serve_runjob(odoo.http.root, request_environ)
    assert response.status_code == 200
    assert read_job(committed_env, uuid)[0] == DONE


def test_requests_dispatched_by_odoo_are_not_checked_again(odoo, db_name):
    registry = odoo.registry(db_name)
    current = (registry.registry_sequence, registry.cache_sequence)
    outdated = (registry.registry_sequence, registry.cache_sequence - 1)
    httprequest = odoo.http.HTTPRequest(environ("/"))
    httprequest.session = odoo.http.root.session_store.new()
    with odoo.http.HttpRequest(httprequest) as request:
        runjob_dispatch.check_claimed_registry(outdated)
        request._queue_job_registry_to_check = registry
        with pytest.raises(runjob_dispatch.RegistryChanged):
            runjob_dispatch.check_claimed_registry(outdated)
        runjob_dispatch.check_claimed_registry(current)


@pytest.mark.parametrize(
    "path, method",
    [
        ("/queue_job/runjob?db={db}&job_uuid=x", "POST"),
        ("/queue_job/runjob?db={db}&job_uuid=x", "HEAD"),
        ("/queue_job/session?db={db}", "GET"),
        ("/queue_job/runjob?job_uuid=x", "GET"),
        ("/queue_job/runjob?db=qj_no_such_database&job_uuid=x", "GET"),
    ],
)
def test_other_requests_left_to_odoo(odoo, db_name, client, path, method):
    request_environ = environ(path.format(db=db_name), method)
    assert runjob_dispatch.serve_runjob(odoo.http.root, request_environ) is None


def test_database_not_loaded_left_to_odoo(odoo, db_name, client, monkeypatch):
    monkeypatch.setattr(odoo.modules.registry.Registry.registries, "get", {}.get)
    request_environ = environ("/queue_job/runjob?db=%s&job_uuid=x" % db_name)
    assert runjob_dispatch.serve_runjob(odoo.http.root, request_environ) is None


@pytest.mark.parametrize(
    "routing, served",
    [
        ({"type": "http", "auth": "none", "save_session": False}, True),
        ({"type": "http", "auth": "user"}, False),
        ({"type": "json", "auth": "none"}, False),
    ],
)
def test_route_changed_by_an_override_left_to_odoo(routing, served):
    assert runjob_dispatch.is_served_here(routing) is served


def test_runjob_of_enqueued_job_answered_here(odoo, db_name, client, enqueued_jobs):
    uuid = enqueued_jobs("testing_method", 2)
    request_environ = environ("/queue_job/runjob?db=%s&job_uuid=%s" % (db_name, uuid))
    response = runjob_dispatch.serve_runjob(odoo.http.root, request_environ)
    assert response.status_code == 200
    assert response.headers["X-Test-Queue-Job-Runjob"] == "overridden"
    with odoo.registry(db_name).cursor() as cr:
        cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (uuid,))
        assert cr.fetchone()[0] == DONE
