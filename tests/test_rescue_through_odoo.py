"""The end of a job whose worker died is written by Odoo, through the Job API.

The runner hands the started jobs whose lease is free to ``/queue_job/rescue``
(an Odoo worker ends them with ``Job.store()``): a failure gets the failure
message and followers of any failed job, and the stores go through the
job's ``_job_store_values`` hooks like any other (``sleep_first_try`` jobs
append each stored state to ``additional_info``; an end written in SQL
leaves no trace there). The route refuses anything but a started job whose
lease is free and whose row no transaction holds.
"""
import os
import signal
from contextlib import closing

import psycopg2
import pytest
from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.lease import acquire_job_lease
from odoo.addons.queue_job.rescue import rescue_dead_job
from reliability_helpers import WORKER_DIED_ERROR, held_leases, sql, wait_until

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

ROOT_3 = {"ODOO_QUEUE_JOB_CHANNELS": "root:3"}
RESCUE_TARGET = 10  # seconds


@pytest.fixture(scope="module")
def server(module_server_factory):
    server = module_server_factory(name="rescue-odoo", workers=3, env=ROOT_3)
    server.wait_for_log("queue job runner ready for db %s" % server.db, timeout=60)
    return server


def _admin(committed_env):
    with committed_env() as env:
        admin = env.ref("base.user_admin")
        return admin.id, admin.partner_id.id


# -- the route's condition, in-process (before the server starts) --------


@pytest.fixture
def started_job(committed_env, db_name):
    """A committed ``test.queue.job`` job in state ``state`` (started by a
    worker of pid 4242 by default); returns ``(uuid, id)``."""
    uuids = []

    def factory(state="started"):
        with committed_env() as env:
            job = Job(env["test.queue.job"].testing_method, eta=3600)
            job.store()
            env.cr.execute(
                "UPDATE queue_job SET state = %s, worker_pid = 4242 WHERE uuid = %s"
                " RETURNING id",
                (state, job.uuid),
            )
            uuids.append(job.uuid)
            return job.uuid, env.cr.fetchone()[0]

    yield factory
    sql(db_name, "DELETE FROM queue_job WHERE uuid = ANY(%s)", (uuids,))


def _rescue(committed_env, uuid):
    with committed_env() as env:
        return rescue_dead_job(env, uuid)


def _state(db_name, uuid):
    return sql(
        db_name, "SELECT state, retry, result FROM queue_job WHERE uuid = %s", (uuid,)
    )[0]


def test_route_refuses_a_job_that_is_not_started(committed_env, db_name, started_job):
    uuid, _id = started_job(state="pending")
    answer = _rescue(committed_env, uuid)
    assert answer == "queue_job rescue: not rescued: it is pending, not started"
    assert _state(db_name, uuid) == ("pending", 0, None)
    answer = _rescue(committed_env, "no-such-uuid")
    assert answer == "queue_job rescue: not rescued: it does not exist"


def test_route_refuses_a_job_whose_lease_is_held(committed_env, db_name, started_job):
    uuid, job_id = started_job()
    with closing(psycopg2.connect(dbname=db_name)) as worker:
        worker.autocommit = True
        with worker.cursor() as cr:
            assert acquire_job_lease(cr, job_id, wait=0)
        answer = _rescue(committed_env, uuid)
        assert answer == (
            "queue_job rescue: not rescued: its lease is held: its worker is alive"
        )
        assert _state(db_name, uuid) == ("started", 0, None)
        # a transaction writing the row (a worker storing the end)
        with closing(psycopg2.connect(dbname=db_name)) as other:
            with other.cursor() as cr:
                cr.execute(
                    "SELECT 1 FROM queue_job WHERE id = %s FOR UPDATE", (job_id,)
                )
                answer = _rescue(committed_env, uuid)
            other.rollback()
        assert answer.endswith("its row is being written by another transaction")
    # the worker is gone (its backend ends after the connection's close):
    # the job is requeued, its try counted
    wait_until(
        lambda: job_id not in held_leases(db_name), 10, "the lease is still held"
    )
    answer = _rescue(committed_env, uuid)
    assert answer == "queue_job rescue: pending 4242 1"
    assert _state(db_name, uuid) == (
        "pending",
        1,
        "Requeued: the worker running the job (pid 4242) died.",
    )


# -- on a real server with its runner ------------------------------------


@pytest.mark.timeout(240)
def test_dead_jobs_are_ended_through_the_job_api(server, jobs, committed_env):
    admin_id, admin_partner = _admin(committed_env)
    uuids = []
    with committed_env(uid=admin_id) as env:
        model = env["test.reliability.job"]
        for name, options in (("retried", {}), ("exhausted", {"max_retries": 1})):
            job = model.with_delay(**options).sleep_first_try(
                "%s-%s" % (jobs.prefix, name), 60.0
            )
            uuids.append(job.uuid)
            jobs.names[job.uuid] = "%s-%s" % (jobs.prefix, name)
    jobs.uuids += uuids
    retried, exhausted = uuids
    jobs.wait_states({"started"}, timeout=30)
    killed = {uuid: jobs.row(uuid, "worker_pid")[0] for uuid in uuids}
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: "started" not in jobs.states().values(),
        RESCUE_TARGET,
        "jobs of killed workers still started",
    )
    jobs.wait_states({"done"}, [retried], timeout=60)

    # The killed try counts, and the requeue was stored by the Job API.
    assert jobs.row(retried, "retry", "additional_info") == (
        2,
        "pending started pending started done",
    )
    job_id, state, exc_name, retry, user_id, info = jobs.row(
        exhausted, "id", "state", "exc_name", "retry", "user_id", "additional_info"
    )
    assert (state, exc_name, retry, user_id) == (
        "failed",
        WORKER_DIED_ERROR,
        1,
        admin_id,
    )
    assert info == "pending started failed"
    assert str(killed[exhausted]) in jobs.row(exhausted, "exc_message")[0]
    # What queue.job.write() does for a failure: message and followers.
    messages = jobs.sql(
        "SELECT m.author_id, m.body FROM mail_message m"
        " JOIN ir_model_data d ON d.model = 'mail.message.subtype'"
        " AND d.res_id = m.subtype_id"
        " WHERE m.model = 'queue.job' AND m.res_id = %s"
        " AND d.module = 'queue_job' AND d.name = 'mt_job_failed'",
        (job_id,),
    )
    assert len(messages) == 1
    author, body = messages[0]
    assert author == admin_partner
    assert exhausted in body
    followers = {
        partner
        for (partner,) in jobs.sql(
            "SELECT partner_id FROM mail_followers"
            " WHERE res_model = 'queue.job' AND res_id = %s",
            (job_id,),
        )
    }
    assert admin_partner in followers
    server.wait_for_log(
        "job %s was started by a worker that died (pid %s), try 1:"
        " failed, no try left" % (exhausted, killed[exhausted]),
        timeout=10,
    )
    assert "rescued in SQL" not in server.log_text()


def test_route_is_anonymous_and_refuses_live_or_waiting_jobs(
    server, committed_env, db_name, started_job
):
    """Over HTTP, without credentials (the runner of the server would end a
    dead job first: only refusals are checked here)."""
    uuid, job_id = started_job()
    pending, _id = started_job(state="pending")
    with closing(psycopg2.connect(dbname=db_name)) as worker:
        worker.autocommit = True
        with worker.cursor() as cr:
            assert acquire_job_lease(cr, job_id, wait=0)
        status, body = server.get(
            "/queue_job/rescue?db=%s&job_uuid=%s" % (db_name, uuid)
        )
        assert (status, body) == (
            200,
            "queue_job rescue: not rescued: its lease is held: its worker is alive",
        )
        assert _state(db_name, uuid)[:2] == ("started", 0)
        status, body = server.get(
            "/queue_job/rescue?db=%s&job_uuid=%s" % (db_name, pending)
        )
        assert (status, body) == (
            200,
            "queue_job rescue: not rescued: it is pending, not started",
        )
