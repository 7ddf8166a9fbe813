"""A job delayed one by one is inserted by ``with_delay()`` itself, as the
ORM's ``create()`` would insert it: raw SQL sees it at once, and a savepoint
rolled back drops it, flushed or not."""
from contextlib import closing

from job_cases import QueueJobCase
from odoo.addons.queue_job.job import Job, identity_exact
from query_helpers import CountInserts


class TestDelayInsert(QueueJobCase):
    def rows(self, jobs):
        """The queue_job rows of ``jobs`` (uuid -> priority), read in SQL."""
        self.env.cr.execute(
            "SELECT uuid, priority FROM queue_job WHERE uuid IN %s",
            (tuple(job.uuid for job in jobs),),
        )
        return dict(self.env.cr.fetchall())

    def test_each_delay_inserts_its_job(self):
        with CountInserts(self.env.cr) as inserts:
            jobs = [self.test_model.with_delay().testing_method(i) for i in range(3)]
        self.assertEqual(inserts.count, 3)
        self.assertEqual(self.rows(jobs), {job.uuid: 10 for job in jobs})
        self.assertTrue(all(job._db_record_id for job in jobs))

    def test_savepoint_rolled_back_drops_its_jobs(self):
        for flush in (True, False):
            before = self.test_model.with_delay().testing_method(1)
            with self.assertRaises(ZeroDivisionError):
                with self.env.cr.savepoint(flush=flush):
                    within = self.test_model.with_delay().testing_method(2)
                    1 / 0
            after = self.test_model.with_delay().testing_method(3)
            self.env.cr.flush()
            self.assertEqual(
                set(self.rows([before, within, after])),
                {before.uuid, after.uuid},
                "savepoint(flush=%s)" % flush,
            )

    def test_arguments_are_stored_as_they_were_when_delayed(self):
        mutable = [1]
        job = self.test_model.with_delay().testing_method(mutable)
        mutable.append(2)
        self.assertEqual(job.db_record().args, [[1]])

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


def test_commit_keeps_them(committed_env):
    with committed_env() as env:
        jobs = [env["test.queue.job"].with_delay().testing_method(i) for i in range(2)]
    uuids = [job.uuid for job in jobs]
    with committed_env() as env:
        records = env["queue.job"].search([("uuid", "in", uuids)])
        assert sorted(records.mapped("uuid")) == sorted(uuids)
        records.unlink()


def test_rollback_drops_them(committed_env, odoo, db_name):
    registry = odoo.registry(db_name)
    with closing(registry.cursor()) as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        job = env["test.queue.job"].with_delay().testing_method(1)
        cr.rollback()
    with committed_env() as env:
        assert not env["queue.job"].search([("uuid", "=", job.uuid)])


def test_savepoint_rolled_back_drops_its_jobs_at_commit(committed_env):
    """Committed after the savepoint: only the jobs delayed outside of it
    are there."""
    uuids = {}
    with committed_env() as env:
        uuids["before"] = env["test.queue.job"].with_delay().testing_method(1).uuid
        for flush in (False, True):
            try:
                with env.cr.savepoint(flush=flush):
                    job = env["test.queue.job"].with_delay().testing_method(2)
                    uuids["within-%s" % flush] = job.uuid
                    raise ZeroDivisionError()
            except ZeroDivisionError:
                pass
        uuids["after"] = env["test.queue.job"].with_delay().testing_method(3).uuid
    with committed_env() as env:
        records = env["queue.job"].search([("uuid", "in", list(uuids.values()))])
        try:
            assert set(records.mapped("uuid")) == {uuids["before"], uuids["after"]}
        finally:
            records.unlink()
