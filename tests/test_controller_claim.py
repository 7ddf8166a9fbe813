"""The runjob claim statement: lock, lease and read of the enqueued job in one
round trip, loading the same job as Job.load()."""
from contextlib import closing, contextmanager
from datetime import datetime
from unittest import mock

import psycopg2
from harness.odoo_runtime import postgres_connect_kwargs
from odoo.addons.queue_job import lease as lease_module
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.fast_paths import sql_store
from odoo.addons.queue_job.job import DONE, ENQUEUED, Job
from odoo.addons.queue_job.job_run import LOCK_ENQUEUED_JOB, JobRun
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE, release_job_lease
from odoo.tests.common import TransactionCase

COMPARED = (
    "uuid",
    "args",
    "kwargs",
    "recordset",
    "method_name",
    "priority",
    "eta",
    "max_retries",
    "retry",
    "state",
    "graph_uuid",
    "identity_key",
    "channel",
    "description",
    "company_id",
    "date_created",
    "date_enqueued",
    "result",
    "exc_name",
    "exc_message",
    "exc_info",
    "worker_pid",
    "_db_record_id",
)


class TestClaimLoad(TransactionCase):
    def test_same_job_as_load(self):
        records = self.env["test.queue.job"].create([{"name": "a"}, {"name": "b"}])
        parent = records.delayable(priority=3, eta=120).testing_method(
            1, when=datetime(2024, 1, 2, 3, 4, 5)
        )
        child = records.delayable(identity_key="claim-key").testing_method(2)
        parent.on_done(child)
        parent.delay()
        job_ = parent._generated_job
        job_.set_enqueued()
        job_.result = "before"
        job_.store()
        self.env["base"].flush()

        self.env.cr.execute(LOCK_ENQUEUED_JOB, (job_.uuid, ENQUEUED))
        row = self.env.cr.fetchone()
        names = [column.name for column in self.env.cr.description][:-3]
        self.addCleanup(release_job_lease, self.env.cr, row[names.index("id")])
        self.assertIs(row[-1], True)
        self.env["base"].invalidate_cache()
        with self.assertQueryCount(0):
            record = Job._claimed_record(self.env, names, row[:-3])
            claimed = Job._load_from_db_record(record)
            # every column of the row is read, an inheriting addon's included
            self.assertEqual(record.additional_info, "JUST_TESTING")
        loaded = Job.load(self.env, job_.uuid)
        for name in COMPARED:
            self.assertEqual(getattr(claimed, name), getattr(loaded, name), name)
        self.assertEqual(
            {j.uuid for j in claimed.reverse_depends_on},
            {child._generated_job.uuid},
        )
        self.assertTrue(claimed._has_dependents())
        self.assertFalse(child._generated_job._has_dependents())


def test_skipped_row_gets_no_lease(odoo, db_name, committed_env):
    """A row locked by another transaction is skipped, its lease not taken."""
    with committed_env() as env:
        job_ = Job(env["test.queue.job"].testing_method)
        job_.set_enqueued()
        job_.store()
        job_id = job_._db_record_id
    try:
        params = postgres_connect_kwargs(odoo, db_name)
        with closing(psycopg2.connect(**params)) as holder, closing(
            psycopg2.connect(**params)
        ) as runner:
            with holder.cursor() as cr:
                cr.execute(
                    "SELECT id FROM queue_job WHERE id = %s FOR UPDATE", (job_id,)
                )
            with runner.cursor() as cr:
                cr.execute(LOCK_ENQUEUED_JOB, (job_.uuid, ENQUEUED))
                assert cr.fetchall() == []
                cr.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND classid = %s AND objid = %s",
                    (JOB_LEASE_NAMESPACE, job_id),
                )
                assert cr.fetchone()[0] == 0
            holder.rollback()
            with runner.cursor() as cr:
                runner.rollback()
                cr.execute(LOCK_ENQUEUED_JOB, (job_.uuid, ENQUEUED))
                row = cr.fetchone()
                assert (row[0], row[-1]) == (job_id, True)
                assert release_job_lease(cr, job_id)
    finally:
        with committed_env() as env:
            env["queue.job"].browse(job_id).unlink()


def _holds_lease(cr, job_id):
    cr.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND pid = pg_backend_pid() AND classid = %s AND objid = %s",
        (JOB_LEASE_NAMESPACE, job_id),
    )
    return bool(cr.fetchone()[0])


def _synchronous_commit(cr):
    cr.execute("SHOW synchronous_commit")
    return cr.fetchone()[0]


@contextmanager
def claimed_job(committed_env):
    """``(env, run, lease, job)``: a trivial job claimed by a ``JobRun`` of
    the runjob controller, loaded with its lease held, in a committed environment; the
    job is deleted afterwards."""
    with committed_env() as env:
        job_ = Job(env["test.queue.job"].testing_method)
        job_.set_enqueued()
        job_.store()
    try:
        with committed_env() as env:
            run = JobRun(RunJobController(), env, job_.uuid)
            job_run = run.load(run.claim())
            job_run._lease = run.lease
            yield env, run, run.lease, job_run
    finally:
        with committed_env() as env:
            env["queue.job"].browse(job_._db_record_id).unlink()


def _job_state(cr, job_id):
    cr.execute("SELECT state FROM queue_job WHERE id = %s", (job_id,))
    return cr.fetchone()[0]


def test_lease_released_with_the_final_commit(committed_env):
    """A successful run releases the lease in its done transaction: nothing
    is left for after it."""
    with claimed_job(committed_env) as (env, run, lease, job_run):
        assert lease.held and _holds_lease(env.cr, lease.job_id)
        # the started state is committed without waiting for the WAL flush
        assert _synchronous_commit(env.cr) == "off"
        run.controller._try_perform_job(env, job_run)
        assert not lease.held
        assert not _holds_lease(env.cr, lease.job_id)
        # its end is durable
        assert _synchronous_commit(env.cr) == "on"
        assert _job_state(env.cr, lease.job_id) == DONE
        with mock.patch.object(lease_module._logger, "warning") as warning:
            run.release_lease()
        assert warning.call_count == 0


def test_lease_released_when_the_orm_stores_the_end(committed_env):
    """When the final store goes through write() (see queue_job.sql_store),
    the lease is released by a statement of its own, still before the
    commit."""
    with claimed_job(committed_env) as (env, run, lease, job_run):
        released_in_transaction = []
        commit = type(env.cr).commit

        def checking_commit(cr):
            released_in_transaction.append(not _holds_lease(cr, lease.job_id))
            return commit(cr)

        with mock.patch.object(
            sql_store, "update", return_value=False
        ), mock.patch.object(type(env.cr), "commit", checking_commit):
            run.controller._try_perform_job(env, job_run)
        # started, then done: only the final commit comes after the release
        assert released_in_transaction == [False, True]
        assert not lease.held
        assert _job_state(env.cr, lease.job_id) == DONE
