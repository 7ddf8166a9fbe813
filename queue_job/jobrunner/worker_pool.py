# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The dispatcher's threads: as many as requests in flight, no more.

Free of Odoo and database imports.
"""
import logging
import threading
import time
from collections import deque

_logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".dispatcher")

IDLE_THREAD_TTL = 60  # seconds a thread of the pool waits for work before exiting


class WorkerPool:
    """Threads that run queued calls, one call per thread at a time.

    A call queued when no thread is waiting gets a new thread; a thread that
    waited ``IDLE_THREAD_TTL`` seconds without work exits. So the pool holds
    as many threads as calls run at the same time, and no more once they
    are done.
    """

    def __init__(self, name):
        self.name = name
        self._ready = threading.Condition()
        self._calls = deque()
        self._waiting = 0  # threads waiting for a call
        self._threads = set()
        self._stopping = False

    def submit(self, function, *args):
        """Queue ``function(*args)``; False (not queued) once stopping."""
        with self._ready:
            if self._stopping:
                return False
            self._calls.append((function, args))
            if self._waiting >= len(self._calls):
                self._ready.notify()
            else:
                thread = threading.Thread(
                    target=self._work, name=self.name, daemon=True
                )
                self._threads.add(thread)
                thread.start()
        return True

    def _work(self):
        while True:
            with self._ready:
                call = self._next_call()
                if call is None:
                    self._threads.discard(threading.current_thread())
                    return
            function, args = call
            try:
                function(*args)
            except Exception:
                _logger.exception("error in the dispatcher's %s", function.__name__)

    def _next_call(self):
        """The next queued call, waited for; None when the thread is to exit
        (stopping, or idle for ``IDLE_THREAD_TTL``). Under ``_ready``."""
        while not self._calls and not self._stopping:
            self._waiting += 1
            notified = self._ready.wait(IDLE_THREAD_TTL)
            self._waiting -= 1
            if not notified and not self._calls:
                return None
        if self._stopping:
            return None
        return self._calls.popleft()

    def stop(self, timeout):
        """Drop the queued calls and wait up to ``timeout`` seconds for the
        threads, whose running calls must be made to end meanwhile."""
        with self._ready:
            self._stopping = True
            self._calls.clear()
            self._ready.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
