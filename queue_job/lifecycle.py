# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The life of a job: its states, the moves between them, and what becomes
of a run that did not succeed.

Pure: no Odoo import, no database. The in-memory ``Job`` changes its state
through these rules, the runjob request decides the end of a run with
:func:`decide_after_run`, the rescue of a dead worker's job (through Odoo,
or the runner's SQL when Odoo cannot be asked) with the same function, so
that a rule is written once.
"""
import enum
import random

WAIT_DEPENDENCIES = "wait_dependencies"
PENDING = "pending"
ENQUEUED = "enqueued"
STARTED = "started"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"

# (value, label) of queue.job's state selection, in the screens' order.
STATES = [
    (WAIT_DEPENDENCIES, "Wait Dependencies"),
    (PENDING, "Pending"),
    (ENQUEUED, "Enqueued"),
    (STARTED, "Started"),
    (DONE, "Done"),
    (CANCELLED, "Cancelled"),
    (FAILED, "Failed"),
]

# A job in one of these states waits to run: a new job with the same
# identity key is its duplicate.
WAITING_STATES = (WAIT_DEPENDENCIES, PENDING, ENQUEUED)
# The states the runner schedules or watches (a failed job may be requeued).
NOT_DONE_STATES = (WAIT_DEPENDENCIES, PENDING, ENQUEUED, STARTED, FAILED)

DEFAULT_PRIORITY = 10  # lower number = runs earlier
DEFAULT_MAX_RETRIES = 5
RETRY_INTERVAL = 10 * 60  # seconds

# Where a job may go from each state. Requeuing (to pending, or waiting for
# its parents), setting done and cancelling are allowed from any state, as
# the screens and the Job API do. The runner enqueues only pending jobs and
# the runjob request starts only enqueued ones; the Job API may also start a
# pending job (run in the caller's transaction, as tests do).
TRANSITIONS = {
    WAIT_DEPENDENCIES: {PENDING, CANCELLED, DONE, FAILED, WAIT_DEPENDENCIES},
    PENDING: {ENQUEUED, STARTED, WAIT_DEPENDENCIES, CANCELLED, DONE, FAILED, PENDING},
    ENQUEUED: {STARTED, PENDING, WAIT_DEPENDENCIES, CANCELLED, DONE, FAILED},
    STARTED: {DONE, FAILED, PENDING, WAIT_DEPENDENCIES, CANCELLED},
    DONE: {PENDING, WAIT_DEPENDENCIES, CANCELLED, DONE},
    CANCELLED: {PENDING, WAIT_DEPENDENCIES, DONE, CANCELLED},
    FAILED: {PENDING, WAIT_DEPENDENCIES, DONE, CANCELLED, FAILED},
}


# The states a user may put jobs in (queue.job's _change_job_state()).
MANUAL_STATES = (DONE, PENDING, CANCELLED)


class InvalidTransition(ValueError):
    """A state change that no path of the job's life makes."""


def check_transition(from_state, to_state):
    """Raise ``InvalidTransition`` unless a job may go from ``from_state``
    to ``to_state``."""
    if to_state not in TRANSITIONS.get(from_state, ()):
        raise InvalidTransition(
            "a job cannot go from state %r to state %r" % (from_state, to_state)
        )


def retries_exhausted(tries, max_retries):
    """Whether a job that made ``tries`` tries may not try again
    (``max_retries`` 0 or None: it may always)."""
    return bool(max_retries) and tries >= max_retries


def retry_delay(retry, retry_pattern=None, seconds=None):
    """Seconds to wait before the next try of a job that made ``retry``
    tries: ``seconds`` when given, else the ``retry_pattern``'s step
    (``{from try count: seconds}``), else ``RETRY_INTERVAL``. A
    ``(min, max)`` pair is drawn at random between the two."""
    if not seconds and retry_pattern:
        seconds = RETRY_INTERVAL
        for retry_count, postpone_seconds in sorted(retry_pattern.items()):
            if retry >= retry_count:
                seconds = postpone_seconds
            else:
                break
    elif not seconds:
        seconds = RETRY_INTERVAL
    if isinstance(seconds, (list, tuple)):
        seconds = random.randint(seconds[0], seconds[1])
    return seconds


def pending_state(waiting_duplicate, parents_done):
    """The state of a job put back to run: cancelled when a job with its
    identity key already waits (it is not queued twice), waiting for its
    parents while one is not done, else pending."""
    if waiting_duplicate:
        return CANCELLED
    return PENDING if parents_done else WAIT_DEPENDENCIES


class RunEnd(enum.Enum):
    """How a run that did not complete ends."""

    # the job had nothing to do: done, with the reason as result
    NOTHING_TO_DO = "nothing to do"
    # the job asked to be tried again later: pending, eta postponed
    RETRY_LATER = "retry later"
    # back to pending now (a try counted or not, see RunOutcome)
    REQUEUE = "requeue"
    # failed, until someone requeues it
    FAIL = "fail"


class Cause(enum.Enum):
    """Why a run did not complete."""

    # NothingToDoJob raised by the job
    NOTHING_TO_DO = "nothing to do"
    # RetryableJobError raised by the job (or a concurrency error of
    # PostgreSQL, which is not the job's fault)
    RETRYABLE = "retryable"
    # the job ran over its timeout, and its function retries timeouts (a
    # timeout it does not retry is an ERROR)
    RETRYABLE_TIMEOUT = "retryable timeout"
    # any other exception raised by the job, or the job could not be loaded
    ERROR = "error"
    # the database connection was cut (PostgreSQL restarted): the job's
    # changes were rolled back with it, the try does not count
    INTERRUPTED = "interrupted"
    # the worker running the job died (its lease was found free): the try
    # counts
    WORKER_DIED = "worker died"


def decide_after_run(cause, tries, max_retries):
    """The end of a run that did not complete: a ``(RunEnd, counts_try)``.

    ``tries``: the job's tries before this run's (its ``retry`` column as
    stored when it started). A ``RetryableJobError`` raised once the tries
    are exhausted has already become a ``FailedJobError`` (see
    ``Job.perform()``): an ``ERROR``.
    """
    if cause is Cause.NOTHING_TO_DO:
        return RunEnd.NOTHING_TO_DO, True
    if cause is Cause.RETRYABLE:
        return RunEnd.RETRY_LATER, True
    if cause is Cause.INTERRUPTED:
        return RunEnd.REQUEUE, False
    if cause in (Cause.RETRYABLE_TIMEOUT, Cause.WORKER_DIED):
        # the try counts, and may have been the last one
        if retries_exhausted(tries + 1, max_retries):
            return RunEnd.FAIL, True
        if cause is Cause.RETRYABLE_TIMEOUT:
            return RunEnd.RETRY_LATER, True
        return RunEnd.REQUEUE, True
    return RunEnd.FAIL, True
