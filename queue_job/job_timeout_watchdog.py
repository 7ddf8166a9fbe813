# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The watchdog of the job timeouts (see ``queue_job.job_timeout``).

One thread per process, started with the first deadline (never one per
job), keeps the deadlines armed in the process. When one passes, it
interrupts the thread of its block with a ``JobTimeoutError`` and cancels
the SQL statement running on the block's connection (a thread blocked in
libpq runs no Python code: libpq retries interrupted system calls, so the
statement must end first). It does it again every ``REFIRE_INTERVAL``
seconds until the block ends, for a job that swallows the exception.

How the exception reaches the thread depends on the thread:

* the main thread of the process: SIGALRM is sent to it, whose handler
  (:func:`on_alarm`) raises; a blocking system call (a sleep, a socket read)
  is interrupted at once. Jobs run there when code runs them itself in a
  script or a test;
* any other thread: Odoo runs its requests, the runjob request included, in
  one (a request thread in the threaded server, the "workthread" of a
  prefork worker). ``PyThreadState_SetAsyncExc`` raises at the thread's
  next bytecode, and ``time.sleep()``, replaced by
  :func:`interruptible_sleep` once a deadline is armed in such a thread,
  returns at the deadline. Any other call blocking in C (a socket read
  without timeout, ``select()``, a lock) is interrupted only when it
  returns.

C code that keeps the GIL (a long regular expression, a huge sort) is not
interrupted before it returns: Odoo's ``limit_time_real`` remains the
backstop, the lease rescuing the job of a killed worker.
"""
import ctypes
import logging
import os
import signal
import threading
import time

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


class Limit:
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
        "interrupted",
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
        # set when the thread is to stop sleeping (see interruptible_sleep)
        self.interrupted = threading.Event()

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
        # {thread id: its armed limits, innermost last}
        self.by_thread = {}
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
            self.by_thread.setdefault(limit.thread_id, []).append(limit)
            if self.next_due is None or limit.due < self.next_due:
                self.condition.notify_all()

    def disarm(self, limit):
        """Stop watching ``limit``; once this returns, nothing of it is pending:
        no cancellation under way, no exception set for its thread."""
        with self.condition:
            if limit in self.limits:
                self.limits.discard(limit)
                stack = self.by_thread[limit.thread_id]
                stack.remove(limit)
                if not stack:
                    del self.by_thread[limit.thread_id]
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
                stack = self.by_thread[limit.thread_id]
                for nested in stack[stack.index(limit) :]:
                    nested.interrupted.set()
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


_original_sleep = time.sleep


def current():
    """The watchdog of this process."""
    return _watchdog


def interruptible_sleep(seconds):
    """``time.sleep()`` of the process once a limit was armed outside the
    main thread: in a thread with an armed limit, a sleep its deadline
    interrupts; elsewhere, the original one."""
    stack = _watchdog.by_thread.get(threading.get_ident())
    if not stack or stack[-1].in_main_thread:
        return _original_sleep(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if stack[-1].interrupted.wait(seconds):
        with _watchdog.condition:
            # raised here rather than at the next bytecode
            _set_async_exc(threading.get_ident(), None)
        raise JobTimeoutError()
    return None


def on_alarm(signum, frame):
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
