"""The in-memory Job: building, performing, state
setters, retry delays, identity keys, store and load."""
import hashlib
import os
from datetime import datetime, timedelta
from unittest import mock

from freezegun import freeze_time
from job_cases import QueueJobCase
from odoo.addons.queue_job.exception import (
    FailedJobError,
    JobError,
    NoSuchJobError,
    RetryableJobError,
)
from odoo.addons.queue_job.job import (
    CANCELLED,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
    DONE,
    ENQUEUED,
    FAILED,
    PENDING,
    RETRY_INTERVAL,
    STARTED,
    WAIT_DEPENDENCIES,
    Job,
    identity_exact,
    identity_exact_hasher,
)


class JobCase(QueueJobCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.method = cls.test_model.testing_method

    def _stored_job(self, *args, **kwargs):
        job_ = Job(self.method, args=args, kwargs=kwargs)
        job_.store()
        return job_


class TestJobBuild(JobCase):
    def test_new_job(self):
        job_ = Job(self.method)
        self.assertEqual(job_.func.__func__, self.method.__func__)
        self.assertEqual(job_.model_name, "test.queue.job")
        self.assertEqual(job_.method_name, "testing_method")
        self.assertEqual(job_.state, PENDING)
        self.assertEqual(job_.retry, 0)
        self.assertEqual(job_.max_retries, DEFAULT_MAX_RETRIES)
        self.assertEqual(job_.max_retries, 5)
        self.assertEqual(job_.priority, DEFAULT_PRIORITY)
        self.assertEqual(job_.priority, 10)
        self.assertEqual(job_.args, ())
        self.assertEqual(job_.kwargs, {})
        self.assertIsNone(job_.graph_uuid)
        self.assertEqual(job_.user_id, self.env.uid)
        self.assertEqual(job_.company_id, self.env.company.id)

    def test_args_list_becomes_tuple(self):
        job_ = Job(self.method, args=[1, "foo"])
        self.assertEqual(job_.args, (1, "foo"))

    def test_invalid_args_kwargs(self):
        with self.assertRaises(AssertionError):
            Job(self.method, args="abc")
        with self.assertRaises(AssertionError):
            Job(self.method, kwargs=[1])

    def test_max_retries_zero_is_kept(self):
        self.assertEqual(Job(self.method, max_retries=0).max_retries, 0)

    def test_only_methods_of_models(self):
        class NotAModel:
            def method(self):
                return

        with self.assertRaisesRegex(TypeError, "Job accepts only methods of Models"):
            Job(NotAModel().method)
        with self.assertRaises(TypeError):
            Job(1)
        with self.assertRaises(TypeError):
            Job(len)

    def test_eta_datetime(self):
        eta = datetime(2015, 3, 15, 18, 0, 0)
        self.assertEqual(Job(self.method, eta=eta).eta, eta)

    @freeze_time("2015-03-15 16:41:00")
    def test_eta_seconds_and_timedelta(self):
        self.assertEqual(Job(self.method, eta=60).eta, datetime(2015, 3, 15, 16, 42))
        self.assertEqual(
            Job(self.method, eta=timedelta(hours=3)).eta,
            datetime(2015, 3, 15, 19, 41),
        )
        self.assertIsNone(Job(self.method, eta=0).eta)

    def test_func_string(self):
        job_ = Job(self.method, args=(1, "a"), kwargs={"b": [2]})
        self.assertEqual(
            job_.func_string, "test.queue.job().testing_method(1, 'a', b=[2])"
        )
        partner = self.env["res.partner"].create({"name": "x"})
        job_ = Job(partner.write, args=({"name": "x"},))
        self.assertEqual(
            job_.func_string, "res.partner(%d,).write({'name': 'x'})" % partner.id
        )

    def test_repr(self):
        job_ = Job(self.method, priority=15)
        self.assertEqual(repr(job_), "<Job %s, priority:15>" % job_.uuid)

    def test_description(self):
        self.assertEqual(Job(self.method).description, "Method used for tests")
        self.assertEqual(
            Job(self.test_model.no_description).description,
            "test.queue.job.no_description",
        )
        self.assertEqual(
            Job(self.method, description="My description").description,
            "My description",
        )

    def test_description_docstring_with_leading_line_break(self):
        # differs from OCA, which gives an empty description here
        job_ = Job(self.test_model.docstring_first_line_blank)
        self.assertEqual(job_.description, "Description below a blank first line")

    def test_channel(self):
        self.assertEqual(Job(self.method).channel, "root")
        self.assertEqual(Job(self.method, channel="root.foo").channel, "root.foo")
        job_ = Job(self.env["test.queue.channel"].job_sub_channel)
        self.assertEqual(job_.channel, "root.sub.subsub")

    def test_company_from_context(self):
        company = self.env["res.company"].create({"name": "Other company"})
        job_ = Job(self.test_model.with_context(company_id=company.id).testing_method)
        self.assertEqual(job_.company_id, company.id)
        job_ = Job(self.test_model.with_context(company_id=None).testing_method)
        self.assertIsNone(job_.company_id)

    def test_equality_and_hash(self):
        job_a = Job(self.method)
        job_b = Job(self.method, job_uuid=job_a.uuid)
        self.assertEqual(job_a, job_b)
        self.assertEqual(len({job_a, job_b}), 1)
        self.assertNotEqual(job_a, Job(self.method))

    def test_ordering(self):
        # OCA raises AttributeError comparing jobs both with or without eta
        job_no_eta_p10 = Job(self.method, priority=10)
        job_no_eta_p5 = Job(self.method, priority=5)
        job_no_eta_p10_later = Job(self.method, priority=10)
        job_eta_late = Job(self.method, eta=datetime(2030, 1, 2))
        job_eta_early = Job(self.method, eta=datetime(2030, 1, 1), priority=50)
        jobs = [
            job_no_eta_p10_later,
            job_no_eta_p10,
            job_eta_late,
            job_no_eta_p5,
            job_eta_early,
        ]
        self.assertEqual(
            sorted(jobs),
            [
                job_eta_early,
                job_eta_late,
                job_no_eta_p5,
                job_no_eta_p10,
                job_no_eta_p10_later,
            ],
        )
        self.assertLess(job_no_eta_p10, job_no_eta_p10_later)
        self.assertGreater(job_no_eta_p10_later, job_no_eta_p10)


class TestJobPerform(JobCase):
    def test_perform_args(self):
        job_ = Job(self.method, args=("o", "k"), kwargs={"c": "!"})
        self.assertEqual(job_.perform(), (("o", "k"), {"c": "!"}))
        self.assertEqual(job_.result, (("o", "k"), {"c": "!"}))
        self.assertEqual(job_.retry, 1)

    def test_retryable_until_max_retries(self):
        job_ = Job(self.method, kwargs={"raise_retry": True}, max_retries=3)
        for expected_retry in (1, 2):
            with self.assertRaises(RetryableJobError):
                job_.perform()
            self.assertEqual(job_.retry, expected_retry)
        with self.assertRaisesRegex(FailedJobError, r"Max. retries \(3\) reached"):
            job_.perform()
        self.assertEqual(job_.retry, 3)

    def test_failed_job_error_chained(self):
        job_ = Job(self.method, kwargs={"raise_retry": True}, max_retries=1)
        with self.assertRaises(FailedJobError) as cm:
            job_.perform()
        self.assertIn("Must be retried later", str(cm.exception))
        self.assertIsInstance(cm.exception.__cause__, RetryableJobError)

    def test_infinite_retries(self):
        job_ = Job(self.method, kwargs={"raise_retry": True}, max_retries=0)
        for expected_retry in range(1, 8):
            with self.assertRaises(RetryableJobError):
                job_.perform()
            self.assertEqual(job_.retry, expected_retry)

    def test_ignore_retry(self):
        job_ = Job(self.test_model.raise_retryable, kwargs={"ignore_retry": True})
        job_.retry = 2
        with self.assertRaises(RetryableJobError):
            job_.perform()
        self.assertEqual(job_.retry, 2)

    def test_other_exceptions_propagate(self):
        partner = self.env["res.partner"].create({"name": "x"})
        job_ = Job(partner.write, args=("not a dict",))
        with self.assertRaises(Exception) as cm:
            job_.perform()
        self.assertNotIsInstance(cm.exception, (RetryableJobError, FailedJobError))
        self.assertEqual(job_.retry, 1)

    def test_perform_runs_with_job_uuid_in_context(self):
        job_ = Job(self.method, kwargs={"return_context": True})
        context = job_.perform()
        self.assertEqual(context["job_uuid"], job_.uuid)

    def test_with_delay_return_context(self):
        job_ = self.test_model.with_delay().testing_method(return_context=True)
        self.assertEqual(job_.perform()["job_uuid"], job_.uuid)

    def test_mutable_arguments(self):
        job_ = Job(
            self.test_model.job_alter_mutable,
            args=([1],),
            kwargs={"mutable_kwarg": {"a": 1}},
        )
        job_.store()
        result = job_.perform()
        self.assertEqual(result, ([1, 2], {"a": 1, "b": 2}))
        job_.set_done(result=result)
        job_.store()
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.args, ([1],))
        self.assertEqual(loaded.kwargs, {"mutable_kwarg": {"a": 1}})


class TestJobStates(JobCase):
    def test_set_pending(self):
        job_ = Job(self.method)
        job_.set_enqueued()
        job_.retry = 3
        job_.set_pending(result="test")
        self.assertEqual(job_.state, PENDING)
        self.assertFalse(job_.date_enqueued)
        self.assertFalse(job_.date_started)
        self.assertEqual(job_.retry, 0)
        self.assertEqual(job_.result, "test")

    def test_set_pending_keep_retry(self):
        job_ = Job(self.method)
        job_.retry = 3
        job_.set_pending(reset_retry=False)
        self.assertEqual(job_.retry, 3)

    def test_set_pending_waits_for_parents(self):
        parent = Job(self.method)
        child = Job(self.method)
        child.add_depends({parent})
        child.set_pending()
        self.assertEqual(child.state, WAIT_DEPENDENCIES)
        parent.set_done()
        child.set_pending()
        self.assertEqual(child.state, PENDING)

    @freeze_time("2015-03-15 16:41:00")
    def test_set_enqueued(self):
        job_ = Job(self.method)
        job_.date_started = datetime.now()
        job_.set_enqueued()
        self.assertEqual(job_.state, ENQUEUED)
        self.assertEqual(job_.date_enqueued, datetime(2015, 3, 15, 16, 41))
        self.assertFalse(job_.date_started)

    @freeze_time("2015-03-15 16:41:00")
    def test_set_started(self):
        job_ = Job(self.method)
        with mock.patch.object(os, "getpid", return_value=99999):
            job_.set_started()
        self.assertEqual(job_.state, STARTED)
        self.assertEqual(job_.date_started, datetime(2015, 3, 15, 16, 41))
        self.assertEqual(job_.worker_pid, 99999)
        job_.set_pending()
        self.assertFalse(job_.worker_pid)

    def test_set_done(self):
        job_ = Job(self.method)
        job_.date_started = datetime(2015, 3, 15, 16, 40, 0)
        job_.set_failed(exc_info="trace", exc_name="X", exc_message="boom")
        with freeze_time("2015-03-15 16:41:00"):
            job_.set_done(result="test")
        self.assertEqual(job_.state, DONE)
        self.assertEqual(job_.result, "test")
        self.assertEqual(job_.date_done, datetime(2015, 3, 15, 16, 41))
        self.assertEqual(job_.exec_time, 60.0)
        self.assertFalse(job_.exc_info)
        self.assertFalse(job_.exc_name)
        self.assertFalse(job_.exc_message)

    def test_set_cancelled(self):
        job_ = Job(self.method)
        job_.set_cancelled(result="nope")
        self.assertEqual(job_.state, CANCELLED)
        self.assertTrue(job_.date_cancelled)
        self.assertEqual(job_.result, "nope")

    def test_set_failed(self):
        job_ = Job(self.method)
        job_.set_failed(
            exc_info="failed test",
            exc_name="FailedTest",
            exc_message="Sadly this job failed",
        )
        self.assertEqual(job_.state, FAILED)
        self.assertEqual(job_.exc_info, "failed test")
        self.assertEqual(job_.exc_name, "FailedTest")
        self.assertEqual(job_.exc_message, "Sadly this job failed")

    def test_exec_time_needs_both_dates(self):
        job_ = Job(self.method)
        self.assertIsNone(job_.exec_time)
        job_.date_done = datetime.now()
        self.assertIsNone(job_.exec_time)

    @freeze_time("2015-03-15 16:41:00")
    def test_postpone(self):
        job_ = Job(self.method)
        job_.exc_info = "trace"
        job_.exc_name = "X"
        job_.postpone(result="test", seconds=60)
        self.assertEqual(job_.eta, datetime(2015, 3, 15, 16, 42))
        self.assertEqual(job_.result, "test")
        self.assertFalse(job_.exc_info)
        self.assertFalse(job_.exc_name)
        self.assertEqual(job_.state, PENDING)

    def test_retry_pattern(self):
        job_ = Job(self.test_model.job_with_retry_pattern, max_retries=0)
        expected = {
            1: datetime(2015, 3, 15, 15, 11),
            2: datetime(2015, 3, 15, 15, 13),
            3: datetime(2015, 3, 15, 15, 10, 10),
            4: datetime(2015, 3, 15, 15, 10, 10),
            5: datetime(2015, 3, 15, 15, 15),
            12: datetime(2015, 3, 15, 15, 15),
        }
        for retry, eta in expected.items():
            job_.retry = retry
            with freeze_time("2015-03-15 15:10:00"):
                job_.postpone()
            self.assertEqual(job_.eta, eta, "retry %s" % retry)

    def test_retry_pattern_no_zero(self):
        job_ = Job(self.test_model.job_with_retry_pattern__no_zero)
        seconds = []
        for retry in (1, 2, 3, 4):
            job_.retry = retry
            seconds.append(job_._get_retry_seconds())
        self.assertEqual(seconds, [RETRY_INTERVAL, RETRY_INTERVAL, 180, 180])
        self.assertEqual(RETRY_INTERVAL, 600)

    def test_retry_seconds_explicit_wins(self):
        job_ = Job(self.test_model.job_with_retry_pattern)
        job_.retry = 1
        self.assertEqual(job_._get_retry_seconds(5), 5)
        self.assertEqual(Job(self.method)._get_retry_seconds(), 600)

    def test_random_retry_seconds(self):
        job_ = Job(self.method)
        values = {job_._get_retry_seconds((10, 20)) for __ in range(200)}
        self.assertTrue(values <= set(range(10, 21)), values)
        self.assertGreater(len(values), 1)
        error = RetryableJobError("later", seconds=(10, 20))
        with freeze_time("2015-03-15 15:10:00"):
            job_.postpone(seconds=error.seconds)
        delay = (job_.eta - datetime(2015, 3, 15, 15, 10)).total_seconds()
        self.assertTrue(10 <= delay <= 20, delay)
        self.assertEqual(delay, int(delay))

    def test_random_retry_pattern(self):
        self.env["queue.job.function"].create(
            {
                "model_id": self.env["ir.model"]._get("test.queue.job").id,
                "method": "no_description",
                "retry_pattern": {1: [10, 20], 3: 500},
            }
        )
        job_ = Job(self.test_model.no_description)
        job_.retry = 1
        values = {job_._get_retry_seconds() for __ in range(100)}
        self.assertTrue(values <= set(range(10, 21)), values)
        job_.retry = 3
        self.assertEqual(job_._get_retry_seconds(), 500)


class TestJobIdentity(JobCase):
    def test_identity_exact(self):
        job_ = Job(
            self.method,
            args=[1, "foo"],
            kwargs={"bar": "baz"},
            identity_key=identity_exact,
        )
        expected = hashlib.sha1()
        for part in (
            b"test.queue.job",
            b"testing_method",
            b"[]",
            b"(1, 'foo')",
            b"[('bar', 'baz')]",
        ):
            expected.update(part)
        self.assertEqual(job_.identity_key, expected.hexdigest())
        self.assertEqual(identity_exact_hasher(job_).hexdigest(), expected.hexdigest())
        job_.store()
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.identity_key, expected.hexdigest())

    def test_identity_string(self):
        job_ = Job(self.method, identity_key="my key")
        self.assertEqual(job_.identity_key, "my key")
        job_.store()
        self.assertEqual(Job.load(self.env, job_.uuid).identity_key, "my key")

    def test_identity_function_called_once(self):
        calls = []

        def identity(job_):
            calls.append(job_)
            return "computed"

        job_ = Job(self.method, identity_key=identity)
        self.assertEqual(job_.identity_key, "computed")
        self.assertEqual(job_.identity_key, "computed")
        self.assertEqual(len(calls), 1)

    def test_same_identity_only_waiting_jobs(self):
        job_ = Job(self.method, identity_key="dup")
        job_.store()
        other = Job(self.method, identity_key="dup")
        self.assertEqual(other.job_record_with_same_identity_key(), job_.db_record())
        for state in (STARTED, DONE, FAILED, CANCELLED):
            job_.state = state
            job_.store()
            self.assertFalse(other.job_record_with_same_identity_key(), state)
        for state in (WAIT_DEPENDENCIES, PENDING, ENQUEUED):
            job_.state = state
            job_.store()
            self.assertTrue(other.job_record_with_same_identity_key(), state)


class TestJobStorage(JobCase):
    def test_store_creates_then_writes(self):
        job_ = Job(self.method, args=(1,), priority=15)
        job_.store()
        record = job_.db_record()
        self.assertEqual(len(record), 1)
        self.assertEqual(record.state, PENDING)
        self.assertEqual(record.priority, 15)
        self.assertEqual(record.name, "Method used for tests")
        self.assertEqual(record.model_name, "test.queue.job")
        self.assertEqual(record.method_name, "testing_method")
        self.assertEqual(record.channel_method_name, "<test.queue.job>.testing_method")
        self.assertEqual(record.func_string, "test.queue.job().testing_method(1)")
        self.assertEqual(record.user_id, self.env.user)
        self.assertEqual(record.channel, "root")
        self.assertEqual(
            record.job_function_id,
            self.env.ref("test_queue_job.job_function_testing_method"),
        )
        job_.priority = 30
        job_.set_enqueued()
        job_.store()
        self.assertEqual(len(job_.db_record()), 1)
        self.assertEqual(record.priority, 30)
        self.assertEqual(record.state, ENQUEUED)

    def test_store_with_given_uuid_updates_existing_row(self):
        job_ = self._stored_job()
        same = Job(self.method, job_uuid=job_.uuid, priority=42)
        same.store()
        self.assertEqual(len(job_.db_record()), 1)
        self.assertEqual(job_.db_record().priority, 42)

    def test_load(self):
        eta = datetime(2015, 3, 15, 18, 0)
        job_ = Job(
            self.method,
            args=("o", "k"),
            kwargs={"c": "!"},
            priority=15,
            eta=eta,
            description="My description",
            max_retries=7,
            channel="root.foo",
        )
        job_.set_enqueued()
        job_.set_started()
        job_.result = "some result"
        job_.exc_info = "a traceback"
        job_.retry = 2
        job_.store()
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.uuid, job_.uuid)
        self.assertEqual(loaded.model_name, "test.queue.job")
        self.assertEqual(loaded.method_name, "testing_method")
        self.assertEqual(loaded.func.__func__, self.method.__func__)
        self.assertEqual(loaded.args, ("o", "k"))
        self.assertIsInstance(loaded.args, tuple)
        self.assertEqual(loaded.kwargs, {"c": "!"})
        self.assertEqual(loaded.description, "My description")
        self.assertEqual(loaded.state, STARTED)
        self.assertEqual(loaded.priority, 15)
        self.assertEqual(loaded.max_retries, 7)
        self.assertEqual(loaded.retry, 2)
        self.assertEqual(loaded.channel, "root.foo")
        self.assertEqual(loaded.result, "some result")
        self.assertEqual(loaded.exc_info, "a traceback")
        self.assertEqual(loaded.user_id, self.env.uid)
        self.assertEqual(loaded.company_id, self.env.company.id)
        self.assertEqual(loaded.eta, eta)
        self.assertEqual(loaded.worker_pid, job_.worker_pid)
        for field in ("date_created", "date_enqueued", "date_started"):
            delta = abs(getattr(loaded, field) - getattr(job_, field))
            self.assertLessEqual(delta, timedelta(seconds=1), field)
        self.assertFalse(loaded.date_done)
        self.assertEqual(loaded.perform(), (("o", "k"), {"c": "!"}))

    def test_load_non_ascii(self):
        job_ = self._stored_job("öô¿‽", "ñě", pâté="ŭ")
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.args, ("öô¿‽", "ñě"))
        self.assertEqual(loaded.kwargs, {"pâté": "ŭ"})

    def test_load_unlinked(self):
        job_ = self._stored_job()
        job_.db_record().unlink()
        with self.assertRaisesRegex(NoSuchJobError, "does no longer exist"):
            Job.load(self.env, job_.uuid)

    def test_load_many(self):
        job_a = self._stored_job()
        job_b = self._stored_job()
        loaded = Job.load_many(self.env, [job_a.uuid, job_b.uuid, "not-a-uuid"])
        self.assertEqual(loaded, {job_a, job_b})

    def test_db_record_from_uuid(self):
        job_ = self._stored_job()
        record = Job.db_record_from_uuid(self.env, job_.uuid)
        self.assertEqual(record.uuid, job_.uuid)
        self.assertTrue(record.env.su)

    def test_load_keeps_exception_fields(self):
        job_ = self._stored_job()
        job_.set_failed(
            exc_info="trace", exc_name="builtins.ValueError", exc_message="x"
        )
        job_.store()
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.exc_name, "builtins.ValueError")
        self.assertEqual(loaded.exc_message, "x")
        loaded.priority = 3
        loaded.store()
        record = job_.db_record()
        self.assertEqual(record.priority, 3)
        self.assertEqual(record.exc_name, "builtins.ValueError")
        self.assertEqual(record.exc_message, "x")
        self.assertEqual(record.exc_info, "trace")

    def test_requeue_clears_exception_name_and_message(self):
        job_ = self._stored_job()
        job_.set_failed(
            exc_info="trace", exc_name="builtins.ValueError", exc_message="x"
        )
        job_.store()
        loaded = Job.load(self.env, job_.uuid)
        loaded.set_pending()
        loaded.store()
        record = job_.db_record()
        self.assertEqual(record.state, PENDING)
        self.assertFalse(record.exc_name)
        self.assertFalse(record.exc_message)
        self.assertEqual(record.exc_info, "trace")

    def test_load_keeps_empty_company(self):
        job_ = Job(self.test_model.with_context(company_id=None).testing_method)
        job_.store()
        self.assertFalse(job_.db_record().company_id)
        loaded = Job.load(self.env, job_.uuid)
        self.assertIsNone(loaded.company_id)
        loaded.set_done()
        loaded.store()
        self.assertFalse(job_.db_record().company_id)

    def test_load_missing_method(self):
        job_ = self._stored_job()
        # as if the addon providing the method had been uninstalled
        self.env.cr.execute(
            "UPDATE queue_job SET method_name = 'gone' WHERE uuid = %s", (job_.uuid,)
        )
        self.env["queue.job"].invalidate_cache()
        with self.assertRaisesRegex(JobError, "has no method gone"):
            Job.load(self.env, job_.uuid)

    def test_load_missing_model(self):
        job_ = self._stored_job()
        self.env.cr.execute(
            "UPDATE queue_job SET model_name = 'gone.model' WHERE uuid = %s",
            (job_.uuid,),
        )
        self.env["queue.job"].invalidate_cache()
        with self.assertRaisesRegex(JobError, "model gone.model does not exist"):
            Job.load(self.env, job_.uuid)

    def test_store_values_hooks(self):
        job_ = self._stored_job()
        self.assertEqual(job_.db_record().additional_info, "JUST_TESTING")
        job_.set_failed()
        job_.store()
        self.assertEqual(job_.db_record().additional_info, "JUST_TESTING_BUT_FAILED")

    def test_store_values_method_specific_hook(self):
        # OCA lets the generic hook replace the method-specific one
        job_ = Job(self.test_model.job_with_specific_store_values)
        job_.store()
        record = job_.db_record()
        self.assertEqual(record.additional_info, "SPECIFIC_pending")
        # core values cannot be changed by a hook
        self.assertEqual(record.priority, DEFAULT_PRIORITY)

    def test_stored_dependencies(self):
        parent = Job(self.method)
        child = Job(self.method)
        child.add_depends({parent})
        self.assertEqual(child.state, WAIT_DEPENDENCIES)
        parent.store()
        child.store()
        self.assertEqual(
            child.db_record().dependencies,
            {"depends_on": [parent.uuid], "reverse_depends_on": []},
        )
        self.assertEqual(
            parent.db_record().dependencies,
            {"depends_on": [], "reverse_depends_on": [child.uuid]},
        )
        loaded_child = Job.load(self.env, child.uuid)
        self.assertEqual(loaded_child.depends_on, {parent})
        loaded_parent = Job.load(self.env, parent.uuid)
        self.assertEqual(loaded_parent.reverse_depends_on, {child})

    def test_cannot_depend_on_itself(self):
        job_ = Job(self.method)
        with self.assertRaisesRegex(ValueError, "job cannot depend on itself"):
            job_.add_depends({job_})

    def test_depends_on_done_parent(self):
        parent = Job(self.method)
        parent.set_done()
        child = Job(self.method)
        child.add_depends({parent})
        self.assertEqual(child.state, PENDING)

    def test_enqueue_deprecated(self):
        job_ = Job.enqueue(self.method, args=(1,), identity_key="enqueue-key")
        self.assertEqual(job_.db_record().args, [1])
        again = Job.enqueue(self.method, args=(2,), identity_key="enqueue-key")
        self.assertEqual(again.uuid, job_.uuid)
        self.assertEqual(again.args, (1,))
