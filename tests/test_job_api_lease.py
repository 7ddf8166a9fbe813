"""The lease of a job started through the Job API by other code than runjob.

Code that runs a job itself (``Job.load(); set_started(); store(); commit``,
as ``queue_job_cron_jobrunner`` does) holds the job's lease from the store
of the started state until the commit of its end, so the job runner never
takes it for the job of a dead worker; the lease never outlives the cursor.
Observed from the outside in pg_locks, with a real runner serving the test
database (its dispatches go to a closed port: no job is run by Odoo here).
"""
import time

import pytest
from harness.server import free_port
from odoo.addons.queue_job.job import DONE, STARTED, Job
from odoo.addons.queue_job.lease import acquire_job_lease, release_job_lease
from reliability_helpers import held_leases, sql, wait_until
from test_runner_loop import fast_maintenance, logs, wait_log  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RUN_SECONDS = 8


@pytest.fixture
def queued_job(committed_env):
    """Store a pending ``test.queue.job`` job due in an hour (the runner
    does not dispatch it); return ``(uuid, id)``. Deleted at teardown."""
    uuids = []

    def factory():
        with committed_env() as env:
            job = Job(env["test.queue.job"].testing_method, eta=3600)
            job.store()
            uuids.append(job.uuid)
        return job.uuid, _job_id(committed_env, job.uuid)

    yield factory
    with committed_env() as env:
        env.cr.execute("DELETE FROM queue_job WHERE uuid = ANY(%s)", (uuids,))


def _job_id(committed_env, uuid):
    with committed_env() as env:
        env.cr.execute("SELECT id FROM queue_job WHERE uuid = %s", (uuid,))
        return env.cr.fetchone()[0]


def _row(db_name, uuid):
    return sql(db_name, "SELECT state, retry FROM queue_job WHERE uuid = %s", (uuid,))[
        0
    ]


def _run_for_a_while(env, db_name, uuid, job_id):
    """Commit and roll back as a long job does, for RUN_SECONDS, checking
    from the outside that the job stays started with its lease."""
    deadline = time.monotonic() + RUN_SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        env["test.queue.job"].create({"name": "job-api-lease"})
        if rounds % 3 == 2:
            env.cr.rollback()  # e.g. an error handled by the job
        else:
            env.cr.commit()
        rounds += 1
        assert _row(db_name, uuid) == (STARTED, 0)
        assert job_id in held_leases(db_name)


@pytest.mark.parametrize("how", ["loaded", "new"])
def test_job_run_through_the_job_api_is_not_requeued(
    committed_env,
    db_name,
    queued_job,
    start_runner,
    logs,  # noqa: F811
    fast_maintenance,  # noqa: F811
    how,
):
    start_runner([db_name], free_port())
    wait_log(logs, "queue job runner ready for db %s" % db_name, timeout=30)
    with committed_env() as env:
        if how == "loaded":
            uuid, job_id = queued_job()
            job = Job.load(env, uuid)
        else:
            # a new job stored started: leased at the commit that inserts it
            job = Job(env["test.queue.job"].testing_method)
        job.set_started()
        job.store()
        env.cr.commit()
        if how == "new":
            uuid, job_id = job.uuid, job._db_record_id
        try:
            _run_for_a_while(env, db_name, uuid, job_id)
            job.perform()
            job.set_done()
            job.store()
            # stored, not committed: still leased
            assert job_id in held_leases(db_name)
            env.cr.commit()
            assert job_id not in held_leases(db_name)
        finally:
            if how == "new":
                env.cr.execute("DELETE FROM queue_job WHERE uuid = %s", (uuid,))
                env.cr.commit()
    if how == "loaded":
        assert _row(db_name, uuid) == (DONE, 1)
    assert "died" not in logs.text


def test_lease_released_when_the_start_is_rolled_back(
    committed_env, db_name, queued_job
):
    uuid, job_id = queued_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        job.set_started()
        job.store()
        assert job_id in held_leases(db_name)
        env.cr.rollback()
        assert job_id not in held_leases(db_name)
        # started again, committed this time, then ended by a rollback and a
        # store in another state
        job.set_started()
        job.store()
        env.cr.commit()
        env.cr.rollback()
        assert job_id in held_leases(db_name)
        job.set_pending(reset_retry=False)
        job.store()
        env.cr.rollback()
        assert job_id in held_leases(db_name)  # the end was not committed
        job.store()
        env.cr.commit()
        assert job_id not in held_leases(db_name)


def test_lease_released_when_the_cursor_is_closed(committed_env, db_name, queued_job):
    """Whoever ran the job is gone: the connection goes back to Odoo's pool
    without the lease, the job is left to the runner's rescue."""
    uuid, job_id = queued_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        job.set_started()
        job.store()
        env.cr.commit()
        assert job_id in held_leases(db_name)
    wait_until(
        lambda: job_id not in held_leases(db_name), 5, "the lease outlived its cursor"
    )
    assert _row(db_name, uuid) == (STARTED, 0)


def test_lease_of_the_session_is_not_taken_twice(committed_env, db_name, queued_job):
    """Code run by the runjob controller that stores its own job again, on
    the controller's cursor: the controller's single release frees it."""
    uuid, job_id = queued_job()
    with committed_env() as env:
        assert acquire_job_lease(env.cr, job_id, wait=0)
        job = Job.load(env, uuid)
        job.set_started()
        job.store()
        env.cr.commit()
        assert release_job_lease(env.cr, job_id)
        env.cr.commit()
        assert job_id not in held_leases(db_name)
