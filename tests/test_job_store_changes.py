"""Job.store() updates write what changed in the job's row, and only that.

Against committed transactions: what a job knows of its row must follow
commits and rollbacks.
"""
import pytest
from odoo.addons.queue_job.job import DONE, FAILED, PENDING, STARTED, Job
from query_helpers import RecordJobUpdates


@pytest.fixture
def stored_job(committed_env):
    """A committed pending job of test.queue.job; deleted at teardown."""
    uuids = []

    def factory(**options):
        with committed_env() as env:
            job = env["test.queue.job"].with_delay(**options).testing_method(1, k=2)
        uuids.append(job.uuid)
        return job.uuid

    yield factory
    with committed_env() as env:
        env["queue.job"].search([("uuid", "in", uuids)]).unlink()


def _row(env, uuid):
    env.cr.execute(
        "SELECT state, priority, retry, date_started, date_done, exec_time,"
        " worker_pid, result, additional_info FROM queue_job WHERE uuid = %s",
        (uuid,),
    )
    keys = (
        "state priority retry date_started date_done exec_time worker_pid"
        " result additional_info"
    ).split()
    return dict(zip(keys, env.cr.fetchone()))


def test_a_run_writes_the_changed_columns(committed_env, stored_job):
    uuid = stored_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        with RecordJobUpdates(env.cr) as updates:
            job.set_started()
            job.store()
            env.cr.commit()
            job.perform()
            job.set_done()
            job.store()
        started, done = updates.columns()
    # the hook's value is not known from the load: written once
    assert started == {"state", "date_started", "worker_pid", "additional_info"}
    # perform() counts the try
    assert done == {"state", "retry", "date_done", "exec_time", "result"}
    with committed_env() as env:
        row = _row(env, uuid)
    assert row["state"] == DONE
    assert row["date_started"] and row["date_done"] and row["worker_pid"]
    assert row["exec_time"] == job.exec_time
    assert row["result"] == str(job.result)
    assert row["additional_info"] == "JUST_TESTING"


def test_state_is_always_written(committed_env, stored_job):
    uuid = stored_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        with RecordJobUpdates(env.cr) as updates:
            job.store()
        assert [columns & {"state"} for columns in updates.columns()] == [{"state"}]


def test_failed_state_stored_again_posts_again(committed_env, stored_job):
    """Writing a failed state posts the failure message, as in OCA."""
    uuid = stored_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        job.set_failed(exc_info="boom")
        job.store()
        record = job.db_record()
        messages = len(record.message_ids)
        job.store()
        record.invalidate_cache()
        assert len(record.message_ids) == messages + 1
        assert record.state == FAILED


def test_rollback_forgets_what_was_written(committed_env, stored_job):
    uuid = stored_job()
    with committed_env() as env:
        job = Job.load(env, uuid)
        job.set_started()
        job.store()
        env.cr.rollback()
        # the row is pending again: everything that differs is written
        with RecordJobUpdates(env.cr) as updates:
            job.store()
        assert {"date_started", "worker_pid"} <= updates.columns()[0]
    with committed_env() as env:
        row = _row(env, uuid)
    assert row["state"] == STARTED
    assert row["date_started"] == job.date_started
    assert row["worker_pid"] == job.worker_pid


def test_loaded_in_a_rolled_back_transaction(committed_env, stored_job):
    """A load that saw this transaction's own write is forgotten with it."""
    uuid = stored_job()
    with committed_env() as env:
        env["queue.job"].search([("uuid", "=", uuid)]).with_context(
            _job_edit_sentinel=env["queue.job"].EDIT_SENTINEL
        ).write({"priority": 3})
        job = Job.load(env, uuid)
        env.cr.rollback()
        job.priority = 3
        job.store()
    with committed_env() as env:
        assert _row(env, uuid)["priority"] == 3


def test_columns_changed_by_others_are_kept(committed_env, stored_job):
    """Columns the job did not change are not written back over others'."""
    uuid = stored_job(priority=10)
    with committed_env() as env:
        job = Job.load(env, uuid)
        job.set_started()
        job.store()
    with committed_env() as env:
        env.cr.execute("UPDATE queue_job SET priority = 2 WHERE uuid = %s", (uuid,))
    with committed_env() as env:
        job.env = env
        job.set_pending()
        job.store()
    with committed_env() as env:
        row = _row(env, uuid)
    assert (row["state"], row["priority"]) == (PENDING, 2)
