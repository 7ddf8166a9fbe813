# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Interrupt a job that runs longer than its timeout, inside its worker.

:class:`time_limit` arms a deadline around the execution of a job. A single
watchdog thread per process (started with the first deadline, never one per
job) keeps the deadlines of the jobs running in the process. When one
passes, it interrupts the job's thread with a :class:`JobTimeoutError` and
cancels the SQL statement running on the job's connection (a thread blocked
in libpq runs no Python code: libpq retries interrupted system calls, so the
statement must end first). It does it again every ``REFIRE_INTERVAL``
seconds until the job's block ends, for a job that swallows the exception
(``except Exception``).

How the exception reaches the job's thread depends on the thread:

* the main thread (the prefork server runs its jobs there): SIGALRM is sent
  to it, whose handler raises. A blocking system call (``time.sleep()``, a
  socket read) is interrupted at once;
* any other thread (the threaded server): ``PyThreadState_SetAsyncExc``,
  which raises at the thread's next bytecode. A blocking call made in C
  (``time.sleep()``, a socket read) is interrupted only when it returns.

In both, C code that keeps the GIL (a long regular expression, a huge
sort) is not interrupted before it returns: Odoo's ``limit_time_real``
remains the backstop, the lease rescuing the job of a killed worker.
"""
import contextlib
import ctypes
import logging
import os
import signal
import threading
import time

from odoo import _
from psycopg2 import errorcodes

from .exception import JobTimeoutError

_logger = logging.getLogger(__name__)

# Seconds between two interruptions of a job still running after its deadline.
REFIRE_INTERVAL = 1.0



def _set_async_exc(thread_id, exc_class):
    """Have the thread raise ``exc_class`` at its next bytecode; None clears
    what is pending."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id),
        ctypes.py_object(exc_class) if exc_class is not None else None,
    )


def format_seconds(seconds):
    """``30`` for 30 or 30.0, ``1.5`` for 1.5."""
    return "%g" % seconds


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


def _is_query_canceled(exc):
    return getattr(exc, "pgcode", None) == errorcodes.QUERY_CANCELED


class _Limit:
    """One armed deadline: of the block of a thread."""

    __slots__ = (
        "seconds",
        "message",
        "connection",
        "thread_id",
        "in_main_thread",
        "due",
        "fired",
        "cancelling",
    )

    def __init__(self, seconds, message, connection):
        self.seconds = seconds
        self.message = message
        self.connection = connection
        self.thread_id = threading.get_ident()
        self.in_main_thread = threading.current_thread() is threading.main_thread()
        self.due = time.monotonic() + seconds
        self.fired = False
        self.cancelling = False

    def claim(self, error):
        """Make ``error`` the timeout error of this limit."""
        error.args = (self.message,)
        error.timeout = self.seconds
        return error


class _Watchdog:
    """The deadlines armed in this process, and the thread enforcing them.

    Everything is guarded by ``condition``, but for what the SIGALRM handler
    reads (it runs in the main thread, possibly while that thread holds the
    lock): ``main_pending``, ``signal_in_flight``, ``foreign_handler``.
    """

    def __init__(self):
        self.condition = threading.Condition()
        self.limits = set()
        self.thread = None
        self.next_due = None
        # the limit whose error the SIGALRM handler raises in the main thread
        self.main_pending = None
        # a SIGALRM sent by the watchdog not yet seen by the handler
        self.signal_in_flight = False
        self.signals_sent = 0
        # the SIGALRM handler found when ours was installed, to chain to
        self.foreign_handler = None

    def arm(self, limit):
        with self.condition:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="queue_job.job_timeout", daemon=True
                )
                self.thread.start()
            self.limits.add(limit)
            if self.next_due is None or limit.due < self.next_due:
                self.condition.notify_all()

    def disarm(self, limit):
        """Stop watching ``limit``; once this returns, nothing of it is pending:
        no cancellation under way, no exception set for its thread."""
        with self.condition:
            self.limits.discard(limit)
            if self.main_pending is limit:
                self.main_pending = None
            while limit.cancelling:
                self.condition.wait()
            if limit.fired and not limit.in_main_thread:
                _set_async_exc(limit.thread_id, None)

    def _run(self):
        while True:
            with self.condition:
                fired = self._fire_due_limits()
                if not fired:
                    self.condition.wait(self._wait_time())
                    continue
            for limit, first in fired:
                if first:
                    _logger.warning(
                        "interrupting a job at its timeout of %s s (thread %s)",
                        format_seconds(limit.seconds),
                        limit.thread_id,
                    )
                if limit.connection is not None:
                    self._cancel_statement(limit.connection)
            with self.condition:
                for limit, _first in fired:
                    limit.cancelling = False
                self.condition.notify_all()

    def _wait_time(self):
        if not self.limits:
            self.next_due = None
            return None
        self.next_due = min(limit.due for limit in self.limits)
        return max(self.next_due - time.monotonic(), 0)

    def _fire_due_limits(self):
        """Interrupt the threads of the limits whose deadline passed; they
        are to have their statement cancelled (flagged ``cancelling``).

        Returns them, each with whether it is its first interruption.
        """
        now = time.monotonic()
        fired = [(limit, not limit.fired) for limit in self.limits if limit.due <= now]
        for limit, _first in fired:
            limit.fired = True
            limit.cancelling = True
            limit.due = now + REFIRE_INTERVAL
            if limit.in_main_thread:
                self.main_pending = limit
                self.signal_in_flight = True
                self.signals_sent += 1
                signal.pthread_kill(limit.thread_id, signal.SIGALRM)
            else:
                _set_async_exc(limit.thread_id, JobTimeoutError)
        return fired

    @staticmethod
    def _cancel_statement(connection):
        if connection.closed:
            return
        try:
            connection.cancel()
        except Exception as err:
            _logger.warning("could not cancel the statement of a job: %s", err)


_watchdog = _Watchdog()


def _reset_after_fork():
    """A forked child has no watchdog thread, and none of the parent's limits."""
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_reset_after_fork)


def _on_alarm(signum, frame):
    """SIGALRM handler of the main thread while a limit is armed in it."""
    watchdog = _watchdog
    limit = watchdog.main_pending
    if limit is not None:
        watchdog.main_pending = None
        watchdog.signal_in_flight = False
        raise limit.claim(JobTimeoutError())
    if watchdog.signal_in_flight:
        # sent for a limit disarmed since
        watchdog.signal_in_flight = False
        return
    if callable(watchdog.foreign_handler):
        watchdog.foreign_handler(signum, frame)


def _uninterrupted(function, *args):
    """Call ``function`` to its end, even if a timeout interrupts it.

    Returns the ``JobTimeoutError`` that interrupted it last, if any (each
    limit interrupts a thread once per ``REFIRE_INTERVAL``).
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
    ``REFIRE_INTERVAL`` seconds), and the statement running on the
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
        limit = _Limit(seconds, message, _connection_of(self.cursor))
        watchdog = _watchdog
        if limit.in_main_thread:
            self._install_handler(watchdog)
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
        interruption = self._leave(_watchdog)
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
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        self._previous_handler = previous
        self._signals_sent = watchdog.signals_sent
        if previous is not _on_alarm:
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
        if previous is _on_alarm:
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
