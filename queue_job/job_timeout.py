# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Interrupt a job that runs longer than its timeout, inside its worker.

:class:`time_limit` arms a deadline around the execution of a job: past it,
the job's code gets a ``JobTimeoutError`` and the SQL statement it runs on
its cursor is cancelled (see ``queue_job.job_timeout_watchdog`` for how, and
what cannot be interrupted). :func:`job_time_limit` is the one of a ``Job``.
"""
import contextlib
import signal
import time

from odoo import _

from . import job_timeout_watchdog as watchdogs
from .exception import JobTimeoutError
from .job_timeout_watchdog import Limit, format_seconds, interruptible_sleep, on_alarm


def timeout_message(seconds, env=None):
    """The failure message of a job interrupted at its timeout of ``seconds``.

    In the language of ``env`` (its context's, else its user's), in English
    without ``env``.
    """
    if env is None:
        return "Job exceeded its timeout of %s s" % format_seconds(seconds)
    # read by odoo's _() in this frame
    cr, uid, context = env.cr, env.uid, env.context  # noqa: F841
    return _("Job exceeded its timeout of %s s", format_seconds(seconds))


def _connection_of(cursor):
    """The psycopg2 connection of an Odoo or psycopg2 cursor (or connection)."""
    if cursor is None:
        return None
    for attribute in ("_cnx", "connection"):
        connection = getattr(cursor, attribute, None)
        if connection is not None:
            return connection
    return cursor if hasattr(cursor, "cancel") else None


def _uninterrupted(function, *args):
    """Call ``function`` to its end, even if a timeout interrupts it.

    Returns the ``JobTimeoutError`` that interrupted it last, if any (each
    limit interrupts a thread once per ``job_timeout_watchdog.REFIRE_INTERVAL``).
    """
    interruption = None
    while True:
        try:
            function(*args)
            return interruption
        except JobTimeoutError as err:
            interruption = err


class time_limit:
    """Context manager: interrupt the block when it runs over ``seconds``.

    No-op when ``seconds`` is None or not positive. Past the deadline, the
    block gets a :class:`JobTimeoutError` (and again every
    ``job_timeout_watchdog.REFIRE_INTERVAL`` seconds), and the statement running on the
    connection of ``cursor`` (an Odoo or psycopg2 cursor) is cancelled. The
    block ends with a ``JobTimeoutError`` whose text is ``message`` (see
    :func:`timeout_message`) whatever it raised once the deadline passed
    (``QueryCanceled``, an error of a job that caught the interruption),
    and even if it returned; ``BaseException`` that are not ``Exception``
    pass through. Statements of other connections are not cancelled: they
    are interrupted once they return.

    The transaction is left as the block left it: the caller rolls it back.
    Nothing stays armed after the block (the SIGALRM handler of the main
    thread is the one found on entry; the interval timers are untouched).
    Blocks may be nested.
    """

    def __init__(self, seconds, cursor=None, message=None):
        self.seconds = seconds
        self.cursor = cursor
        self.message = message
        self._limit = None
        self._previous_handler = None
        self._signals_sent = 0

    def __enter__(self):
        seconds = self.seconds
        if not seconds or seconds <= 0:
            return self
        message = self.message or timeout_message(seconds)
        limit = Limit(seconds, message, _connection_of(self.cursor))
        watchdog = watchdogs.current()
        if limit.in_main_thread:
            self._install_handler(watchdog)
        elif time.sleep is not interruptible_sleep:
            time.sleep = interruptible_sleep
        self._limit = limit
        try:
            watchdog.arm(limit)
        except BaseException:
            self._leave(watchdog)
            raise
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self._limit is None:
            return False
        limit = self._limit
        interruption = self._leave(watchdogs.current())
        if not limit.fired:
            if interruption is not None:
                # an enclosing block's
                raise interruption
            return False
        if isinstance(exc, JobTimeoutError):
            if exc.timeout is None:
                limit.claim(exc)
            return False
        if exc is not None and not isinstance(exc, Exception):
            return False
        if interruption is not None and interruption.timeout is None:
            error = limit.claim(interruption)
        else:
            error = limit.claim(JobTimeoutError())
        raise error from exc

    def _install_handler(self, watchdog):
        previous = signal.signal(signal.SIGALRM, on_alarm)
        self._previous_handler = previous
        self._signals_sent = watchdog.signals_sent
        if previous is not on_alarm:
            watchdog.foreign_handler = previous

    def _leave(self, watchdog):
        """Disarm the limit and put the SIGALRM handler back; the timeout
        error that interrupted this, if any."""
        limit = self._limit
        self._limit = None
        interruption = _uninterrupted(watchdog.disarm, limit)
        if limit.in_main_thread:
            late = _uninterrupted(self._restore_handler, watchdog)
            interruption = late or interruption
        return interruption

    def _restore_handler(self, watchdog):
        previous = self._previous_handler
        if previous is on_alarm:
            return
        if watchdog.signals_sent != self._signals_sent:
            self._drain_sent_signals(watchdog)
        signal.signal(signal.SIGALRM, previous)
        watchdog.foreign_handler = None

    @staticmethod
    def _drain_sent_signals(watchdog):
        """Consume a SIGALRM of the watchdog not delivered yet, which would
        reach the handler put back (Python's default one ends the process)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            if signal.sigtimedwait({signal.SIGALRM}, 0) is not None:
                watchdog.signal_in_flight = False
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


def job_time_limit(job):
    """The deadline of the execution of ``job`` (a ``Job``) when it has a
    timeout (see ``Job.effective_timeout``), else a block that does nothing.
    """
    seconds = job.effective_timeout
    if not seconds:
        return contextlib.nullcontext()
    return time_limit(seconds, job.env.cr, timeout_message(seconds, job.env))
