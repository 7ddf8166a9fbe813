"""Parts of the runjob controller that a real server cannot provoke on demand:
concurrency errors while releasing dependent jobs, failure values."""
from unittest import mock

import psycopg2
import pytest
from odoo.addons.queue_job import job_graph
from odoo.addons.queue_job.controllers import main
from odoo.addons.queue_job.exception import FailedJobError
from odoo.exceptions import UserError
from psycopg2 import errorcodes


class PgError(psycopg2.OperationalError):
    """An OperationalError with a chosen pgcode (psycopg2's is read-only)."""

    def __init__(self, pgcode):
        super().__init__("simulated")
        self._pgcode = pgcode

    @property
    def pgcode(self):
        return self._pgcode


@pytest.fixture
def controller():
    return main.RunJobController()


@pytest.fixture
def sleeps():
    with mock.patch.object(job_graph.time, "sleep") as sleep:
        yield sleep


def test_dependents_released_after_concurrency_errors(controller, sleeps):
    env = mock.Mock()
    job = mock.Mock()
    job.enqueue_waiting.side_effect = [
        PgError(errorcodes.SERIALIZATION_FAILURE),
        PgError(errorcodes.DEADLOCK_DETECTED),
        None,
    ]
    controller._enqueue_dependent_jobs(env, job)
    assert job.enqueue_waiting.call_count == 3
    # each try in a new transaction: the failed one is rolled back
    assert env.cr.rollback.call_count == 2
    assert env.cr.commit.call_count == 1
    # random backoff, up to 2**n seconds before the n-th retry
    delays = [call.args[0] for call in sleeps.call_args_list]
    assert len(delays) == 2
    assert 0 <= delays[0] <= 1 and 0 <= delays[1] <= 2


def test_dependents_release_gives_up(controller, sleeps):
    env = mock.Mock()
    job = mock.Mock()
    job.enqueue_waiting.side_effect = PgError(errorcodes.LOCK_NOT_AVAILABLE)
    with pytest.raises(psycopg2.OperationalError):
        controller._enqueue_dependent_jobs(env, job)
    assert (
        job.enqueue_waiting.call_count
        == main.DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE + 1
    )
    assert env.cr.commit.call_count == 0


def test_no_dependents_nothing_to_release(controller, sleeps):
    """The dependents of a job are those of the row it just stored: none,
    no UPDATE, no transaction."""
    env = mock.Mock()
    job = mock.Mock()
    job._has_dependents.return_value = False
    controller._enqueue_dependent_jobs(env, job)
    job.enqueue_waiting.assert_not_called()
    env.cr.commit.assert_not_called()


def test_dependents_release_other_error(controller, sleeps):
    env = mock.Mock()
    job = mock.Mock()
    job.enqueue_waiting.side_effect = PgError(errorcodes.UNDEFINED_TABLE)
    with pytest.raises(psycopg2.OperationalError):
        controller._enqueue_dependent_jobs(env, job)
    assert job.enqueue_waiting.call_count == 1
    sleeps.assert_not_called()


@pytest.mark.parametrize(
    "exception, exc_name, exc_message",
    [
        (
            ZeroDivisionError("division by zero"),
            "builtins.ZeroDivisionError",
            "division by zero",
        ),
        (UserError("Not allowed"), "odoo.exceptions.UserError", "Not allowed"),
        (
            FailedJobError("Max. retries (5) reached: x"),
            "odoo.addons.queue_job.exception.FailedJobError",
            "Max. retries (5) reached: x",
        ),
    ],
)
def test_failure_values(controller, exception, exc_name, exc_message):
    assert controller._get_failure_values(None, "Traceback...", exception) == {
        "exc_info": "Traceback...",
        "exc_name": exc_name,
        "exc_message": exc_message,
    }
