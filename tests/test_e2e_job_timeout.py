"""End-to-end: a job over its timeout is interrupted inside its worker, on
real Odoo servers with their job runner, and the worker serves the next job.

Jobs sleep far longer than the wait for their end: a job that ends within
that wait was interrupted. The prefork server has a single HTTP worker, so
the job after an interrupted one runs in the same process, if it survived.
"""
import os
import time

import pytest
from reliability_helpers import DatabaseJobs

# real Odoo servers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

TIMEOUT_ERROR = "odoo.addons.queue_job.exception.JobTimeoutError"
# what an interrupted job would sleep, were it not interrupted
SLEEP = 30
# the wait for the end of an interrupted job (of a timeout of 1 s)
INTERRUPTED_WITHIN = 10


class TimeoutJobs(DatabaseJobs):
    """Delays test jobs and observes them, directly in the database."""

    def delay(self, method, suffix, *args, model="test.runner.job", **options):
        """Delay ``model.method(<prefix><suffix>, *args)``; its uuid."""
        with self.committed_env() as env:
            delayable = env[model].with_delay(**options)
            job = getattr(delayable, method)(self.prefix + suffix, *args)
        self.uuids.append(job.uuid)
        return job.uuid

    def wait_ended(self, uuid, timeout):
        deadline = time.monotonic() + timeout
        while True:
            (state,) = self.row(uuid, "state")
            if state in ("done", "failed", "cancelled"):
                return state
            assert time.monotonic() < deadline, "job still %s after %ss" % (
                state,
                timeout,
            )
            time.sleep(0.05)

    def row(self, uuid, *columns):
        return self.sql(
            "SELECT %s FROM queue_job WHERE uuid = %%s" % ", ".join(columns), (uuid,)
        )[0]

    def executions(self, suffix, column="label", table="test_runner_job"):
        """(``column``, worker pid, started at) of what jobs committed."""
        return self.sql(
            "SELECT %s, worker_pid%s FROM %s WHERE name = %%s ORDER BY id"
            % (column, ", started_at" if table == "test_runner_job" else "", table),
            (self.prefix + suffix,),
        )

    def cleanup(self):
        if self.uuids:
            self.sql("DELETE FROM queue_job WHERE uuid = ANY(%s)", (self.uuids,))
        for table in ("test_runner_job", "test_reliability_job"):
            self.sql("DELETE FROM %s WHERE name LIKE %%s" % table, (self.prefix + "%",))


@pytest.fixture
def jobs(request, db_name, committed_env):
    prefix = "timeout-%s-%s-" % (
        request.node.name[:30],
        int(time.time() * 1000) % 10**8,
    )
    tracker = TimeoutJobs(db_name, committed_env, prefix)
    yield tracker
    tracker.cleanup()


def _assert_timed_out(jobs, uuid, timeout_text="1"):
    assert jobs.wait_ended(uuid, INTERRUPTED_WITHIN) == "failed"
    exc_name, exc_message, retry = jobs.row(uuid, "exc_name", "exc_message", "retry")
    assert (exc_name, retry) == (TIMEOUT_ERROR, 1)
    assert exc_message == "Job exceeded its timeout of %s s" % timeout_text


@pytest.fixture(scope="class")
def one_worker_server(class_server_factory, db_name):
    """A prefork server with one HTTP worker and the job runner."""
    server = class_server_factory(
        workers=1,
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:1"},
        name="e2e-timeout",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name)
    return server


class TestPrefork:
    def test_sleeping_job_interrupted_then_its_worker_runs_the_next(
        self, one_worker_server, jobs
    ):
        interrupted = jobs.delay("record_run", "sleep", None, SLEEP, timeout=1)
        # no timeout: runs past 1 s to its end
        following = jobs.delay("record_run", "next", None, 1.5)
        _assert_timed_out(jobs, interrupted)
        (worker_pid,) = jobs.row(interrupted, "worker_pid")
        assert worker_pid and worker_pid != one_worker_server.process.pid
        assert jobs.executions("sleep") == []
        assert jobs.wait_ended(following, 30) == "done"
        ((_label, next_pid, _started_at),) = jobs.executions("next")
        assert next_pid == worker_pid

    def test_statement_cancelled(self, one_worker_server, jobs):
        interrupted = jobs.delay("pg_sleep_then_record", "pg", SLEEP, timeout=1)
        following = jobs.delay("record_run", "next")
        _assert_timed_out(jobs, interrupted)
        assert jobs.executions("pg") == []
        assert jobs.wait_ended(following, 30) == "done"
        ((_label, next_pid, _started_at),) = jobs.executions("next")
        assert next_pid == jobs.row(interrupted, "worker_pid")[0]

    def test_job_keeps_what_it_committed(self, one_worker_server, jobs):
        uuid = jobs.delay(
            "commit_then_sleep",
            "commit",
            SLEEP,
            model="test.reliability.job",
            timeout=1,
        )
        _assert_timed_out(jobs, uuid)
        stages = jobs.executions("commit", column="stage", table="test_reliability_job")
        assert [stage for stage, _pid in stages] == ["midway"]

    def test_retryable_timeout_retried_by_the_retry_pattern(
        self, one_worker_server, jobs
    ):
        """The function (test addon's data): timeout 1 s, timeouts retried,
        retry pattern {1: 1, 2: 2}."""
        uuid = jobs.delay("attempt_then_sleep", "retry", SLEEP, max_retries=3)
        assert jobs.wait_ended(uuid, 3 * INTERRUPTED_WITHIN) == "failed"
        retry, exc_name = jobs.row(uuid, "retry", "exc_name")
        assert (retry, exc_name) == (3, TIMEOUT_ERROR)
        attempts = jobs.executions("retry")
        assert [label for label, _pid, _at in attempts] == ["attempt"] * 3
        starts = [started_at for _label, _pid, started_at in attempts]
        # each try starts after the timeout of the one before, and its delay
        assert starts[1] - starts[0] >= 1 + 1
        assert starts[2] - starts[1] >= 1 + 2


def test_threaded_server(odoo_server_factory, jobs, db_name):
    """Jobs run in threads: interrupted between bytecodes, statements
    cancelled; the server runs the next job."""
    server = odoo_server_factory(
        workers=0,
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:1"},
        name="e2e-timeout-threaded",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name, timeout=30)
    # the function's timeout (test addon's data): 1 s
    by_function = jobs.delay("short_sleeps_then_record", "steps", SLEEP)
    statement = jobs.delay("pg_sleep_then_record", "pg", SLEEP, timeout=1)
    following = jobs.delay("record_run", "next", None, 1.5)
    _assert_timed_out(jobs, by_function)
    _assert_timed_out(jobs, statement)
    assert jobs.wait_ended(following, 30) == "done"
    assert jobs.executions("steps") == jobs.executions("pg") == []
    ((_label, next_pid, _started_at),) = jobs.executions("next")
    assert next_pid == server.process.pid
    assert os.path.exists("/proc/%s" % server.process.pid)
