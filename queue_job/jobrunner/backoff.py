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
