# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""One database served by the job runner: its connection, LISTEN and SQL.

Free of Odoo imports: the connection parameters are given by the caller
(``runner.Database`` computes them from Odoo's options). The connection is
in autocommit mode and LISTENs on ``queue_job``; its socket is what the
runner waits on.
"""
import json
import logging
import time
from contextlib import contextmanager

import psycopg2
from psycopg2 import sql

from ..lifecycle import DEFAULT_PRIORITY
from . import queries, sql_rescue
from .channels import NOT_DONE, record_settings
from .sql_rescue import (  # noqa: F401 (imported from here by queue_job.rescue)
    DUPLICATE_MESSAGE,
    INTERRUPTED_MESSAGE,
    REQUEUED_MESSAGE,
    WORKER_DIED_ERROR,
    WORKER_DIED_MESSAGE,
)

_logger = logging.getLogger(__name__)

# What the scheduler assumes when a row has no value (it needs orderable
# values): the default priority of a job, and the epoch.
DEFAULT_DATE_CREATED = 0.0

# The database uuid recorded when queue_job was installed (an
# ir.config_parameter), and why root is paused on a copy.
DATABASE_UUID_PARAM = "queue_job.database_uuid"
COPIED_DATABASE_REASON = (
    "this database is a copy of another one (its database.uuid changed):"
    " resume it when its jobs are to run here"
)

# Why a database is not served (logged by the runner when it changes).
NOT_ODOO_DB = "doesn't seem to be an odoo db"
NOT_INSTALLED = "queue_job is not installed"
TRIGGER_MISSING = "queue_job_notify trigger is missing"


def job_row(channel, uuid, seq, date_created, priority, eta, state):
    """Normalise a job tuple into the arguments of ``ChannelManager.notify``."""
    return (
        channel,
        uuid,
        seq,
        DEFAULT_DATE_CREATED if date_created is None else date_created,
        DEFAULT_PRIORITY if priority is None else priority,
        eta or None,
        state,
    )


def parse_notification(payload):
    """Turn a NOTIFY payload into a job tuple (see ``job_row``).

    The ``queue_job_notify`` trigger sends a JSON object with the job's
    ``uuid``, ``id``, ``state``, ``channel``, ``priority``, ``eta`` and
    ``date_created``, ``state`` null meaning the row was deleted. Returns
    ``None`` when the payload is not such an object (e.g. a bare uuid from
    an older trigger): the caller then re-reads the job.
    """
    try:
        data = json.loads(payload)
        return job_row(
            data["channel"],
            data["uuid"],
            data["id"],
            data["date_created"],
            data["priority"],
            data["eta"],
            data["state"],
        )
    except (ValueError, TypeError, KeyError):
        return None


# The NOTIFY payloads of the queue_job_channel_notify trigger start so.
CHANNEL_SETTINGS_PREFIX = '{"channel_settings"'


def parse_channel_notification(payload):
    """The change of a channel record notified, or None if it is not one.

    Returns ``(name, old_name, settings)``: ``settings`` as
    ``record_settings`` gives them, None when the record was deleted;
    ``old_name`` the name before a rename, or None.
    """
    if not payload.startswith(CHANNEL_SETTINGS_PREFIX):
        return None
    try:
        data = json.loads(payload)["channel_settings"]
        name = data["name"]
        settings = None
        if not data.get("deleted"):
            settings = record_settings(
                data.get("capacity"),
                data.get("sequential"),
                data.get("throttle"),
                data.get("paused"),
            )
        return name, data.get("old_name"), settings
    except (ValueError, TypeError, KeyError):
        return None


def probe_connection(connection_params, timeout):
    """Whether PostgreSQL accepts a connection with these parameters now.

    A connection opened and closed, nothing else: what is needed to tell a
    server that is down, starting or shutting down (all refuse it) from one
    that serves again, without loading anything.
    """
    try:
        conn = psycopg2.connect(**dict(connection_params, connect_timeout=timeout))
    except psycopg2.Error:
        return False
    conn.close()
    return True


class QueueJobDatabase:
    """A LISTEN connection to one database, and the runner's queries on it.

    Opening it checks whether the database is served at all
    (``has_queue_job``); only then does it LISTEN. Any ``psycopg2.Error``
    raised by a method means the connection is unusable: the caller closes
    this object and opens a new one later.
    """

    def __init__(self, db_name, connection_params):
        self.db_name = db_name
        self.conn = psycopg2.connect(**connection_params)
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        # Kept: psycopg2 refuses fileno() once it closed a broken connection,
        # and the runner still has to unregister it from its selector.
        self._fileno = self.conn.fileno()
        self.last_used = time.monotonic()
        self.not_served_reason = None
        self.has_queue_job = False
        try:
            if self.check_has_queue_job():
                with self.conn.cursor() as cr:
                    cr.execute(queries.LISTEN)
                    cr.execute(queries.ASYNCHRONOUS_COMMITS)
        except psycopg2.Error:
            self.close()
            raise

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.db_name)

    def _execute(self, query, args=None):
        self.last_used = time.monotonic()
        with self.conn.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None

    def _why_not_served(self):
        if not self._execute(queries.IS_ODOO_DATABASE)[0][0]:
            return NOT_ODOO_DB
        if not self._execute(queries.IS_QUEUE_JOB_INSTALLED):
            return NOT_INSTALLED
        triggers = self._execute(queries.COUNT_NOTIFY_TRIGGERS)[0][0]
        if triggers != queries.EXPECTED_NOTIFY_TRIGGERS:
            return TRIGGER_MISSING
        return None

    def check_has_queue_job(self):
        """(Re-)check that the database is to be served (``has_queue_job``).

        When it is not, ``not_served_reason`` says why (one of the
        ``NOT_ODOO_DB``, ``NOT_INSTALLED``, ``TRIGGER_MISSING`` texts).
        """
        self.not_served_reason = self._why_not_served()
        self.has_queue_job = self.not_served_reason is None
        return self.has_queue_job

    def fileno(self):
        return self._fileno

    def close(self):
        try:
            self.conn.close()
        except Exception:  # closing a broken connection: nothing to save
            _logger.debug("error closing the connection to %s", self.db_name)

    def keep_alive(self):
        """A trivial query, so that idle connections are not cut by proxies."""
        self._execute(queries.KEEP_ALIVE)

    @contextmanager
    def select_jobs(self, where, args):
        """Rows of ``queue_job`` matching ``where``, as ``notify`` arguments.

        A server-side cursor, so that a huge backlog is streamed rather than
        loaded at once (WITH HOLD, as named cursors need one in autocommit).
        """
        query = sql.SQL(queries.SELECT_JOBS).format(where=sql.SQL(where))
        self.last_used = time.monotonic()
        with self.conn.cursor("select_jobs", withhold=True) as cr:
            cr.itersize = 1000
            cr.execute(query, args)
            yield (job_row(*row) for row in cr)

    def iter_not_done_jobs(self, consumer):
        """Call ``consumer(row)`` for every job not done (initial load)."""
        with self.select_jobs(queries.WHERE_STATE_IN, (list(NOT_DONE),)) as rows:
            for row in rows:
                consumer(row)

    def channel_settings(self):
        """``{channel complete name: record settings}`` of the channel
        records that set something (see ``channels.record_settings``)."""
        try:
            rows = self._execute(queries.SELECT_CHANNEL_SETTINGS)
        except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable):
            return {}
        return {
            name: record_settings(capacity, sequential, throttle, paused)
            for name, capacity, sequential, throttle, paused in rows
        }

    def pause_root_if_copied(self):
        """Pause ``root`` if the database is a copy; return whether it was
        paused now (see ``queries.PAUSE_ROOT_IF_COPIED``)."""
        try:
            rows = self._execute(
                queries.PAUSE_ROOT_IF_COPIED,
                {"param": DATABASE_UUID_PARAM, "reason": COPIED_DATABASE_REASON},
            )
        except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable):
            return False
        return bool(rows)

    def fetch_job(self, uuid):
        """The job's current row (``notify`` arguments), or None if deleted."""
        query = queries.SELECT_JOBS.format(where=queries.WHERE_UUID)
        rows = self._execute(query, (uuid,))
        return job_row(*rows[0]) if rows else None

    def has_notifications(self):
        return bool(self.conn.notifies)

    def poll(self):
        """Read what the server sent (after the socket became readable)."""
        self.last_used = time.monotonic()
        self.conn.poll()

    def pop_notifications(self):
        """Payloads received so far, oldest first (commit order)."""
        notifies = self.conn.notifies
        payloads = [n.payload for n in notifies]
        del notifies[:]
        return payloads

    def set_jobs_enqueued(self, uuids):
        """Mark pending jobs enqueued; return the uuids actually marked."""
        rows = self._execute(queries.MARK_ENQUEUED, (list(uuids),))
        return {uuid for (uuid,) in rows}

    def set_job_enqueued(self, uuid):
        return uuid in self.set_jobs_enqueued([uuid])

    def try_become_leader(self):
        """Take the database's leader lock on this connection, if it is free.

        Returns whether this connection holds it (again: the lock is
        re-entrant). Only the leader dispatches and rescues jobs; the lock
        is released when the connection ends.
        """
        return self._execute(queries.TRY_LEADER_LOCK)[0][0]

    def leader_backend_pid(self):
        """PID of the PostgreSQL backend holding the leader lock, or None."""
        rows = self._execute(queries.LEADER_BACKEND_PID)
        return rows[0][0] if rows else None

    def rescue_dead_started_jobs(self):
        """End, in SQL, the started jobs whose worker died; return a
        ``(uuid, new state, worker pid, retry)`` per job (see
        ``sql_rescue``)."""
        return self._rescue_started(interrupted=False)

    def rescue_interrupted_started_jobs(self):
        """Put back in the queue, without counting a try, the started jobs
        whose worker lost its connection to a restart of PostgreSQL; return
        a ``(uuid, new state, worker pid, retry)`` per job (see
        ``sql_rescue``)."""
        return self._rescue_started(interrupted=True)

    def _rescue_started(self, interrupted):
        self.last_used = time.monotonic()
        with self.conn.cursor() as cr:
            return [
                tuple(rescued)
                for rescued in sql_rescue.rescue_started_jobs(cr, interrupted)
            ]

    def dead_started_jobs(self):
        """The uuids of the started jobs whose worker died (to be ended by
        Odoo, see ``queries.SELECT_DEAD_STARTED``)."""
        return [uuid for (uuid,) in self._execute(queries.SELECT_DEAD_STARTED)]

    def rescue_lost_enqueued_jobs(self, grace, in_flight):
        """Put back to pending the jobs enqueued for more than ``grace``
        seconds whose uuid is not in ``in_flight``; return their uuids."""
        rows = self._execute(
            queries.RESCUE_LOST_ENQUEUED,
            {"grace": grace, "in_flight": list(in_flight)},
        )
        return {uuid for (uuid,) in rows}

    def reset_jobs_to_pending(self, uuids):
        """Put enqueued jobs back to pending; return the uuids actually reset."""
        rows = self._execute(queries.RESET_TO_PENDING, (list(uuids),))
        return {uuid for (uuid,) in rows}
