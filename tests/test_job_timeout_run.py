"""The timeout of a job: its option and field, its run (``job_run.JobRun``
in this process, on committed transactions, as a runjob request runs it),
its end. The same through real servers: test_e2e_job_timeout.py."""
import threading
from datetime import datetime, timedelta

import pytest
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.exception import JobTimeoutError
from odoo.addons.queue_job.job import DONE, ENQUEUED, FAILED, PENDING, Job
from odoo.addons.queue_job.job_run import JobRun
from odoo.addons.queue_job.job_timeout import job_time_limit, time_limit
from odoo.addons.queue_job.lifecycle import Cause, RunEnd, decide_after_run
from odoo.tools import mute_logger

TIMEOUT_ERROR = "odoo.addons.queue_job.exception.JobTimeoutError"
# Longer than any test may take: what lasts that long was not interrupted,
# and fails the test by its timeout.
NEVER = 60
pytestmark = pytest.mark.timeout(NEVER / 3)

quiet = mute_logger(
    "odoo.addons.queue_job.job_run",
    "odoo.addons.queue_job.job_timeout",
    "odoo.sql_db",
)


class Runs:
    """Jobs of ``test.runner.job`` delayed, enqueued and run here."""

    def __init__(self, committed_env, prefix):
        self.committed_env = committed_env
        self.prefix = prefix
        self.uuids = []

    def delay(self, method, *args, model="test.runner.job", **options):
        with self.committed_env() as env:
            job = getattr(env[model].with_delay(**options), method)(*args)
            env.cr.execute(
                "UPDATE queue_job SET state = %s WHERE uuid = %s",
                (ENQUEUED, job.uuid),
            )
        self.uuids.append(job.uuid)
        return job.uuid

    def run(self, uuid):
        with self.committed_env() as env:
            JobRun(RunJobController(), env, uuid).execute()

    def row(self, uuid, *columns):
        with self.committed_env() as env:
            env.cr.execute(
                "SELECT %s FROM queue_job WHERE uuid = %%s" % ", ".join(columns),
                (uuid,),
            )
            return env.cr.fetchone()

    def executions(self, model="test.runner.job", column="label"):
        """(name, ``column``) of the executions the jobs committed."""
        with self.committed_env() as env:
            records = env[model].search([("name", "like", self.prefix + "%")])
            return [(record.name, record[column]) for record in records]

    def cleanup(self):
        with self.committed_env() as env:
            env["queue.job"].search([("uuid", "in", self.uuids)]).unlink()
            for model in ("test.runner.job", "test.reliability.job"):
                env[model].search([("name", "like", self.prefix + "%")]).unlink()


@pytest.fixture
def runs(request, committed_env):
    tracker = Runs(committed_env, "timeout-%s-" % request.node.name[:30])
    yield tracker
    tracker.cleanup()


@pytest.fixture
def function_config(committed_env):
    """Set values on a job function for the test, put back afterwards."""
    restore = []

    def configure(xmlid, **values):
        with committed_env() as env:
            function = env.ref(xmlid)
            restore.append((xmlid, function.read(list(values))[0]))
            function.write(values)

    yield configure
    with committed_env() as env:
        for xmlid, values in reversed(restore):
            values.pop("id")
            env.ref(xmlid).write(values)


# -- the option, stored and loaded


def test_with_delay_timeout_is_stored_and_loaded(committed_env, runs):
    uuid = runs.delay("record_run", runs.prefix + "a", timeout=5)
    assert runs.row(uuid, "timeout") == (5.0,)
    with committed_env() as env:
        job = Job.load(env, uuid)
        assert job.timeout == 5.0
        assert job.effective_timeout == 5.0


def test_job_without_timeout_has_none(committed_env, runs):
    uuid = runs.delay("record_run", runs.prefix + "a")
    assert not runs.row(uuid, "timeout")[0]
    with committed_env() as env:
        job = Job.load(env, uuid)
        assert job.timeout is None
        assert job.effective_timeout is None
        assert job_time_limit(job).__class__ is not time_limit


def test_delayable_set_timeout(committed_env, runs):
    with committed_env() as env:
        delayable = env["test.runner.job"].delayable().set(timeout=3)
        delayable.record_run(runs.prefix + "a").delay()
        job = delayable._generated_job
    runs.uuids.append(job.uuid)
    assert runs.row(job.uuid, "timeout") == (3.0,)


def test_function_timeout_loaded_from_xml(committed_env):
    with committed_env() as env:
        function = env.ref("test_queue_job.job_function_attempt_then_sleep")
        assert (function.timeout, function.retry_on_timeout) == (1.0, True)
        config = env["queue.job.function"].job_config(function.name)
    assert (config.timeout, config.retry_on_timeout) == (1.0, True)


def test_effective_timeout_is_the_jobs_else_its_functions(committed_env):
    with committed_env() as env:
        model = env["test.runner.job"]
        assert Job(model.short_sleeps_then_record).effective_timeout == 1.0
        assert Job(model.short_sleeps_then_record, timeout=30).effective_timeout == 30
        assert Job(model.record_run).effective_timeout is None


def test_retryable_timeout_decision():
    assert decide_after_run(Cause.RETRYABLE_TIMEOUT, 0, 3) == (RunEnd.RETRY_LATER, True)
    assert decide_after_run(Cause.RETRYABLE_TIMEOUT, 2, 3) == (RunEnd.FAIL, True)
    assert decide_after_run(Cause.RETRYABLE_TIMEOUT, 7, 0) == (RunEnd.RETRY_LATER, True)


# -- runs


@quiet
def test_job_over_its_timeout_fails_with_nothing_committed(runs):
    uuid = runs.delay("record_run", runs.prefix + "a", None, NEVER, timeout=0.3)
    with pytest.raises(JobTimeoutError):
        runs.run(uuid)
    state, retry, exc_name, exc_message, exc_info = runs.row(
        uuid, "state", "retry", "exc_name", "exc_message", "exc_info"
    )
    assert (state, retry, exc_name) == (FAILED, 1, TIMEOUT_ERROR)
    assert exc_message == "Job exceeded its timeout of 0.3 s"
    assert "record_run" in exc_info
    assert runs.executions() == []


@quiet
def test_statement_over_the_timeout_is_cancelled(runs):
    uuid = runs.delay("pg_sleep_then_record", runs.prefix + "a", NEVER, timeout=0.3)
    with pytest.raises(JobTimeoutError):
        runs.run(uuid)
    assert runs.row(uuid, "state", "exc_name") == (FAILED, TIMEOUT_ERROR)
    assert runs.executions() == []


@quiet
def test_job_keeps_what_it_committed_before_its_timeout(runs):
    uuid = runs.delay(
        "commit_then_sleep",
        runs.prefix + "a",
        NEVER,
        model="test.reliability.job",
        timeout=0.5,
    )
    with pytest.raises(JobTimeoutError):
        runs.run(uuid)
    assert runs.row(uuid, "state", "exc_name") == (FAILED, TIMEOUT_ERROR)
    assert runs.executions("test.reliability.job", "stage") == [
        (runs.prefix + "a", "midway")
    ]


@quiet
def test_retryable_timeout_is_postponed_by_the_retry_pattern(runs, function_config):
    function_config(
        "test_queue_job.job_function_attempt_then_sleep",
        timeout=0.3,
        retry_pattern={1: 7},
    )
    uuid = runs.delay("attempt_then_sleep", runs.prefix + "a", NEVER, max_retries=2)
    runs.run(uuid)
    state, retry, result, eta, exc_name = runs.row(
        uuid, "state", "retry", "result", "eta", "exc_name"
    )
    assert (state, retry, exc_name) == (PENDING, 1, None)
    assert result == "Job exceeded its timeout of 0.3 s"
    assert runs.executions() == [(runs.prefix + "a", "attempt")]
    with runs.committed_env() as env:
        (attempt,) = env["test.runner.job"].search([("name", "=", runs.prefix + "a")])
        attempted_at = datetime.utcfromtimestamp(attempt.started_at)
    # postponed after the timeout, by the pattern's delay
    assert eta >= attempted_at + timedelta(seconds=7)
    # the last try fails, with the timeout
    with runs.committed_env() as env:
        env.cr.execute(
            "UPDATE queue_job SET state = %s, eta = NULL WHERE uuid = %s",
            (ENQUEUED, uuid),
        )
    with pytest.raises(JobTimeoutError):
        runs.run(uuid)
    assert runs.row(uuid, "state", "retry", "exc_name") == (FAILED, 2, TIMEOUT_ERROR)


@quiet
def test_function_timeout_applies_to_its_jobs(runs):
    uuid = runs.delay("short_sleeps_then_record", runs.prefix + "a", NEVER)
    with pytest.raises(JobTimeoutError):
        runs.run(uuid)
    assert runs.row(uuid, "state", "exc_message") == (
        FAILED,
        "Job exceeded its timeout of 1 s",
    )


def test_job_timeout_overrides_its_functions(runs):
    uuid = runs.delay("short_sleeps_then_record", runs.prefix + "a", 1.2, timeout=NEVER)
    runs.run(uuid)
    assert runs.row(uuid, "state") == (DONE,)
    assert runs.executions() == [(runs.prefix + "a", False)]


def test_job_without_timeout_runs_to_its_end(runs):
    uuid = runs.delay("record_run", runs.prefix + "a", None, 0.5)
    runs.run(uuid)
    assert runs.row(uuid, "state", "exc_name") == (DONE, None)
    assert runs.executions() == [(runs.prefix + "a", False)]


@quiet
def test_run_in_a_thread_is_interrupted(runs):
    """As Odoo runs requests, in both servers: not in the main thread."""
    uuid = runs.delay("record_run", runs.prefix + "a", None, NEVER, timeout=0.3)
    errors = []

    def run():
        try:
            runs.run(uuid)
        except JobTimeoutError as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(NEVER)
    assert len(errors) == 1
    assert runs.row(uuid, "state", "exc_name") == (FAILED, TIMEOUT_ERROR)
    assert runs.executions() == []
