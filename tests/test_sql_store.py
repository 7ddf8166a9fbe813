"""Job.store() in SQL (queue_job.sql_store): the same rows, caches and chatter
as through the ORM, and the ORM whenever that would differ."""
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

from job_cases import QueueJobCase
from odoo.addons.queue_job.fast_paths import sql_store
from odoo.addons.queue_job.job import CANCELLED, Job
from query_helpers import CountInserts

MOMENT = datetime(2024, 5, 6, 7, 8, 9, 123456)


def orm_only():
    """Patch the SQL paths out: Job.store() goes through the ORM."""
    return mock.patch.multiple(
        sql_store,
        can_insert=mock.Mock(return_value=False),
        update=mock.Mock(return_value=False),
    )


def spy_insert():
    """Watch sql_store.insert(): the SQL path was taken."""
    return mock.patch.object(sql_store, "insert", wraps=sql_store.insert)


@contextmanager
def spy_update():
    """Collect what sql_store.update() returns."""
    results = []
    real_update = sql_store.update

    def update(record, vals, **kwargs):
        results.append(real_update(record, vals, **kwargs))
        return results[-1]

    with mock.patch.object(sql_store, "update", update):
        yield results


class SqlStoreCase(QueueJobCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.env["res.partner"].create([{"name": "a"}, {"name": "b"}])
        cls.demo_user = cls.env["res.users"].create(
            {
                "name": "Demo SQL store",
                "login": "qj_demo_sql_store",
                "groups_id": [(6, 0, [cls.env.ref("base.group_user").id])],
            }
        )

    def row(self, job_):
        """The queue_job row of ``job_`` as PostgreSQL has it, but its ids."""
        self.env["base"].flush()
        self.env.cr.execute("SELECT * FROM queue_job WHERE uuid = %s", (job_.uuid,))
        columns = [desc[0] for desc in self.env.cr.description]
        row = dict(zip(columns, self.env.cr.fetchone()))
        for name in ("id", "uuid"):
            del row[name]
        return row

    def twin_jobs(self, method, *args, **kwargs):
        """Two identical new jobs (but their uuids)."""
        jobs = []
        for _index in range(2):
            job_ = Job(method, args=args, kwargs=kwargs, priority=7, eta=60)
            job_.date_created = MOMENT
            job_.eta = MOMENT + timedelta(hours=1)
            jobs.append(job_)
        return jobs

    def assertSameRows(self, sql_job, orm_job):
        sql_row, orm_row = self.row(sql_job), self.row(orm_job)
        self.assertEqual(sql_row, orm_row)
        return sql_row


class TestPlan(SqlStoreCase):
    def test_standard_installation_uses_sql(self):
        plan = self.env["queue.job"]._job_sql_store_plan()
        self.assertTrue(plan.can_create)
        self.assertTrue(plan.can_update)
        self.assertEqual(plan.tracked, ("exc_message",))
        for name in ("state", "uuid", "records", "args", "dependencies", "company_id"):
            self.assertIn(name, plan.columns)
        # a field added by another addon (test_queue_job) is a plain column too
        self.assertIn("additional_info", plan.columns)
        for name in ("id", "record_ids", "message_ids", "dependency_graph"):
            self.assertNotIn(name, plan.columns)
        self.assertEqual(
            [field.name for field in plan.invalidations["dependencies"]],
            ["dependencies", "dependency_graph"],
        )

    def test_unknown_override_disables_sql(self):
        class Known:
            def write(self):
                return None

        class Override(Known):
            def write(self):
                return None

        Known.write.__module__ = "odoo.models"
        self.assertTrue(sql_store._known_methods(Known, ("write",)))
        Override.write.__module__ = "odoo.addons.some_addon.models.queue_job"
        self.assertFalse(sql_store._known_methods(Override, ("write",)))
        self.assertTrue(sql_store._known_methods(Override, ("create",)))

    def test_plan_follows_the_registry_caches(self):
        self.addCleanup(self.registry.clear_caches)
        plan = self.env["queue.job"]._job_sql_store_plan()
        self.assertNotIn("priority", plan.defaulted)
        field = self.env["ir.model.fields"]._get("queue.job", "priority")
        self.env["ir.default"].create({"field_id": field.id, "json_value": "3"})
        plan = self.env["queue.job"]._job_sql_store_plan()
        self.assertIn("priority", plan.defaulted)


class TestInsert(SqlStoreCase):
    def test_same_row_as_create(self):
        method = self.partners.with_user(self.demo_user).message_subscribe
        sql_job, orm_job = self.twin_jobs(method, [1], kw={"a": [1, 2]})
        with spy_insert() as insert:
            sql_job.store()
        insert.assert_called_once()
        with orm_only():
            orm_job.store()
        row = self.assertSameRows(sql_job, orm_job)
        self.assertEqual(row["user_id"], self.demo_user.id)
        self.assertEqual(row["state"], "pending")
        self.assertEqual(row["priority"], 7)
        self.assertEqual(row["exec_time"], 0.0)
        self.assertEqual(row["worker_pid"], 0)

    def test_same_row_with_store_values_hook(self):
        sql_job, orm_job = self.twin_jobs(self.test_model.testing_method, 1, a=2)
        with spy_insert() as insert:
            sql_job.store()
        insert.assert_called_once()
        with orm_only():
            orm_job.store()
        row = self.assertSameRows(sql_job, orm_job)
        self.assertEqual(row["additional_info"], "JUST_TESTING")

    def test_record_readable_after_insert(self):
        job_ = self.test_model.with_delay(priority=3).testing_method(1)
        record = job_.db_record()
        self.assertEqual(record.priority, 3)
        self.assertEqual(record.args, [1])
        self.assertEqual(record.records, self.test_model)
        self.assertEqual(Job.load(self.env, job_.uuid).args, (1,))

    def test_no_follower_nor_message_like_create(self):
        sql_job, orm_job = self.twin_jobs(
            self.test_model.with_user(self.demo_user).testing_method
        )
        sql_job.store()
        with orm_only():
            orm_job.store()
        for job_ in (sql_job, orm_job):
            record = job_.db_record()
            self.assertFalse(record.message_follower_ids)
            self.assertFalse(record.message_ids)

    def test_default_from_context_uses_the_orm(self):
        model = self.env["queue.job"].with_context(default_additional_info="ctx")
        job_ = Job(model._test_job)
        job_model = job_._store_model()
        vals = job_._store_values(create=True)
        plan = job_model._job_sql_store_plan()
        self.assertFalse(sql_store.can_insert(plan, job_model, vals))
        job_.store()
        self.assertEqual(job_.db_record().additional_info, "ctx")

    def test_tracked_value_at_creation_uses_the_orm(self):
        job_ = Job(self.test_model.testing_method)
        job_.exc_message = "boom"
        job_model = job_._store_model()
        plan = job_model._job_sql_store_plan()
        vals = job_._store_values(create=True)
        self.assertFalse(sql_store.can_insert(plan, job_model, vals))

    def test_without_sentinel_nothing_is_inserted(self):
        job_ = Job(self.test_model.testing_method)
        job_model = self.env["queue.job"].sudo()
        plan = job_model._job_sql_store_plan()
        vals = job_._store_values(create=True)
        self.assertFalse(sql_store.can_insert(plan, job_model, vals))

    def test_batches(self):
        jobs = [Job(self.test_model.testing_method, args=(i,)) for i in range(5)]
        job_model = jobs[0]._store_model()
        vals_list = [job_._store_values(create=True) for job_ in jobs]
        with mock.patch.object(sql_store, "INSERT_BATCH_SIZE", 2):
            with CountInserts(self.env.cr) as inserts:
                ids = sql_store.insert(job_model, vals_list)
        self.assertEqual(inserts.count, 3)
        records = self.env["queue.job"].browse(ids)
        self.assertEqual(records.mapped("uuid"), [job_.uuid for job_ in jobs])
        self.assertEqual([r.args for r in records], [[i] for i in range(5)])


class TestUpdate(SqlStoreCase):
    def stored_twins(self, method, *args, **kwargs):
        jobs = self.twin_jobs(method, *args, **kwargs)
        for job_ in jobs:
            job_.store()
        return [Job.load(self.env, job_.uuid) for job_ in jobs]

    def test_same_rows_along_the_states(self):
        sql_job, orm_job = self.stored_twins(self.test_model.testing_method, 1)
        steps = [
            lambda job_: job_.set_enqueued(),
            lambda job_: job_.set_started(),
            lambda job_: job_.set_done(result="done!"),
            lambda job_: job_.postpone(result="later", seconds=10),
            lambda job_: job_.set_pending(result="again", reset_retry=False),
            lambda job_: job_.set_cancelled(result="stop"),
        ]
        for step in steps:
            for job_ in (sql_job, orm_job):
                step(job_)
                job_.retry += 1
                for name in ("date_enqueued", "date_started", "date_done"):
                    if getattr(job_, name):
                        setattr(job_, name, MOMENT)
                if job_.eta:
                    job_.eta = MOMENT
                if job_.date_cancelled:
                    job_.date_cancelled = MOMENT
            with spy_update() as results:
                sql_job.store()
            self.assertEqual(results, [True])
            with orm_only():
                orm_job.store()
            self.assertSameRows(sql_job, orm_job)

    def test_update_in_sql(self):
        job_ = self.test_model.with_delay().testing_method()
        job_.set_started()
        vals = job_._store_values()
        record = job_._store_model().browse(job_._db_record_id)
        self.assertTrue(sql_store.update(record, vals))

    def test_cache_invalidated(self):
        job_ = self.test_model.with_delay().testing_method()
        record = job_.db_record()
        self.assertEqual(record.state, "pending")
        self.assertEqual(record.dependency_graph, {})
        job_.set_done(result="ok")
        job_.store()
        self.assertEqual(record.state, "done")
        self.assertEqual(record.result, "ok")

    def test_pending_orm_write_uses_the_orm(self):
        job_ = self.test_model.with_delay().testing_method()
        record = job_._store_model().browse(job_._db_record_id)
        record.priority = 42  # not flushed yet
        job_.set_started()
        self.assertFalse(sql_store.update(record, job_._store_values()))
        job_.store()
        self.assertEqual(self.row(job_)["state"], "started")
        self.assertEqual(self.row(job_)["priority"], 10)

    def test_failed_state_uses_the_orm(self):
        job_ = self.test_model.with_delay().testing_method()
        record = job_._store_model().browse(job_._db_record_id)
        job_.set_failed(exc_name="x.Error", exc_message="bad", exc_info="tb")
        self.assertFalse(sql_store.update(record, job_._store_values()))
        job_.store()
        self.assertTrue(job_.db_record().message_ids)

    def test_tracked_change_uses_the_orm(self):
        """Clearing the message of a failed job tracks it, as the ORM does."""
        trackings = []
        for orm in (False, True):
            job_ = self.test_model.with_delay().testing_method()
            job_.set_failed(exc_name="x.Error", exc_message="bad", exc_info="tb")
            job_.store()
            self.flush_tracking()
            job_ = Job.load(self.env, job_.uuid)
            record = job_._store_model().browse(job_._db_record_id)
            job_.set_pending()
            self.assertFalse(sql_store.update(record, job_._store_values()))
            if orm:
                with orm_only():
                    job_.store()
            else:
                job_.store()
            self.flush_tracking()
            values = self.env["mail.tracking.value"].search(
                [("mail_message_id", "in", job_.db_record().message_ids.ids)]
            )
            trackings.append(
                [(v.old_value_char, v.new_value_char) for v in values.sorted("id")]
            )
        self.assertEqual(trackings[0], trackings[1])
        self.assertEqual(trackings[0], [(False, "bad"), ("bad", False)])

    def test_unchanged_tracked_value_in_sql(self):
        job_ = self.test_model.with_delay().testing_method()
        job_.set_failed(exc_name="x.Error", exc_message="bad", exc_info="tb")
        job_.store()
        self.flush_tracking()
        messages = job_.db_record().message_ids
        job_ = Job.load(self.env, job_.uuid)
        self.assertEqual(job_.exc_message, "bad")
        job_.set_cancelled(result="given up")
        record = job_._store_model().browse(job_._db_record_id)
        self.assertTrue(sql_store.update(record, job_._store_values()))
        self.flush_tracking()
        record = job_.db_record()
        self.assertEqual(record.message_ids, messages)
        self.assertEqual(record.state, CANCELLED)
        self.assertEqual(record.exc_message, "bad")

    def flush_tracking(self):
        self.env["base"].flush()
        self.env.cr.precommit.run()
