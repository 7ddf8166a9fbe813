# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Exponential backoff after consecutive failures (time passed in)."""


class Backoff:
    """Delay before the next attempt: ``initial``, doubled per failure.

    ``now`` is any monotonic clock reading; nothing here reads the clock.
    """

    def __init__(self, initial, maximum):
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.until = 0.0

    def failed(self, now):
        """Record a failure; return the delay before the next attempt."""
        self.failures += 1
        delay = min(self.maximum, self.initial * 2 ** (self.failures - 1))
        self.until = now + delay
        return delay

    def succeeded(self):
        self.failures = 0
        self.until = 0.0

    def active(self, now):
        """True while the next attempt must wait."""
        return now < self.until


class ServerProbe:
    """When to probe the server of a database the runner cannot reach.

    A database that failed is opened again after its ``Backoff``, which
    grows long so that a database failing for its own reasons is not
    re-initialised over and over. Meanwhile its server is probed (a mere
    connection, closed at once) at a short interval: when a probe succeeds
    after one failed, the server is back, and the database is opened at
    once, however long the backoff had grown. A probe that succeeds without
    one failing first means the database fails for another reason: probing
    stops, the backoff rules.
    """

    def __init__(self, initial, maximum):
        self.backoff = Backoff(initial, maximum)
        self.seen_down = False

    def due(self, now):
        return not self.backoff.active(now)

    def failed(self, now):
        self.seen_down = True
        self.backoff.failed(now)

    def succeeded(self):
        """Record a probe that connected; return whether the server is back."""
        return self.seen_down
