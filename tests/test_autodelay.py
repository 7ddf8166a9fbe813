"""Methods delayed automatically when called."""
from job_cases import QueueJobCase
from odoo.addons.queue_job.job import Job


class TestAutoDelay(QueueJobCase):
    def test_auto_delay(self):
        job_ = self.test_model.delay_me(1, kwarg=2)
        self.assertIsInstance(job_, Job)
        self.assertEqual(job_.method_name, "delay_me")
        self.assertEqual(job_.args, (1,))
        self.assertEqual(job_.kwargs, {"kwarg": 2})
        self.assertEqual(self.counter.count_created(), 1)

    def test_wrapper_keeps_metadata(self):
        method = type(self.test_model).delay_me
        self.assertEqual(method.__name__, "delay_me")
        self.assertTrue(hasattr(method, "origin"))

    def test_auto_delay_options(self):
        job_ = self.test_model.delay_me_options()
        self.assertIsInstance(job_, Job)
        self.assertEqual(job_.identity_key, "my_job_identity")
        self.assertEqual(job_.db_record().identity_key, "my_job_identity")
        # the options apply: the same identity is not enqueued twice
        again = self.test_model.delay_me_options()
        self.assertEqual(again.uuid, job_.uuid)
        self.assertEqual(self.counter.count_created(), 1)

    def test_auto_delay_inside_job(self):
        job_ = self.test_model.delay_me(1, kwarg=2)
        self.assertEqual(job_.perform(), (1, 2))
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.perform(), (1, 2))
        self.assertEqual(self.counter.count_created(), 1)

    def test_auto_delay_force_sync(self):
        result = self.test_model.with_context(_job_force_sync=True).delay_me(1, kwarg=2)
        self.assertEqual(result, (1, 2))
        self.assertEqual(self.counter.count_created(), 0)

    def test_auto_delay_no_delay_context(self):
        for key in ("test_queue_job_no_delay", "queue_job__no_delay"):
            model = self.test_model.with_context(**{key: True})
            self.assertEqual(model.delay_me(3), (3, None))
        self.assertEqual(self.counter.count_created(), 0)

    def test_auto_delay_context_key(self):
        self.assertEqual(self.test_model.delay_me_context_key(), "ok")
        self.assertEqual(self.counter.count_created(), 0)
        model = self.test_model.with_context(auto_delay_delay_me_context_key=False)
        self.assertEqual(model.delay_me_context_key(), "ok")
        model = self.test_model.with_context(auto_delay_delay_me_context_key=True)
        job_ = model.delay_me_context_key()
        self.assertIsInstance(job_, Job)
        self.assertEqual(job_.method_name, "delay_me_context_key")
        self.assertEqual(self.counter.count_created(), 1)
        # inside the job, the original body runs
        self.assertEqual(job_.perform(), "ok")
