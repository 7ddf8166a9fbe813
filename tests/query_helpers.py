"""Counting the statements a test runs."""
from unittest import mock


class CountInserts:
    """Count the INSERT statements into queue_job run on a cursor."""

    def __init__(self, cr):
        self.cr = cr
        self.count = 0
        self._patcher = None

    def __enter__(self):
        original = type(self.cr).execute

        def execute(cr, query, params=None, log_exceptions=None):
            if cr is self.cr and str(query).startswith('INSERT INTO "queue_job"'):
                self.count += 1
            return original(cr, query, params, log_exceptions)

        self._patcher = mock.patch.object(type(self.cr), "execute", execute)
        self._patcher.start()
        return self

    def __exit__(self, *exc):
        self._patcher.stop()
