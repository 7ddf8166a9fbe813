"""Jobs delayed one by one are inserted together, at the next flush of their
transaction (``queue_job.pending_inserts``), and seen by whatever reads
jobs before that."""
import warnings
from contextlib import closing

from job_cases import QueueJobCase
from odoo.addons.queue_job.job import Job, identity_exact
from query_helpers import CountInserts


class TestPendingInserts(QueueJobCase):
    def rows(self, jobs):
        """The queue_job rows of ``jobs`` (uuid -> priority), read in SQL."""
        self.env.cr.execute(
            "SELECT uuid, priority FROM queue_job WHERE uuid IN %s",
            (tuple(job.uuid for job in jobs),),
        )
        return dict(self.env.cr.fetchall())

    def test_delayed_jobs_inserted_together_at_flush(self):
        with CountInserts(self.env.cr) as inserts:
            jobs = [self.test_model.with_delay().testing_method(i) for i in range(3)]
            self.assertEqual(inserts.count, 0)
            self.assertEqual(self.rows(jobs), {})
            self.env.cr.flush()
        self.assertEqual(inserts.count, 1)
        self.assertEqual(self.rows(jobs), {job.uuid: 10 for job in jobs})
        self.assertTrue(all(job._db_record_id for job in jobs))

    def test_searches_and_reads_of_jobs_see_them(self):
        count = self.env["queue.job"].search_count([])
        job = self.test_model.with_delay().testing_method(1)
        self.assertEqual(self.env["queue.job"].search_count([]), count + 1)
        job = self.test_model.with_delay(priority=4).testing_method(2)
        self.assertEqual(job.db_record().priority, 4)

    def test_whole_flush_inserts_them_for_raw_sql(self):
        job = self.test_model.with_delay(priority=3).testing_method(1)
        # a flush of other fields of another model is not for jobs
        self.env["res.partner"].flush(["name"])
        self.assertEqual(self.rows([job]), {})
        self.env["base"].flush()
        self.assertEqual(self.rows([job]), {job.uuid: 3})

    def test_savepoint_rolled_back_drops_its_jobs(self):
        before = self.test_model.with_delay().testing_method(1)
        with self.assertRaises(ZeroDivisionError):
            with self.env.cr.savepoint():
                within = self.test_model.with_delay().testing_method(2)
                1 / 0
        after = self.test_model.with_delay().testing_method(3)
        self.env.cr.flush()
        self.assertEqual(
            set(self.rows([before, within, after])), {before.uuid, after.uuid}
        )

    def test_store_again_inserts_first(self):
        job = self.test_model.with_delay().testing_method(1)
        job.priority = 7
        with CountInserts(self.env.cr) as inserts:
            job.store()
        self.assertEqual(inserts.count, 1)
        self.assertEqual(self.rows([job]), {job.uuid: 7})

    def test_arguments_are_stored_as_they_were_when_delayed(self):
        mutable = [1]
        job = self.test_model.with_delay().testing_method(mutable)
        mutable.append(2)
        self.assertEqual(job.db_record().args, [[1]])

    def test_job_delayed_by_a_precommit_hook_is_inserted(self):
        first = self.test_model.with_delay().testing_method(1)
        later = []

        @self.env.cr.precommit.add
        def delay_another():
            later.append(self.test_model.with_delay().testing_method(2))

        self.env.cr.flush()
        self.assertEqual(set(self.rows([first] + later)), {first.uuid, later[0].uuid})

    def test_duplicate_identity_key_in_the_same_transaction(self):
        first = self.test_model.with_delay(identity_key=identity_exact).testing_method(
            1
        )
        second = self.test_model.with_delay(identity_key=identity_exact).testing_method(
            1
        )
        self.assertEqual(second.uuid, first.uuid)
        self.assertEqual(len(self.rows([first])), 1)

    def test_store_of_a_job_not_delayed_inserts_at_once(self):
        job = Job(self.test_model.testing_method, args=(1,))
        with CountInserts(self.env.cr) as inserts:
            job.store()
        self.assertEqual(inserts.count, 1)
        self.assertTrue(job._db_record_id)


def test_commit_inserts_them(committed_env):
    with committed_env() as env:
        jobs = [env["test.queue.job"].with_delay().testing_method(i) for i in range(2)]
    uuids = [job.uuid for job in jobs]
    with committed_env() as env:
        records = env["queue.job"].search([("uuid", "in", uuids)])
        assert sorted(records.mapped("uuid")) == sorted(uuids)
        records.unlink()


def test_autocommit_cursor_inserts_at_once(odoo, db_name, committed_env):
    registry = odoo.registry(db_name)
    with closing(registry.cursor()) as cr:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cr.autocommit(True)
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        job = env["test.queue.job"].with_delay().testing_method(1)
        # closed without commit: there was no transaction to commit
    with committed_env() as env:
        records = env["queue.job"].search([("uuid", "=", job.uuid)])
        assert len(records) == 1
        records.unlink()
