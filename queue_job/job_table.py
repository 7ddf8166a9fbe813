# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The indexes of the ``queue_job`` table beyond those the ORM creates.

Created by ``queue.job``'s ``init()`` at each install or update of the
module. The runner's own lookups rely on the ORM's indexes on ``state``,
``uuid`` and ``channel`` (see ``queue_job.jobrunner.queries``).
"""
import logging

import psycopg2
from odoo.tools import mute_logger
from psycopg2 import sql

from .job_identity import IDENTITY_KEY_UNIQUE_INDEX
from .lifecycle import WAITING_STATES

_logger = logging.getLogger(__name__)

# Indexed columns that are empty for most jobs: a single job has no graph,
# and a job hardly ever has a main attachment. Their ORM indexes are made
# partial, of the non-empty values only (see index_values_only).
MOSTLY_EMPTY_INDEXED_COLUMNS = ("graph_uuid", "message_main_attachment_id")

# Speeds up the duplicate lookup of jobs delayed with an identity key.
IDENTITY_KEY_LOOKUP_INDEX = "queue_job_identity_key_state_partial_index"


def create_indexes(model):
    """Create the indexes of ``model``'s table (``queue.job``) that are
    missing, and make the ORM's indexes of mostly empty columns partial."""
    cr = model.env.cr
    if not index_definition(cr, model._table, IDENTITY_KEY_LOOKUP_INDEX):
        cr.execute(
            sql.SQL(
                "CREATE INDEX {index} ON queue_job (identity_key)"
                " WHERE state in ('pending', 'enqueued', 'wait_dependencies')"
                " AND identity_key IS NOT NULL"
            ).format(index=sql.Identifier(IDENTITY_KEY_LOOKUP_INDEX))
        )
    create_identity_key_unique_index(model)
    for column in MOSTLY_EMPTY_INDEXED_COLUMNS:
        index_values_only(cr, model._table, column)


def index_definition(cr, table, name):
    """The definition (``CREATE INDEX ...``) of the index ``name`` of
    ``table``, or None if there is none."""
    cr.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname = %s",
        (table, name),
    )
    row = cr.fetchone()
    return row[0] if row else None


def index_values_only(cr, table, column):
    """Make the ORM index of ``column`` partial: of its non-NULL values.

    Each job is written four times (stored, enqueued, started, done), and
    each write of its state puts a new version of the row in every index of
    the table, NULL values included. Nothing looks jobs up by a NULL graph or
    attachment, so those entries only cost write time and index pages (see
    docs/performance.rst). The lookups by value (the jobs of a graph, the
    jobs of an attachment being deleted) use the partial index as they used
    the full one. The index keeps its ORM name, which Odoo then leaves alone
    at module updates.
    """
    name = "%s_%s_index" % (table, column)
    definition = index_definition(cr, table, name)
    if definition and definition.endswith("WHERE (%s IS NOT NULL)" % column):
        return
    cr.execute(
        sql.SQL("DROP INDEX IF EXISTS {index}").format(index=sql.Identifier(name))
    )
    cr.execute(
        sql.SQL(
            "CREATE INDEX {index} ON {table} ({column}) WHERE {column} IS NOT NULL"
        ).format(
            index=sql.Identifier(name),
            table=sql.Identifier(table),
            column=sql.Identifier(column),
        )
    )


def create_identity_key_unique_index(model):
    """At most one waiting single job per identity key, atomically.

    Two transactions delaying the same identity key at the same time both
    miss the other's job in their duplicate lookup; this index makes the
    second insert wait for the first transaction and fail if it commits, and
    ``Job._store_or_find_duplicate()`` turns that into the existing job. Jobs
    of a graph are not covered: a graph stores a duplicate job when another
    of its jobs is new.

    Duplicates stored before this index existed (by a race, or by a retry or
    requeue in the original addon) prevent its creation: the install or
    upgrade goes on without it, with a warning, and the next upgrade creates
    it once they are resolved.
    """
    cr = model.env.cr
    if index_definition(cr, model._table, IDENTITY_KEY_UNIQUE_INDEX):
        return
    model.flush(["state", "identity_key", "graph_uuid"])
    try:
        with cr.savepoint(flush=False), mute_logger("odoo.sql_db"):
            cr.execute(
                "CREATE UNIQUE INDEX %s ON queue_job (identity_key)"
                " WHERE state IN %%s"
                " AND identity_key IS NOT NULL AND graph_uuid IS NULL"
                % IDENTITY_KEY_UNIQUE_INDEX,
                (WAITING_STATES,),
            )
    except psycopg2.IntegrityError:
        cr.execute(
            "SELECT count(*) FROM ("
            " SELECT identity_key FROM queue_job"
            " WHERE state IN %s AND identity_key IS NOT NULL"
            " AND graph_uuid IS NULL"
            " GROUP BY identity_key HAVING count(*) > 1) duplicated",
            (WAITING_STATES,),
        )
        _logger.warning(
            "index %s not created: %s identity keys have several waiting"
            " jobs; until it exists, jobs delayed at the same time with the"
            " same identity key may be stored twice. Cancel or set done the"
            " extra jobs, then update the queue_job module.",
            IDENTITY_KEY_UNIQUE_INDEX,
            cr.fetchone()[0],
        )
