"""delay_many(): many jobs delayed at once, as delay() on each would, with
multi-row INSERTs."""
from unittest import mock

from job_cases import QueueJobCase
from odoo.addons.queue_job.delay import chain, delay_many, group
from odoo.addons.queue_job.fast_paths import sql_store
from odoo.addons.queue_job.job import DONE, PENDING, WAIT_DEPENDENCIES, Job
from odoo.addons.queue_job.tests.common import trap_jobs
from query_helpers import CountInserts


class TestDelayMany(QueueJobCase):
    def comparable(self, record):
        """The stored values of a job that do not depend on when or which."""
        values = record.read(
            [
                "state",
                "priority",
                "channel",
                "name",
                "func_string",
                "model_name",
                "method_name",
                "args",
                "kwargs",
                "user_id",
                "company_id",
                "max_retries",
                "retry",
                "identity_key",
                "additional_info",
                "job_function_id",
                "channel_method_name",
            ]
        )[0]
        del values["id"]
        return values

    def test_same_jobs_as_delay(self):
        delayables = [
            self.test_model.delayable(priority=i, channel="root.test").testing_method(
                i, key="v%s" % i
            )
            for i in range(3)
        ]
        with CountInserts(self.env.cr) as inserts:
            self.assertIsNone(delay_many(delayables))
        self.assertEqual(inserts.count, 1)
        self.assertEqual(self.counter.count_created(), 3)
        for i, delayable in enumerate(delayables):
            job_ = delayable._generated_job
            self.assertIsInstance(job_, Job)
            twin = self.test_model.delayable(
                priority=i, channel="root.test"
            ).testing_method(i, key="v%s" % i)
            twin.delay()
            self.assertEqual(
                self.comparable(job_.db_record()),
                self.comparable(twin._generated_job.db_record()),
            )
            self.assertEqual(job_.db_record().state, PENDING)
            self.assertEqual(Job.load(self.env, job_.uuid).args, (i,))

    def test_generator_and_batches(self):
        with mock.patch.object(sql_store, "INSERT_BATCH_SIZE", 4):
            with CountInserts(self.env.cr) as inserts:
                delay_many(
                    self.test_model.delayable().testing_method(i) for i in range(10)
                )
        self.assertEqual(inserts.count, 3)
        records = self.counter.search_created()
        self.assertEqual(sorted(record.args[0] for record in records), list(range(10)))

    def test_graphs(self):
        a, b, c, d = (self.test_model.delayable().testing_method(i) for i in range(4))
        delay_many([chain(a, b), group(c, d)])
        self.assertEqual(self.counter.count_created(), 4)
        job_a, job_b = a._generated_job, b._generated_job
        self.assertTrue(job_a.graph_uuid)
        self.assertEqual(job_a.graph_uuid, job_b.graph_uuid)
        self.assertNotEqual(job_a.graph_uuid, c._generated_job.graph_uuid)
        self.assertEqual(job_a.db_record().state, PENDING)
        record_b = job_b.db_record()
        self.assertEqual(record_b.state, WAIT_DEPENDENCIES)
        self.assertEqual(record_b.dependencies["depends_on"], [job_a.uuid])
        self.assertEqual(
            job_a.db_record().dependencies["reverse_depends_on"], [job_b.uuid]
        )
        # the dependency is released like that of a delayed graph
        job_a = Job.load(self.env, job_a.uuid)
        job_a.set_done()
        job_a.store()
        self.env["queue.job"].flush()
        job_a.enqueue_waiting()
        self.assertEqual(job_b.db_record().state, PENDING)
        self.assertEqual(job_a.db_record().state, DONE)

    def test_identity_keys_see_the_jobs_before(self):
        delayables = [
            self.test_model.delayable(identity_key="same").testing_method(i)
            for i in range(2)
        ] + [self.test_model.delayable().testing_method(2)]
        delay_many(delayables)
        self.assertEqual(self.counter.count_created(), 2)
        first = delayables[0]._generated_job
        # the duplicate gets the waiting job, as with delay()
        self.assertEqual(delayables[1]._generated_job, first.db_record())

    def test_same_delayable_twice_stored_once(self):
        delayable = self.test_model.delayable().testing_method(1)
        delay_many([delayable, delayable])
        self.assertEqual(self.counter.count_created(), 1)

    def test_part_of_two_items(self):
        a = self.test_model.delayable().testing_method("a")
        b = self.test_model.delayable().testing_method("b")
        delay_many([a, chain(a, b)])
        self.assertEqual(self.counter.count_created(), 2)
        record_a = a._generated_job.db_record()
        self.assertTrue(record_a.graph_uuid)
        self.assertEqual(
            record_a.dependencies["reverse_depends_on"], [b._generated_job.uuid]
        )

    def test_jobs_stored_with_the_orm_among_them(self):
        model = self.env["queue.job"].with_context(default_additional_info="ctx")
        delay_many(
            [
                model.delayable()._test_job(),
                self.test_model.delayable().testing_method(1),
            ]
        )
        records = self.counter.search_created()
        self.assertEqual(
            sorted(records.mapped("additional_info")), ["JUST_TESTING", "ctx"]
        )

    def test_trap_jobs(self):
        with trap_jobs() as trap:
            delay_many(self.test_model.delayable().testing_method(i) for i in range(3))
            trap.assert_jobs_count(3)
            trap.assert_enqueued_job(self.test_model.testing_method, args=(2,))
        self.assertEqual(self.counter.count_created(), 0)

    def test_no_delay_context_executes(self):
        model = self.test_model.with_context(test_queue_job_no_delay=True)
        delayables = [model.delayable().testing_method(i) for i in range(2)]
        delay_many(delayables)
        self.assertEqual(self.counter.count_created(), 0)
        self.assertEqual(delayables[1]._generated_job.result, ((1,), {}))
