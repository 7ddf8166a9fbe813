# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""A commit sent with the last statement of its transaction.

A commit costs a round trip to PostgreSQL, and so does the ``BEGIN`` that
psycopg2 sends before the first statement of the next transaction: about
0.12 ms of CPU each (PostgreSQL's and the client's) on a small server,
which is a tenth of what a runjob request costs in the worker beyond
Odoo's own HTTP handling. The transaction that marks a job started ends
with one UPDATE of the job's row, so its commit and the next ``BEGIN`` are
sent with it, in one query string (PostgreSQL runs its statements in turn,
and stops at the first error).

psycopg2 keeps seeing a transaction open, which is true: it is the next
one, begun as psycopg2 would have begun it. Odoo's commit bookkeeping
(``Cursor.commit()``: flush first, then cache clearing, rollback hooks
dropped, post-commit hooks run) is done around the statement.

Only for an Odoo ``Cursor`` in a transaction of psycopg2's making (not a
test cursor, which must never commit, nor autocommit), only for a
statement whose result is not needed (psycopg2 returns the result of the
last statement of the string, the ``BEGIN``), and while the fast paths are
on (``queue_job.fast_paths``).
"""
import contextlib
import weakref

import odoo.sql_db
from psycopg2 import extensions

from .. import fast_paths

# The BEGIN psycopg2 sends for each isolation level (``connection.isolation_level``)
BEGIN_STATEMENTS = {
    None: "BEGIN",
    extensions.ISOLATION_LEVEL_READ_UNCOMMITTED: (
        "BEGIN ISOLATION LEVEL READ UNCOMMITTED"
    ),
    extensions.ISOLATION_LEVEL_READ_COMMITTED: "BEGIN ISOLATION LEVEL READ COMMITTED",
    extensions.ISOLATION_LEVEL_REPEATABLE_READ: (
        "BEGIN ISOLATION LEVEL REPEATABLE READ"
    ),
    extensions.ISOLATION_LEVEL_SERIALIZABLE: "BEGIN ISOLATION LEVEL SERIALIZABLE",
}

# cursor -> _Commit, while a block of commit_with_last_statement() runs
_pending = weakref.WeakKeyDictionary()


class _Commit:
    __slots__ = ("suffix", "sent")

    def __init__(self, suffix):
        self.suffix = suffix
        self.sent = False


def _suffix(cr):
    """What to append to a statement of ``cr`` to commit and begin the
    next transaction, or None when it cannot be done (see the module
    docstring)."""
    if type(cr) is not odoo.sql_db.Cursor or not fast_paths.enabled():
        return None
    connection = cr._cnx
    if (
        connection.autocommit
        or connection.status != extensions.STATUS_BEGIN
        or connection.readonly is not None
        or connection.deferrable is not None
    ):
        return None
    begin = BEGIN_STATEMENTS.get(connection.isolation_level)
    if begin is None:
        return None
    return "; COMMIT; " + begin


@contextlib.contextmanager
def commit_with_last_statement(cr):
    """Commit the transaction of ``cr`` at the end of the block.

    A statement of the block sent by :func:`execute` carries it: it must
    be the last statement of the transaction. Otherwise the block ends with
    ``cr.commit()``. Nothing is committed when the block raises before the
    statement ran.
    """
    cr.flush()
    suffix = _suffix(cr)
    commit = None
    if suffix:
        commit = _pending[cr] = _Commit(suffix)
    try:
        yield
    finally:
        _pending.pop(cr, None)
        if commit is not None and commit.sent:
            _committed(cr)
    if commit is None or not commit.sent:
        # the commit the caller asked for, sent on its own
        cr.commit()  # pylint: disable=invalid-commit


def execute(cr, statement, params):
    """Execute ``statement`` on ``cr``, carrying the commit that a block of
    :func:`commit_with_last_statement` asks for, if any; return whether it
    did. When it did, the statement's result and row count are lost: the
    caller must not need them.

    The commit counts as done only once the query string ran: when the
    statement fails, PostgreSQL runs nothing after it, and the transaction
    is left for the caller to roll back.
    """
    commit = _pending.get(cr)
    if commit is None or commit.sent:
        cr.execute(statement, params)
        return False
    cr.execute(statement + commit.suffix, params)
    commit.sent = True
    return True


def _committed(cr):
    """What ``Cursor.commit()`` does after psycopg2's commit."""
    cr.clear()
    cr._now = None
    cr.prerollback.clear()
    cr.postrollback.clear()
    cr.postcommit.run()
