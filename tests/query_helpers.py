"""Recording the statements a test runs."""
import re
from unittest import mock


class RecordStatements:
    """Record the statements starting with ``prefix`` run on a cursor."""

    def __init__(self, cr, prefix):
        self.cr = cr
        self.prefix = prefix
        self.statements = []
        self._patcher = None

    @property
    def count(self):
        return len(self.statements)

    def __enter__(self):
        original = type(self.cr).execute

        def execute(cr, query, params=None, log_exceptions=None):
            if cr is self.cr and str(query).startswith(self.prefix):
                self.statements.append(str(query))
            return original(cr, query, params, log_exceptions)

        self._patcher = mock.patch.object(type(self.cr), "execute", execute)
        self._patcher.start()
        return self

    def __exit__(self, *exc):
        self._patcher.stop()


class CountInserts(RecordStatements):
    """Count the INSERT statements into queue_job run on a cursor."""

    def __init__(self, cr):
        super().__init__(cr, 'INSERT INTO "queue_job"')


class RecordJobUpdates(RecordStatements):
    """Record the UPDATE statements of queue_job rows run on a cursor."""

    def __init__(self, cr):
        super().__init__(cr, 'UPDATE "queue_job" SET ')

    def columns(self):
        """The set columns of each UPDATE, in order."""
        return [
            set(re.findall(r'"(\w+)" = ', statement.split(" WHERE ", 1)[0]))
            for statement in self.statements
        ]
