"""``/queue_job/runjob`` and ``/queue_job/create_test_job`` over HTTP, on a real
prefork Odoo server without job runner, and bad input."""
import json
import time
import urllib.request
import uuid as uuid_lib
from datetime import datetime, timedelta

import psycopg2
import pytest
from harness import odoo_runtime
from harness.server import OdooServer
from odoo.addons.queue_job.job import (
    DONE,
    ENQUEUED,
    FAILED,
    PENDING,
    WAIT_DEPENDENCIES,
    Job,
)

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

NO_RUNNER = {"ODOO_QUEUE_JOB_CHANNELS": "root:0"}


@pytest.fixture(scope="module")
def server(module_server_factory):
    """One prefork server for the module: the jobs are run only by the tests."""
    return module_server_factory(
        workers=2, load="web", env=NO_RUNNER, name="controller"
    )


class Jobs:
    """Jobs and records committed for a test, deleted at teardown."""

    def __init__(self, committed_env):
        self.committed_env = committed_env
        self.uuids = []
        self.record_ids = []

    def record(self, name="original"):
        with self.committed_env() as env:
            record = env["test.queue.job"].create({"name": name})
            self.record_ids.append(record.id)
            return record.id

    def enqueued(
        self,
        method_name,
        args=(),
        kwargs=None,
        record_id=None,
        state=ENQUEUED,
        **options
    ):
        """Store a job of ``test.queue.job``, in state ``state``: its uuid."""
        with self.committed_env() as env:
            records = env["test.queue.job"].browse(record_id or [])
            job = Job(
                getattr(records, method_name), args=args, kwargs=kwargs, **options
            )
            job.store()
            self.set_state(job.uuid, state, env=env)
            self.uuids.append(job.uuid)
            return job.uuid

    def set_state(self, uuid, state, env=None, **vals):
        if env is None:
            with self.committed_env() as env:
                return self.set_state(uuid, state, env=env, **vals)
        record = env["queue.job"].search([("uuid", "=", uuid)])
        record.with_context(_job_edit_sentinel=record.EDIT_SENTINEL).write(
            dict(vals, state=state)
        )

    def read(self, uuid, fields):
        with self.committed_env() as env:
            record = env["queue.job"].search([("uuid", "=", uuid)])
            return record.read(fields)[0] if record else None

    def cleanup(self):
        with self.committed_env() as env:
            env["queue.job"].search([("uuid", "in", self.uuids)]).unlink()
            env["test.queue.job"].browse(self.record_ids).exists().unlink()


@pytest.fixture
def jobs(committed_env):
    jobs = Jobs(committed_env)
    yield jobs
    jobs.cleanup()


def runjob(server, uuid, db=None):
    return server.get("/queue_job/runjob?db=%s&job_uuid=%s" % (db or server.db, uuid))


def assert_logged(server, text):
    server.wait_for_log(text, timeout=10)


def test_job_not_enqueued_is_not_run(server, jobs):
    record_id = jobs.record()
    uuid = jobs.enqueued("rename", ("renamed",), record_id=record_id, state=PENDING)
    assert runjob(server, uuid) == (200, "")
    assert_logged(
        server,
        "requested to run job %s, but it is in state pending, not enqueued" % uuid,
    )
    job = jobs.read(uuid, ["state", "retry", "date_started"])
    assert (job["state"], job["retry"], job["date_started"]) == (PENDING, 0, False)
    with jobs.committed_env() as env:
        assert env["test.queue.job"].browse(record_id).name == "original"


def test_bad_requests_run_nothing(server, jobs):
    log_start = len(server.log_text())
    unknown = str(uuid_lib.uuid4())
    assert runjob(server, unknown) == (200, "")
    assert_logged(
        server,
        "requested to run job %s, but it does not exist: nothing to run" % unknown,
    )
    uuid = jobs.enqueued("testing_method")
    assert server.get("/queue_job/runjob?job_uuid=%s" % uuid) == (200, "")
    assert server.get("/queue_job/runjob?db=%s" % server.db) == (200, "")
    assert_logged(server, "runjob called without database or job uuid")
    assert runjob(server, uuid, db="qj_no_such_database") == (200, "")
    assert_logged(
        server,
        "runjob asked to run job %s of database 'qj_no_such_database' on a request"
        " bound to database %r: nothing to run" % (uuid, server.db),
    )
    assert jobs.read(uuid, ["state"])["state"] == ENQUEUED
    assert " ERROR " not in server.log_text()[log_start:]


def test_success(server, jobs):
    record_id = jobs.record()
    uuid = jobs.enqueued("rename", ("renamed",), record_id=record_id)
    assert runjob(server, uuid) == (200, "")
    job = jobs.read(
        uuid, ["state", "result", "retry", "date_started", "date_done", "exec_time"]
    )
    assert job["state"] == DONE
    assert job["result"] == "renamed"
    assert job["retry"] == 1
    assert job["date_done"] >= job["date_started"]
    assert job["exec_time"] == pytest.approx(
        (job["date_done"] - job["date_started"]).total_seconds()
    )
    with jobs.committed_env() as env:
        assert env["test.queue.job"].browse(record_id).name == "renamed"


def test_started_is_committed_before_running(server, jobs):
    uuid = jobs.enqueued("job_state_seen_from_outside")
    assert runjob(server, uuid) == (200, "")
    job = jobs.read(uuid, ["state", "result", "worker_pid"])
    assert (job["state"], job["result"]) == (DONE, "started")
    assert job["worker_pid"] in server.child_pids()


def _graph(jobs, names_and_states, edges):
    """Store a graph of jobs; ``edges`` are (parent, child) names."""
    with jobs.committed_env() as env:
        method = env["test.queue.job"].testing_method
        by_name = {name: Job(method, description=name) for name, _ in names_and_states}
        for parent, child in edges:
            by_name[child].add_depends({by_name[parent]})
        graph_uuid = str(uuid_lib.uuid4())
        for name, state in names_and_states:
            job = by_name[name]
            job.graph_uuid = graph_uuid
            job.state = state
            job.store()
            jobs.uuids.append(job.uuid)
    return {name: job.uuid for name, job in by_name.items()}


def test_success_releases_dependents(server, jobs):
    graph = _graph(
        jobs,
        [
            ("parent", ENQUEUED),
            ("other_parent", PENDING),
            ("child", WAIT_DEPENDENCIES),
            ("child_of_both", WAIT_DEPENDENCIES),
        ],
        [
            ("parent", "child"),
            ("parent", "child_of_both"),
            ("other_parent", "child_of_both"),
        ],
    )
    assert runjob(server, graph["parent"]) == (200, "")
    states = {name: jobs.read(uuid, ["state"])["state"] for name, uuid in graph.items()}
    assert states == {
        "parent": DONE,
        "other_parent": PENDING,
        "child": PENDING,
        "child_of_both": WAIT_DEPENDENCIES,
    }


@pytest.mark.parametrize(
    "message, result",
    [
        ("Already imported", "Already imported"),
        ("", "Job interrupted and set to Done: nothing to do."),
    ],
)
def test_nothing_to_do(server, jobs, message, result):
    uuid = jobs.enqueued("nothing_to_do", (message,))
    assert runjob(server, uuid) == (200, "")
    job = jobs.read(uuid, ["state", "result", "date_done"])
    assert (job["state"], job["result"]) == (DONE, result)
    assert job["date_done"]


def test_retryable_error(server, jobs):
    uuid = jobs.enqueued("raise_retryable", kwargs={"seconds": 30})
    before = datetime.utcnow()
    assert runjob(server, uuid) == (200, "")
    job = jobs.read(
        uuid, ["state", "eta", "result", "retry", "date_started", "exc_name"]
    )
    assert (job["state"], job["result"], job["retry"]) == (PENDING, "Retry me", 1)
    assert job["date_started"] is False
    assert job["exc_name"] is False
    assert before + timedelta(seconds=29) <= job["eta"]
    assert job["eta"] <= datetime.utcnow() + timedelta(seconds=31)


def test_retries_exhausted(server, jobs):
    uuid = jobs.enqueued("raise_retryable", max_retries=1)
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_name", "exc_message", "retry"])
    assert job["state"] == FAILED
    assert job["exc_name"] == "odoo.addons.queue_job.exception.FailedJobError"
    assert job["exc_message"] == "Max. retries (1) reached: Retry me"


def test_failure(server, jobs):
    record_id = jobs.record()
    uuid = jobs.enqueued("rename_then_fail", ("renamed", "boom"), record_id=record_id)
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_name", "exc_message", "exc_info", "date_done"])
    assert job["state"] == FAILED
    assert job["exc_name"] == "builtins.ValueError"
    assert job["exc_message"] == "boom"
    assert job["exc_info"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in job["exc_info"]
    assert job["date_done"] is False
    with jobs.committed_env() as env:
        record = env["queue.job"].search([("uuid", "=", uuid)])
        failure_subtype = env.ref("queue_job.mt_job_failed")
        messages = record.message_ids.filtered(
            lambda m: m.subtype_id == failure_subtype
        )
        assert len(messages) == 1
        assert uuid in messages.body
        assert env.ref("base.user_admin").partner_id in (
            record.message_follower_ids.partner_id
        )
        # the job's own changes are rolled back
        assert env["test.queue.job"].browse(record_id).name == "original"


def test_failure_user_error(server, jobs):
    uuid = jobs.enqueued("raise_user_error", ("Nope, not today",))
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_name", "exc_message"])
    assert (job["state"], job["exc_name"], job["exc_message"]) == (
        FAILED,
        "odoo.exceptions.UserError",
        "Nope, not today",
    )


def test_serialization_failure_is_retried(server, jobs):
    uuid = jobs.enqueued("raise_serialization_failure")
    before = datetime.utcnow()
    assert runjob(server, uuid) == (200, "")
    job = jobs.read(uuid, ["state", "eta", "result", "retry"])
    assert job["state"] == PENDING
    assert "simulated concurrent update" in job["result"]
    assert job["retry"] == 1
    assert before + timedelta(seconds=4) <= job["eta"]
    assert job["eta"] <= datetime.utcnow() + timedelta(seconds=6)


def test_records_deleted(server, jobs):
    record_id = jobs.record()
    other_id = jobs.record()
    with jobs.committed_env() as env:
        records = env["test.queue.job"].browse([record_id, other_id])
        job = Job(records.rename, args=("renamed",))
        job.store()
        jobs.set_state(job.uuid, ENQUEUED, env=env)
        jobs.uuids.append(job.uuid)
        records[1].unlink()
    status, __ = runjob(server, job.uuid)
    assert status == 500
    job_values = jobs.read(job.uuid, ["state", "exc_name", "exc_message", "retry"])
    assert job_values["state"] == FAILED
    assert job_values["exc_name"] == "odoo.exceptions.MissingError"
    assert job_values["exc_message"] == (
        "Record(s) test.queue.job(%s) of the job do not exist (anymore)." % other_id
    )
    assert job_values["retry"] == 0
    with jobs.committed_env() as env:
        assert env["test.queue.job"].browse(record_id).name == "original"


def _corrupt(jobs, uuid, **columns):
    """Simulate an uninstalled model or removed method, behind the ORM's back."""
    with jobs.committed_env() as env:
        for column, value in columns.items():
            env.cr.execute(
                "UPDATE queue_job SET %s = %%s WHERE uuid = %%s" % column,
                (value, uuid),
            )


def test_model_deleted(server, jobs):
    uuid = jobs.enqueued("testing_method")
    _corrupt(jobs, uuid, model_name="test.removed.model")
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_name", "exc_message"])
    assert job["state"] == FAILED
    assert job["exc_name"] == "odoo.addons.queue_job.exception.JobError"
    assert "test.removed.model" in job["exc_message"]
    assert "does not exist" in job["exc_message"]


def test_method_deleted(server, jobs):
    uuid = jobs.enqueued("testing_method")
    _corrupt(jobs, uuid, method_name="removed_method")
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_name", "exc_message"])
    assert job["state"] == FAILED
    assert job["exc_name"] == "odoo.addons.queue_job.exception.JobError"
    assert "removed_method" in job["exc_message"]


def test_unreadable_arguments(server, jobs):
    uuid = jobs.enqueued("testing_method")
    _corrupt(jobs, uuid, args="[not json")
    status, __ = runjob(server, uuid)
    assert status == 500
    job = jobs.read(uuid, ["state", "exc_message"])
    assert job["state"] == FAILED
    assert job["exc_message"].startswith("The job could not be loaded: ")


class Session:
    """A logged-in browser session on a server."""

    def __init__(self, server, login, password):
        self.server = server
        request = urllib.request.Request(
            server.url + "/web/session/authenticate",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "params": {"db": server.db, "login": login, "password": password},
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
            assert "error" not in body, body
            cookie = response.headers["Set-Cookie"]
        self.cookie = cookie.split(";")[0]

    def get(self, path):
        return self.server.get(path, headers={"Cookie": self.cookie})


@pytest.fixture
def users(committed_env):
    logins = []

    def create(login, groups):
        with committed_env() as env:
            env["res.users"].with_context(no_reset_password=True).create(
                {
                    "name": login,
                    "login": login,
                    "password": login + "-pwd",
                    "groups_id": [(6, 0, [env.ref(xmlid).id for xmlid in groups])],
                }
            )
        logins.append(login)
        return login, login + "-pwd"

    yield create
    with committed_env() as env:
        env["res.users"].with_context(active_test=False).search(
            [("login", "in", logins)]
        ).unlink()


@pytest.fixture
def erp_manager(server, users):
    suffix = uuid_lib.uuid4().hex[:8]
    return Session(
        server,
        *users(
            "qj_erp_manager_" + suffix, ["base.group_user", "base.group_erp_manager"]
        )
    )


def _test_job_uuids(jobs, description):
    """Register the test jobs named ``description`` for cleanup: their uuids."""
    with jobs.committed_env() as env:
        records = env["queue.job"].search([("name", "like", description)])
        jobs.uuids.extend(records.mapped("uuid"))
        return records.read(["uuid", "graph_uuid", "name", "state", "priority"])


def test_create_test_job_forbidden(server, users):
    session = Session(
        server, *users("qj_plain_user_%d" % time.time(), ["base.group_user"])
    )
    status, __ = session.get("/queue_job/create_test_job")
    assert status == 403


def test_create_test_job_not_logged_in(server):
    # anonymous visitors are redirected to the login page
    status, body = server.get("/queue_job/create_test_job")
    assert status == 200
    assert 'name="login"' in body
    assert "job uuid" not in body


def test_create_test_job_bad_failure_rate(server, erp_manager):
    for rate in ("2", "-0.5", "nan"):
        status, body = erp_manager.get(
            "/queue_job/create_test_job?failure_rate=" + rate
        )
        assert status == 400
        assert "failure_rate must be between 0 and 1" in body


def test_create_single_test_job(server, erp_manager, jobs):
    description = "qj single %s" % uuid_lib.uuid4().hex
    status, body = erp_manager.get(
        "/queue_job/create_test_job?priority=3&size=1&description="
        + description.replace(" ", "%20")
    )
    (job,) = _test_job_uuids(jobs, description)
    assert (status, body) == (200, "job uuid: %s" % job["uuid"])
    assert (job["state"], job["priority"], job["graph_uuid"]) == (PENDING, 3, False)


def test_create_graph_test_jobs(server, erp_manager, jobs):
    description = "qj graph %s" % uuid_lib.uuid4().hex
    status, body = erp_manager.get(
        "/queue_job/create_test_job?size=10&priority=x&description="
        + description.replace(" ", "%20")
    )
    created = _test_job_uuids(jobs, description)
    assert status == 200
    assert len(created) == 10
    graph_uuids = {job["graph_uuid"] for job in created}
    assert len(graph_uuids) == 1
    assert body == "graph uuid: %s" % graph_uuids.pop()
    assert sorted(job["name"] for job in created) == sorted(
        "%s #%d" % (description, n) for n in range(1, 11)
    )
    assert {job["state"] for job in created} <= {PENDING, WAIT_DEPENDENCIES}
    assert PENDING in {job["state"] for job in created}
    assert {job["priority"] for job in created} == {10}


def test_create_no_test_job(server, erp_manager):
    assert erp_manager.get("/queue_job/create_test_job?size=0") == (200, "")


def _wait_answering(server, path, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if server.get(path, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)


@pytest.fixture
def another_database(odoo):
    """An empty second database of the same owner, so that Odoo cannot guess
    the database of a request from a list of one."""
    from harness import database

    name = database.unique_db_name("qjo")
    conn = psycopg2.connect(**odoo_runtime.postgres_connect_kwargs(odoo, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute('CREATE DATABASE "%s"' % name)
    conn.close()
    yield name
    database.drop_database(odoo, name)


def test_runjob_binds_database_without_session(
    db_name, addons_path, jobs, another_database
):
    """Several databases, no session: runjob binds the request to ``db``."""
    server = OdooServer(
        db=db_name,
        addons_path=addons_path,
        workers=2,
        load="web,queue_job",
        env=NO_RUNNER,
        name="controller-nodb",
        extra_args=["--db-filter=.*"],
    )
    try:
        # the harness' readiness probe needs a request bound to a database
        server.start(wait=False)
        _wait_answering(server, "/queue_job/runjob")
        uuid = jobs.enqueued("testing_method", (1,))
        assert runjob(server, uuid, db="qj_no_such_database") == (200, "")
        assert_logged(
            server,
            "runjob asked to run job %s of unknown database 'qj_no_such_database'"
            % uuid,
        )
        assert jobs.read(uuid, ["state"])["state"] == ENQUEUED
        assert runjob(server, uuid) == (200, "")
        job = jobs.read(uuid, ["state", "result"])
        assert (job["state"], job["result"]) == (DONE, "((1,), {})")
    finally:
        server.stop()
