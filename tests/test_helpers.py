"""Public test helpers of ``queue_job.tests.common``."""
import doctest
import types
import unittest
from datetime import timedelta
from unittest import mock

from job_cases import JobLoggingCase
from odoo.addons.queue_job.delay import DelayableRecordset
from odoo.addons.queue_job.job import Job, identity_exact
from odoo.addons.queue_job.tests import common as helpers
from odoo.addons.queue_job.tests.common import (
    JobCall,
    JobCounter,
    JobMixin,
    JobsTrap,
    load_doctests,
    mock_with_delay,
    trap_jobs,
)

ALL_PROPERTIES = {
    "priority": 15,
    "max_retries": 1,
    "eta": 15,
    "description": "Test",
    "channel": "root.test",
    "identity_key": identity_exact,
}


class TestTrapJobs(JobLoggingCase):
    def test_trap_jobs_on_with_delay(self):
        with trap_jobs() as trap:
            self.assertIsInstance(trap, JobsTrap)
            self.test_model.button_that_uses_with_delay()
            trap.assert_jobs_count(1)
            trap.assert_jobs_count(1, only=self.test_model.testing_method)
            trap.assert_jobs_count(0, only=self.test_model.no_description)
            trap.assert_enqueued_job(
                self.test_model.testing_method,
                args=(1,),
                kwargs={"foo": 2},
                properties=ALL_PROPERTIES,
            )
            # only some properties
            trap.assert_enqueued_job(
                self.test_model.testing_method,
                args=(1,),
                kwargs={"foo": 2},
                properties={"priority": 15, "channel": "root.test"},
            )
            # no property
            trap.assert_enqueued_job(
                self.test_model.testing_method, args=(1,), kwargs={"foo": 2}
            )
            with self.assertRaises(AssertionError):
                trap.assert_enqueued_job(
                    self.test_model.testing_method,
                    args=(1,),
                    kwargs={"foo": 2},
                    properties={"priority": 16},
                )
            with self.assertRaises(AssertionError):
                trap.assert_enqueued_job(self.test_model.testing_method, args=(2,))
        self.assertEqual(self.counter.count_created(), 0)

    def test_trap_records_calls(self):
        with trap_jobs() as trap:
            job_ = self.test_model.button_that_uses_with_delay()
        self.assertEqual(len(trap.calls), 1)
        call = trap.calls[0]
        self.assertIsInstance(call, JobCall)
        self.assertEqual(call.args, (1,))
        self.assertEqual(call.kwargs, {"foo": 2})
        self.assertEqual(list(call.properties), list(ALL_PROPERTIES))
        self.assertEqual(call.properties, ALL_PROPERTIES)
        self.assertEqual(trap.enqueued_jobs, [job_])
        self.assertIsInstance(job_, Job)
        self.assertEqual(repr(trap), repr(trap.calls))
        # store is restored when leaving the trap
        self.assertNotIn("store", vars(job_))

    def test_trap_unset_properties(self):
        with trap_jobs() as trap:
            self.test_model.with_delay().testing_method()
        properties = trap.calls[0].properties
        self.assertEqual(
            list(properties),
            [
                "priority",
                "max_retries",
                "eta",
                "description",
                "channel",
                "identity_key",
            ],
        )
        self.assertEqual(set(properties.values()), {None})

    def test_trap_record_vs_model(self):
        record = self.test_model.create({"name": "r"})
        with trap_jobs() as trap:
            record.button_that_uses_with_delay()
            trap.assert_jobs_count(1)
            trap.assert_jobs_count(1, only=record.testing_method)
            with self.assertRaises(AssertionError):
                trap.assert_jobs_count(1, only=self.test_model.testing_method)
            with self.assertRaises(AssertionError) as cm:
                trap.assert_enqueued_job(
                    self.test_model.testing_method,
                    args=(1,),
                    kwargs={"foo": 2},
                    properties={"priority": 15, "channel": "root.test"},
                )
        self.assertEqual(
            str(cm.exception),
            "Job <test.queue.job()>.testing_method(1, foo=2) with properties"
            " (priority=15, channel=root.test) was not enqueued.\n"
            "Actual enqueued jobs:\n"
            " * <test.queue.job(%d,)>.testing_method(1, foo=2) with properties"
            " (priority=15, channel=root.test)" % record.id,
        )

    def test_assertion_message_all_properties(self):
        with trap_jobs() as trap:
            self.test_model.button_that_uses_with_delay()
            self.test_model.with_delay().no_description()
            with self.assertRaises(AssertionError) as cm:
                trap.assert_enqueued_job(
                    self.test_model.testing_method, properties=ALL_PROPERTIES
                )
        message = str(cm.exception)
        self.assertTrue(
            message.startswith(
                "Job <test.queue.job()>.testing_method() with properties (priority=15,"
                " max_retries=1, eta=15, description=Test, channel=root.test,"
                " identity_key=<function identity_exact at 0x"
            ),
            message,
        )
        self.assertIn(
            "\nActual enqueued jobs:\n * <test.queue.job()>.testing_method(1, foo=2)"
            " with properties (priority=15, max_retries=1, eta=15,",
            message,
        )
        self.assertIn(
            "\n * <test.queue.job()>.no_description() with properties (priority=None,"
            " max_retries=None, eta=None, description=None, channel=None,"
            " identity_key=None)",
            message,
        )

    def test_trap_identity_key(self):
        with trap_jobs() as trap:
            self.test_model.button_that_uses_with_delay()
            self.test_model.button_that_uses_with_delay()
            trap.assert_jobs_count(1)
            self.assertEqual(len(trap.calls), 2)
            trap.perform_enqueued_jobs()
            trap.assert_jobs_count(0)
            self.test_model.button_that_uses_with_delay()
            trap.assert_jobs_count(1)
        # the trapped duplicate was not stored either
        self.assertEqual(self.counter.count_created(), 0)

    def test_perform_enqueued_jobs(self):
        with trap_jobs() as trap:
            self.test_model.with_delay(priority=20).create_ir_logging("low")
            self.test_model.button_that_uses_delayable_chain()
            self.test_model.with_delay(priority=5).create_ir_logging("single")
            trap.assert_jobs_count(5)
            self.assertEqual(self._messages(), [])
            trap.perform_enqueued_jobs()
            trap.assert_jobs_count(0)
        self.assertEqual(self._messages(), ["single", "low", "node2", "node3", "node"])
        self.assertEqual(self.counter.count_created(), 0)

    def test_perform_returns_results_and_keeps_state(self):
        with trap_jobs() as trap:
            job_ = self.test_model.with_delay().testing_method(1, a=2)
            trap.perform_enqueued_jobs()
        self.assertEqual(job_.result, ((1,), {"a": 2}))
        self.assertEqual(job_.state, "pending")
        self.assertEqual(job_.retry, 1)

    def test_trap_graph(self):
        with trap_jobs() as trap:
            chain_ = self.test_model.button_that_uses_delayable_chain()
            trap.assert_jobs_count(3)
            trap.assert_enqueued_job(self.test_model.create_ir_logging, args=("node3",))
        jobs = [d._generated_job for d in chain_._graph.vertices()]
        self.assertEqual(len({job_.graph_uuid for job_ in jobs}), 1)
        self.assertTrue(jobs[0].graph_uuid)

    def test_trap_eta_timedelta(self):
        with trap_jobs() as trap:
            self.test_model.with_delay(eta=timedelta(hours=1)).testing_method()
        trap.assert_enqueued_job(
            self.test_model.testing_method,
            properties={"eta": timedelta(hours=1)},
        )

    def test_bad_input_in_trap(self):
        with trap_jobs() as trap:
            with self.assertRaisesRegex(TypeError, "testing_method"):
                self.test_model.with_delay().testing_method(object())
        self.assertEqual(len(trap.calls), 1)

    def test_job_call_equality(self):
        record = self.test_model.create({"name": "r"})
        call = JobCall(record.testing_method, (1,), {}, {})
        self.assertEqual(
            call, JobCall(record.browse(record.id).testing_method, (1,), {}, {})
        )
        self.assertNotEqual(call, JobCall(self.test_model.testing_method, (1,), {}, {}))
        self.assertNotEqual(call, JobCall(record.no_description, (1,), {}, {}))
        self.assertNotEqual(call, JobCall(record.testing_method, (2,), {}, {}))
        self.assertNotEqual(call, JobCall(record.testing_method, (1,), {"a": 1}, {}))
        self.assertNotEqual(call, JobCall(record.testing_method, (1,), {}, {"a": 1}))


class TestJobMixin(JobMixin, JobLoggingCase):
    def test_job_counter(self):
        counter = self.job_counter()
        self.assertIsInstance(counter, JobCounter)
        existing = counter.count_all()
        self.assertEqual(counter.count_existing(), existing)
        job_ = self.test_model.with_delay().create_ir_logging("counted")
        self.assertEqual(counter.count_created(), 1)
        self.assertEqual(counter.count_all(), existing + 1)
        self.assertEqual(counter.search_created().uuid, job_.uuid)
        self.assertEqual(counter.search_all(), self.env["queue.job"].search([]))

    def test_perform_jobs(self):
        counter = self.job_counter()
        self.test_model.with_delay().create_ir_logging("performed")
        self.assertEqual(self._messages(), [])
        self.perform_jobs(counter)
        self.assertEqual(self._messages(), ["performed"])
        # no state change
        self.assertEqual(counter.search_created().state, "pending")

    def test_trap_jobs_method(self):
        with self.trap_jobs() as trap:
            self.test_model.with_delay().testing_method()
            trap.assert_jobs_count(1)
        self.assertEqual(self.job_counter().count_created(), 0)


class TestMockWithDelay(JobLoggingCase):
    def test_mock_with_delay(self):
        with mock_with_delay() as (delayable_cls, delayable):
            self.test_model.button_that_uses_with_delay()
            self.assertEqual(delayable_cls.call_count, 1)
            delay_args, delay_kwargs = delayable_cls.call_args
            self.assertEqual(delay_args, (self.test_model,))
            self.assertEqual(delay_kwargs, ALL_PROPERTIES)
            delayable.testing_method.assert_called_once_with(1, foo=2)
        self.assertEqual(self.counter.count_created(), 0)
        # restored afterwards
        self.assertIsInstance(self.test_model.with_delay(), DelayableRecordset)


MODULE_WITH_DOCTESTS = '''
def double(value):
    """
    >>> double(2)
    4
    >>> double("a")
    'aa'
    """
    return value * 2


def broken():
    """
    >>> broken()
    2
    """
    return 1
'''


class TestDoctests(unittest.TestCase):
    def _module(self):
        module = types.ModuleType("qj_doctest_sample")
        exec(MODULE_WITH_DOCTESTS, module.__dict__)
        return module

    def test_load_doctests(self):
        load_tests = load_doctests(self._module())
        suite = load_tests(unittest.TestLoader(), unittest.TestSuite(), None)
        cases = list(suite)
        self.assertEqual(len(cases), 2)
        for seq, case in enumerate(cases):
            self.assertIsInstance(case, helpers.OdooDocTestCase)
            self.assertEqual(
                case.test_tags, {"standard", "at_install", "queue_job", "doctest"}
            )
            self.assertEqual(case.test_sequence, seq)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(len(result.failures), 1)
        self.assertIn("broken", result.failures[0][0].id())

    def test_odoo_doctest_case(self):
        case = next(iter(doctest.DocTestSuite(self._module())))
        odoo_case = helpers.OdooDocTestCase(case, seq=7)
        self.assertEqual(odoo_case.test_sequence, 7)
        self.assertIs(odoo_case._dt_test, case._dt_test)
        with mock.patch("odoo.addons.queue_job.tests.common._logger") as logger:
            odoo_case.setUp()
        logger.info.assert_called_once()
