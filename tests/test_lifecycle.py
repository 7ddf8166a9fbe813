"""The rules of a job's life (``queue_job.lifecycle``), pure: no database."""
from unittest import mock

import pytest
from odoo.addons.queue_job import lifecycle
from odoo.addons.queue_job.lifecycle import (
    CANCELLED,
    DONE,
    ENQUEUED,
    FAILED,
    PENDING,
    STARTED,
    WAIT_DEPENDENCIES,
    Cause,
    InvalidTransition,
    RunEnd,
    check_transition,
    decide_after_run,
    pending_state,
    retries_exhausted,
    retry_delay,
)


def test_every_state_has_its_transitions():
    states = {value for value, _label in lifecycle.STATES}
    assert set(lifecycle.TRANSITIONS) == states
    for targets in lifecycle.TRANSITIONS.values():
        assert targets <= states


@pytest.mark.parametrize("state", [WAIT_DEPENDENCIES, PENDING, STARTED, DONE, FAILED])
def test_user_actions_allowed_from_any_state(state):
    for target in lifecycle.MANUAL_STATES:
        check_transition(state, target)


@pytest.mark.parametrize(
    "from_state, to_state",
    [(DONE, STARTED), (FAILED, ENQUEUED), (CANCELLED, STARTED), (STARTED, ENQUEUED)],
)
def test_runner_and_worker_moves_are_checked(from_state, to_state):
    with pytest.raises(InvalidTransition, match=from_state):
        check_transition(from_state, to_state)


def test_run_path_is_allowed():
    for from_state, to_state in [
        (PENDING, ENQUEUED),
        (ENQUEUED, STARTED),
        (STARTED, DONE),
        (STARTED, FAILED),
        (STARTED, PENDING),
        (ENQUEUED, PENDING),
        (WAIT_DEPENDENCIES, PENDING),
    ]:
        check_transition(from_state, to_state)


@pytest.mark.parametrize(
    "tries, max_retries, exhausted",
    [(1, 0, False), (100, 0, False), (4, 5, False), (5, 5, True), (6, 5, True)],
)
def test_retries_exhausted(tries, max_retries, exhausted):
    assert retries_exhausted(tries, max_retries) is exhausted


def test_retry_delay_explicit_seconds_win():
    assert retry_delay(3, {1: 10, 5: 20}, seconds=42) == 42


def test_retry_delay_follows_the_pattern_steps():
    pattern = {5: 20, 1: 10, 10: 30}
    assert retry_delay(0, pattern) == lifecycle.RETRY_INTERVAL
    assert retry_delay(1, pattern) == 10
    assert retry_delay(4, pattern) == 10
    assert retry_delay(5, pattern) == 20
    assert retry_delay(12, pattern) == 30


def test_retry_delay_default():
    assert retry_delay(3) == lifecycle.RETRY_INTERVAL


def test_retry_delay_random_range():
    with mock.patch.object(lifecycle.random, "randint", return_value=17) as randint:
        assert retry_delay(2, {1: (10, 20)}) == 17
    randint.assert_called_once_with(10, 20)


def test_pending_state():
    assert pending_state(waiting_duplicate=True, parents_done=True) == CANCELLED
    assert pending_state(waiting_duplicate=False, parents_done=True) == PENDING
    assert pending_state(waiting_duplicate=False, parents_done=False) == (
        WAIT_DEPENDENCIES
    )


@pytest.mark.parametrize(
    "cause, tries, max_retries, expected",
    [
        (Cause.NOTHING_TO_DO, 0, 5, (RunEnd.NOTHING_TO_DO, True)),
        (Cause.RETRYABLE, 2, 5, (RunEnd.RETRY_LATER, True)),
        (Cause.ERROR, 0, 5, (RunEnd.FAIL, True)),
        (Cause.INTERRUPTED, 4, 5, (RunEnd.REQUEUE, False)),
        (Cause.WORKER_DIED, 3, 5, (RunEnd.REQUEUE, True)),
        (Cause.WORKER_DIED, 4, 5, (RunEnd.FAIL, True)),
        (Cause.WORKER_DIED, 40, 0, (RunEnd.REQUEUE, True)),
    ],
)
def test_decide_after_run(cause, tries, max_retries, expected):
    assert decide_after_run(cause, tries, max_retries) == expected
