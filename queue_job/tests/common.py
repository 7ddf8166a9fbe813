# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Helpers for the tests of addons that delay jobs.

:func:`trap_jobs` captures the jobs delayed in a block instead of storing
them, to assert on them and run them synchronously.
"""
import doctest
import logging
import typing
from contextlib import contextmanager
from itertools import groupby
from operator import attrgetter
from unittest import TestCase, mock

from odoo.addons.queue_job.delay import Graph
from odoo.addons.queue_job.job import Job

_logger = logging.getLogger(__name__)


@contextmanager
def trap_jobs():
    """Capture the jobs delayed in the block; nothing is stored.

    ::

        with trap_jobs() as trap:
            self.env["res.partner"].with_delay(priority=15).write({"a": 1})
            trap.assert_jobs_count(1)
            trap.assert_enqueued_job(
                self.env["res.partner"].write,
                args=({"a": 1},),
                properties=dict(priority=15),
            )
            trap.perform_enqueued_jobs()

    The jobs are not executed unless :meth:`JobsTrap.perform_enqueued_jobs`
    is called; the synchronous modes (``test_queue_job_no_delay``) still
    execute them at once.
    """
    with mock.patch(
        "odoo.addons.queue_job.delay.Job",
        name="Job Class",
        autospec=True,
    ) as job_cls_mock:
        with JobsTrap(job_cls_mock) as trap:
            yield trap


class JobCall(typing.NamedTuple):
    method: typing.Callable
    args: tuple
    kwargs: dict
    properties: dict

    def __eq__(self, other):
        if not isinstance(other, JobCall):
            return NotImplemented
        return (
            self.method.__self__ == other.method.__self__
            and self.method.__func__ == other.method.__func__
            and self.args == other.args
            and self.kwargs == other.kwargs
            and self.properties == other.properties
        )

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal


class JobsTrap:
    """What :func:`trap_jobs` yields: the captured jobs and assertions on them.

    ``calls`` lists one :class:`JobCall` per built job, ``enqueued_jobs`` the
    jobs that would have been stored (a job having the identity key of an
    already captured one is not listed, as it would not be stored).
    """

    def __init__(self, job_mock):
        self.job_mock = job_mock
        self.job_mock.side_effect = self._add_job
        # 1 call == 1 job, they share the same position in the lists
        self.calls = []
        self.enqueued_jobs = []
        self._store_patchers = []
        self._test_case = TestCase()

    def jobs_count(self, only=None):
        """Number of captured jobs, or only those of the method ``only``."""
        if only:
            return len(self._filtered_enqueued_jobs(only))
        return len(self.enqueued_jobs)

    def assert_jobs_count(self, expected, only=None):
        """Raise an assertion error if the count of jobs does not match

        :param expected: expected count of jobs
        :param only: the count is restricted to the method given here
        """
        self._test_case.assertEqual(self.jobs_count(only=only), expected)

    def assert_enqueued_job(self, method, args=None, kwargs=None, properties=None):
        """Raise an assertion error if no such job was delayed.

        ``properties`` (priority, eta, ...) are compared only for the keys
        given, so ``properties=None`` does not check any.
        """
        if args is None:
            args = ()
        if kwargs is None:
            kwargs = {}
        if properties is None:
            properties = {}
        expected_call = JobCall(
            method=method,
            args=args,
            kwargs=kwargs,
            properties=properties,
        )
        actual_calls = []
        for call in self.calls:
            checked_properties = {
                key: value
                for key, value in call.properties.items()
                if key in properties
            }
            # the recorded call restricted to the properties to check
            actual_calls.append(
                JobCall(
                    method=call.method,
                    args=call.args,
                    kwargs=call.kwargs,
                    properties=checked_properties,
                )
            )

        if expected_call not in actual_calls:
            raise AssertionError(
                "Job %s was not enqueued.\n"
                "Actual enqueued jobs:\n%s"
                % (
                    self._format_job_call(expected_call),
                    "\n".join(
                        " * %s" % (self._format_job_call(call),)
                        for call in actual_calls
                    ),
                )
            )

    def perform_enqueued_jobs(self):
        """Run the captured jobs now, in this transaction.

        Single jobs run first, by priority, then each graph in dependency
        order. The jobs' states are not changed.
        """
        enqueued_jobs = self.enqueued_jobs
        self.enqueued_jobs = []
        sorted_jobs = sorted(enqueued_jobs, key=lambda job: job.graph_uuid or "")
        for graph_uuid, group in groupby(sorted_jobs, key=attrgetter("graph_uuid")):
            jobs = list(group)
            if graph_uuid:
                self._perform_graph_jobs(jobs)
            else:
                self._perform_single_jobs(jobs)

    def _perform_single_jobs(self, jobs):
        # we probably don't want to replicate a perfect order here, but at
        # least respect the priority
        for job in sorted(jobs, key=attrgetter("priority")):
            job.perform()

    def _perform_graph_jobs(self, jobs):
        jobs = list(jobs)
        graph = Graph()
        for job in jobs:
            graph.add_vertex(job)
            for parent in job.depends_on:
                if parent in jobs:
                    graph.add_edge(parent, job)
        for job in graph.topological_sort():
            job.perform()

    def _add_job(self, *args, **kwargs):
        job = Job(*args, **kwargs)
        if not job.identity_key or all(
            j.identity_key != job.identity_key for j in self.enqueued_jobs
        ):
            self.enqueued_jobs.append(job)
        # a duplicate is not stored either: it would be, as the job it
        # duplicates is only in this trap, not in the database
        patcher = mock.patch.object(job, "store")
        self._store_patchers.append(patcher)
        patcher.start()

        job_args = kwargs.pop("args", None) or ()
        job_kwargs = kwargs.pop("kwargs", None) or {}
        self.calls.append(
            JobCall(
                method=args[0],
                args=job_args,
                kwargs=job_kwargs,
                properties=kwargs,
            )
        )
        return job

    def _filtered_enqueued_jobs(self, job_method):
        enqueued_jobs = [
            job
            for job in self.enqueued_jobs
            if job.func.__self__ == job_method.__self__
            and job.func.__func__ == job_method.__func__
        ]
        return enqueued_jobs

    def _format_job_call(self, call):
        method_all_args = []
        if call.args:
            method_all_args.append(", ".join("%s" % (arg,) for arg in call.args))
        if call.kwargs:
            method_all_args.append(
                ", ".join("%s=%s" % (key, value) for key, value in call.kwargs.items())
            )
        return "<%s>.%s(%s) with properties (%s)" % (
            call.method.__self__,
            call.method.__name__,
            ", ".join(method_all_args),
            ", ".join("%s=%s" % (key, value) for key, value in call.properties.items()),
        )

    def __repr__(self):
        return repr(self.calls)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        for patcher in self._store_patchers:
            patcher.stop()


class JobCounter:
    """Count the ``queue.job`` records created since its construction."""

    def __init__(self, env):
        self.env = env
        self.existing = self.search_all()

    def count_all(self):
        return len(self.search_all())

    def count_created(self):
        return len(self.search_created())

    def count_existing(self):
        return len(self.existing)

    def search_created(self):
        return self.search_all() - self.existing

    def search_all(self):
        return self.env["queue.job"].search([])


class JobMixin:
    """Test case mixin: count stored jobs and run them synchronously."""

    def job_counter(self):
        return JobCounter(self.env)

    def perform_jobs(self, jobs):
        """Run the jobs created since the ``JobCounter`` ``jobs`` was made.

        Their states are not changed.
        """
        for job in jobs.search_created():
            Job.load(self.env, job.uuid).perform()

    @contextmanager
    def trap_jobs(self):
        with trap_jobs() as trap:
            yield trap


@contextmanager
def mock_with_delay():
    """Replace ``with_delay()``'s ``DelayableRecordset`` by mocks (deprecated).

    Yields ``(delayable_cls, delayable)``: ``delayable_cls`` is called with
    the recordset and the options, ``delayable`` records the method called::

        with mock_with_delay() as (delayable_cls, delayable):
            partner.button_that_uses_with_delay()
            self.assertEqual(delayable_cls.call_count, 1)
            delay_args, delay_kwargs = delayable_cls.call_args
            self.assertEqual(delay_args, (partner,))
            self.assertDictEqual(delay_kwargs, {"priority": 15, ...})
            delayable.export_record.assert_called_once_with(force=True)

    Prefer :func:`trap_jobs`.
    """
    with mock.patch(
        "odoo.addons.queue_job.models.base.DelayableRecordset",
        name="DelayableRecordset",
        spec=True,
    ) as delayable_cls:
        # prepare the mocks
        delayable = mock.MagicMock(name="DelayableBinding")
        delayable_cls.return_value = delayable
        yield delayable_cls, delayable


class OdooDocTestCase(doctest.DocTestCase):
    """A doctest case run by Odoo's test runner (which needs ``test_sequence``)."""

    def __init__(
        self, doctest, optionflags=0, setUp=None, tearDown=None, checker=None, seq=0
    ):
        super().__init__(
            doctest._dt_test,
            optionflags=optionflags,
            setUp=setUp,
            tearDown=tearDown,
            checker=checker,
        )
        self.test_sequence = seq

    def setUp(self):
        super().setUp()
        _logger.info("Running tests for %s", self._dt_test.name)


def load_doctests(module):
    """Return a ``load_tests`` function running the doctests of ``module``.

    Use as ``load_tests = load_doctests(module)`` in a test module.
    """

    def load_tests(loader, tests, ignore):
        for idx, test in enumerate(doctest.DocTestSuite(module)):
            odoo_test = OdooDocTestCase(test, seq=idx)
            odoo_test.test_tags = {"standard", "at_install", "queue_job", "doctest"}
            tests.addTest(odoo_test)

        return tests

    return load_tests
