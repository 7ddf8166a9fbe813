"""The lease of a running job (``queue_job.lease``), on a real prefork server.

The server has no job runner: the tests mark jobs enqueued and call
``/queue_job/runjob`` themselves, and watch the advisory locks in pg_locks:
the lease is held by the worker's connection from the moment the job is
started until its final state is committed, across the job's own commits,
released after every outcome, and freed by PostgreSQL when the worker dies.
"""
import os
import signal
import threading
from contextlib import closing
from datetime import datetime, timedelta

import psycopg2
import pytest
from odoo.addons.queue_job.job import PENDING, STARTED, Job
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE, acquire_job_lease
from odoo.tests.common import TransactionCase
from reliability_helpers import held_leases, sql, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NO_RUNNER = {"ODOO_QUEUE_JOB_CHANNELS": "root:0"}


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory(workers=2, load="web", env=NO_RUNNER, name="lease")


def enqueue(jobs, uuid):
    jobs.sql("UPDATE queue_job SET state = 'enqueued' WHERE uuid = %s", (uuid,))
    return jobs.row(uuid, "id")[0]


def runjob_in_thread(server, uuid):
    result = {}

    def target():
        path = "/queue_job/runjob?db=%s&job_uuid=%s" % (server.db, uuid)
        try:
            result["response"] = server.get(path, timeout=120)
        except OSError as exc:  # the worker was killed
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def test_lease_held_while_running_across_commits(server, jobs):
    (uuid,) = jobs.delay(method="commit_then_sleep", duration=2.0)
    job_id = enqueue(jobs, uuid)
    thread, result = runjob_in_thread(server, uuid)
    # The job's first commit: it is started, and runs on.
    wait_until(lambda: jobs.executions("midway"), 30, "the job did not commit")
    state, worker_pid = jobs.row(uuid, "state", "worker_pid")
    assert state == "started"
    leases = held_leases(jobs.db_name)
    assert job_id in leases
    backend = sql(
        jobs.db_name,
        "SELECT application_name, backend_type FROM pg_stat_activity WHERE pid = %s",
        (leases[job_id],),
    )
    assert backend and backend[0][1] == "client backend"
    assert worker_pid in server.child_pids()
    thread.join(60)
    assert result["response"] == (200, "")
    assert jobs.row(uuid, "state")[0] == "done"
    assert job_id not in held_leases(jobs.db_name)
    assert len(jobs.executions("end")) == 1


def _store_test_job(committed_env, method_name, args=()):
    with committed_env() as env:
        job = Job(getattr(env["test.queue.job"], method_name), args=args)
        job.store()
        return job.uuid


@pytest.mark.parametrize(
    "method_name, args, status, state",
    [
        ("testing_method", (), 200, "done"),
        ("nothing_to_do", ("nothing",), 200, "done"),
        ("raise_user_error", ("boom",), 500, "failed"),
        ("raise_serialization_failure", (), 200, "pending"),
    ],
)
def test_lease_released_after_each_outcome(
    server, jobs, committed_env, method_name, args, status, state
):
    uuid = _store_test_job(committed_env, method_name, args)
    jobs.uuids.append(uuid)
    enqueue(jobs, uuid)
    thread, result = runjob_in_thread(server, uuid)
    thread.join(60)
    assert result["response"][0] == status
    assert jobs.row(uuid, "state")[0] == state
    # No connection of the server's pool is left holding a lease.
    assert not held_leases(jobs.db_name)


def test_job_whose_lease_is_held_is_not_run(server, jobs):
    (uuid,) = jobs.delay()
    job_id = enqueue(jobs, uuid)
    with closing(psycopg2.connect(dbname=jobs.db_name)) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT pg_advisory_lock(%s, %s)", (JOB_LEASE_NAMESPACE, job_id))
        thread, result = runjob_in_thread(server, uuid)
        thread.join(60)
        assert result["response"] == (200, "")
        server.wait_for_log(
            "requested to run job %s, but its lease is held by another session" % uuid,
            timeout=10,
        )
        assert jobs.row(uuid, "state")[0] == "enqueued"
    assert not jobs.executions()


def test_lease_freed_when_the_worker_is_killed(server, jobs):
    (uuid,) = jobs.delay(method="commit_then_sleep", duration=60.0)
    job_id = enqueue(jobs, uuid)
    thread, result = runjob_in_thread(server, uuid)
    wait_until(lambda: jobs.executions("midway"), 30, "the job did not start")
    worker_pid = jobs.row(uuid, "worker_pid")[0]
    assert job_id in held_leases(jobs.db_name)
    os.kill(worker_pid, signal.SIGKILL)
    wait_until(
        lambda: job_id not in held_leases(jobs.db_name),
        10,
        "the lease of a job whose worker was killed is still held",
    )
    # Without a job runner nothing rescues it: it is left started.
    assert jobs.row(uuid, "state")[0] == "started"
    thread.join(30)
    assert "error" in result
    assert not jobs.executions("end")


class TestStuckJobsCron(TransactionCase):
    """The garbage collector cron leaves alone the jobs of live workers."""

    def _started_job(self, minutes_ago):
        job = Job(self.env["test.queue.job"].testing_method)
        job.set_started()
        job.date_started = datetime.now() - timedelta(minutes=minutes_ago)
        job.store()
        return job.db_record()

    def test_long_job_of_a_live_worker_is_not_requeued(self):
        alive = self._started_job(minutes_ago=10)
        dead = self._started_job(minutes_ago=10)
        self.env["base"].flush()
        worker = psycopg2.connect(dbname=self.env.cr.dbname)
        try:
            worker.autocommit = True
            with worker.cursor() as cr:
                assert acquire_job_lease(cr, alive.id, wait=0)
            requeued = self.env["queue.job"].requeue_stuck_jobs(
                enqueued_delta=0, started_delta=3
            )
        finally:
            worker.close()
        self.assertEqual(requeued, dead)
        self.assertEqual((alive.state, dead.state), (STARTED, PENDING))
