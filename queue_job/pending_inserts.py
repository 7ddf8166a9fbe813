# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Jobs delayed one by one, inserted together at their transaction's flush.

``with_delay()`` in a loop used to send an INSERT per job: a round trip to
PostgreSQL that cost as much as the rest of the call. The new jobs that
``delay()`` stores and that ``queue_job.sql_store`` can insert are kept
here instead, their values already converted to columns, and inserted with
one multi-row INSERT per cursor when the transaction is flushed, as Odoo
does with the ORM's pending writes:

* ``cr.flush()``, so at every commit and savepoint (a savepoint rolled back
  drops the jobs delayed within it, with the ORM's pending writes);
* ``flush()`` of any model without field names (``env["base"].flush()``,
  what code runs before reading with raw SQL), and any flush of
  ``queue.job``, which each search and read of jobs does: the ORM,
  ``Job.db_record()`` and the identity key lookups see the jobs;
* ``Job.store()`` of a job waiting here.

A rollback drops them, as it would have dropped their rows. A cursor in
autocommit mode has no transaction to flush: jobs delayed on it are inserted
at once.
"""
import functools

from . import sql_store

PENDING_KEY = "queue_job.pending_inserts"


def can_wait(cr):
    """Whether jobs can wait for a flush of ``cr``: not in autocommit mode,
    where no transaction is flushed."""
    connection = getattr(cr, "_cnx", None)  # a test cursor has none
    return connection is None or not connection.autocommit


def add(job, job_model, row):
    """Insert the new ``job`` at the next flush of its cursor, as ``row``
    (see ``sql_store.insert_row()``)."""
    cr = job_model.env.cr
    pending = cr.precommit.data.get(PENDING_KEY)
    if pending is None:
        # popped by flush(): jobs delayed by a later precommit hook are
        # added to a new list, flushed by its own hook
        pending = cr.precommit.data[PENDING_KEY] = []
        cr.precommit.add(functools.partial(flush, cr))
    pending.append((job, job_model, row))
    job._pending_insert_cr = cr


def flush(cr):
    """Insert the jobs waiting for a flush of ``cr``."""
    pending = cr.precommit.data.pop(PENDING_KEY, None)
    if not pending:
        return
    by_env = {}
    for job, job_model, row in pending:
        by_env.setdefault(id(job_model.env), (job_model, []))[1].append((job, row))
    for job_model, batch in by_env.values():
        new_ids = sql_store.insert_rows(job_model, [row for _job, row in batch])
        for (job, _row), new_id in zip(batch, new_ids):
            job._stored_as(new_id)
