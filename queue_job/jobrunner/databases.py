# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The databases the job runner serves: connections, leadership, outages.

A part of ``QueueJobRunner`` (a mixin, to keep each concern in a module of
its own while they share the runner's state): it keeps a
``ServedDatabase`` per database name in ``self.served``.

A database that cannot be reached, or whose connection is lost, is retried
with an exponential backoff without disturbing the others; its jobs are
reloaded when it is back. Meanwhile its server is probed (a bare
connection) at a short interval, and the database is opened as soon as a
probe succeeds after one failed: the runner serves again soon after
PostgreSQL's return, however long it was away. Every ``psycopg2.Error`` on a
database's connection goes through ``connection_of()``, the one place that
turns it into that database's backoff.

Several runners may serve the same database (several Odoo nodes): only the
one holding the database's leader lock (``queue_job.lease``) on its
connection dispatches and rescues its jobs; the others stand by, keep their
connection and try again at each maintenance, so that one of them takes over
within seconds when the active one dies or loses its connection.
"""
import logging
import re
import selectors
import time
from contextlib import suppress

import psycopg2

from . import timings
from .database import TRIGGER_MISSING, probe_connection
from .odoo_settings import Database, database_params, db_filter, list_db_names
from .served_database import CLOSED, LEADER, NOT_SERVED, STANDBY, ServedDatabase

_logger = logging.getLogger(timings.RUNNER_LOGGER)


class ServedDatabasesMixin:
    """Opening, leading, standing by, losing and forgetting databases."""

    @property
    def db_by_name(self):
        """``{name: Database}`` of the databases this runner leads."""
        return {
            served.name: served.db
            for served in self.served.values()
            if served.role == LEADER
        }

    def leaders(self):
        return [served for served in self.served.values() if served.role == LEADER]

    def _served(self, db_name):
        served = self.served.get(db_name)
        if served is None:
            served = self.served[db_name] = ServedDatabase(db_name)
        return served

    # -- the database list ---------------------------------------------------

    def get_db_names(self):
        """Names of the databases to serve: those the server serves.

        ``db_name``, else all of them, kept when they match ``dbfilter``
        as Odoo's own database list does; a filter with ``%h``/``%d``
        depends on each request's host name, so it cannot apply here.
        """
        return self._filter_db_names(list_db_names(), db_filter())

    def _filter_db_names(self, names, dbfilter):
        if not dbfilter:
            return names
        if "%h" in dbfilter or "%d" in dbfilter:
            if not self._dbfilter_logged:
                self._dbfilter_logged = True
                _logger.info(
                    "db-filter %s depends on the host name of each request:"
                    " the job runner serves the databases without it",
                    dbfilter,
                )
            return names
        try:
            pattern = re.compile(dbfilter)
        except re.error as exc:
            if not self._dbfilter_logged:
                self._dbfilter_logged = True
                _logger.error("db-filter %s is not valid (%s): ignored", dbfilter, exc)
            return names
        return [name for name in names if pattern.match(name)]

    def _list_db_names(self):
        try:
            return self.get_db_names()
        except Exception:
            _logger.exception("could not list the databases")
            return None

    def initialize_databases(self):
        now = time.monotonic()
        for db_name in self._list_db_names() or []:
            self._open_database(self._served(db_name))
        self._next_discovery = now + timings.DISCOVERY_INTERVAL

    def refresh_databases(self, now):
        """Follow the database list: serve new databases, forget dropped ones.

        Served databases are re-checked (queue_job may have been uninstalled),
        which also keeps their connections alive.
        """
        names = self._list_db_names()
        if names is not None:
            names = set(names)
            for db_name in sorted(set(self.served) - names):
                served = self.served.pop(db_name)
                if served.db is not None or served.retry is not None:
                    _logger.info("db %s is no longer listed, forgetting it", db_name)
                self._close(served)
            for db_name in sorted(names):
                served = self._served(db_name)
                if served.db is None and served.retry_due(now):
                    self._open_database(served)
        for served in list(self.served.values()):
            if served.db is None:
                continue
            with self.connection_of(served) as db:
                if not db.check_has_queue_job():
                    _logger.info(
                        "db %s is no longer served: %s",
                        served.name,
                        db.not_served_reason,
                    )
                    self._close(served)
                    self._set_not_served(served, db.not_served_reason)

    # -- opening, leading, standing by ------------------------------------

    def _open_database(self, served):
        """Connect to a database and load its jobs, if it is to be served."""
        db = self.run_on(served, lambda _none: Database(served.name, self.config))
        if db is None:
            return
        if not db.has_queue_job:
            db.close()
            self._set_not_served(served, db.not_served_reason)
            return
        served.db = db
        self._take_lead(served)

    def _take_lead(self, served):
        """Lead ``served`` if this runner gets its leader lock, else stand by.

        Only the leader of a database dispatches and rescues its jobs; it
        holds the lock on its connection, so PostgreSQL hands it over when
        that runner dies or loses its connection. Taking the lead rescues
        the jobs of dead workers, then loads the jobs.
        """
        db_name, db = served.name, served.db
        with self.connection_of(served):
            if not db.try_become_leader():
                self._stand_by(served)
                return
            self._apply_pending_resets(served)
            self._rescue_jobs(served)
            if db.pause_root_if_copied():
                _logger.warning(
                    "db %s is a copy of another database (its database.uuid"
                    " changed): channel root paused on it until a manager"
                    " resumes it",
                    db_name,
                )
            served.channel_settings = db.channel_settings()
            self._apply_channel_settings(served)
            notify = self.channel_manager.notify
            db.iter_not_done_jobs(lambda row: notify(db_name, *row))
            self._selector.register(db, selectors.EVENT_READ, served)
            served.connected(LEADER)
            served.not_served_reason = None
            _logger.info("queue job runner ready for db %s", db_name)

    def _stand_by(self, served):
        """Keep the connection, not served: the leader lock is held elsewhere."""
        if served.role != STANDBY:
            _logger.info(
                "another job runner is active on db %s, standing by"
                " (leader connection: PostgreSQL backend %s)",
                served.name,
                served.db.leader_backend_pid(),
            )
        served.connected(STANDBY)
        served.not_served_reason = None

    def _retry_leadership(self):
        for served in list(self.served.values()):
            if served.role == STANDBY:
                # Not served meanwhile: its jobs are loaded when it leads.
                served.db.pop_notifications()
                self._take_lead(served)

    def _set_not_served(self, served, reason):
        served.connected(NOT_SERVED)
        if served.not_served_reason == reason:
            return
        served.not_served_reason = reason
        if reason == TRIGGER_MISSING:
            _logger.error("%s in db %s", reason, served.name)
        else:
            _logger.debug("db %s not served: %s", served.name, reason)

    # -- losing and closing -----------------------------------------------

    def connection_of(self, served, resets=()):
        """Use the connection of ``served``; losing it starts its backoff.

        Any ``psycopg2.Error`` inside the block means the connection is
        unusable: it is closed, the database's jobs are forgotten until it
        is back, ``resets`` (uuids maybe marked enqueued meanwhile) are
        reset to pending then, and the block's remaining work is skipped
        (check ``served.db`` after the block when it matters).
        """
        return _ConnectionGuard(self, served, resets)

    def _connection_lost(self, served, exc, resets):
        served.pending_resets.update(resets)
        if served.role == LEADER:
            _logger.warning("lost the connection to db %s", served.name, exc_info=exc)
        self._close(served)
        self._connection_failed(served, exc, time.monotonic())

    def run_on(self, served, call, resets=()):
        """``call(db)`` on the connection of ``served``, its result; None when
        the connection was lost meanwhile (see ``connection_of``)."""
        with self.connection_of(served, resets=resets) as db:
            return call(db)
        return None

    def _connection_failed(self, served, exc, now):
        """Schedule a new connection attempt, later each time it fails."""
        delay = served.connection_failed(now)
        log = _logger.error if served.retry.failures == 1 else _logger.warning
        log(
            "database %s is not available (%s), next attempt in %.0fs",
            served.name,
            str(exc).strip() or type(exc).__name__,
            delay,
        )
        self._next_maintenance = min(self._next_maintenance, served.retry.until)

    def probe_databases(self, now=None):
        """Open again at once the databases whose server is back.

        A probe is a connection attempt, not the opening of the database
        (checks, leadership, rescue, load of the jobs): cheap enough to be
        repeated at a short interval however long the outage lasts, while
        full attempts follow the database's backoff (see ``ServerProbe``).
        """
        now = time.monotonic() if now is None else now
        for served in list(self.served.values()):
            probe = served.probe
            if probe is None or self._stop or not probe.due(now):
                continue
            params = database_params(served.name, self.config)
            if not probe_connection(params, timings.PROBE_CONNECT_TIMEOUT):
                probe.failed(now)
                continue
            served.probe = None
            if probe.succeeded():
                _logger.info("db %s accepts connections again", served.name)
                served.retry.succeeded()
                self._open_database(served)

    def _close(self, served, remove_jobs=True):
        """Close the connection of ``served``, forgetting its jobs if asked."""
        db, served.db = served.db, None
        if db is None:
            return
        served.role = CLOSED
        if remove_jobs:
            self.channel_manager.remove_db(served.name)
            served.channel_settings = {}
        with suppress(KeyError, ValueError):  # not registered: not a leader
            self._selector.unregister(db)
        db.close()

    def close_databases(self, remove_jobs=True):
        for served in list(self.served.values()):
            try:
                self._close(served, remove_jobs=remove_jobs)
            except Exception:
                _logger.warning("error closing database %s", served.name, exc_info=True)

    def _apply_pending_resets(self, served):
        if not served.pending_resets:
            return
        for uuid in served.db.reset_jobs_to_pending(served.pending_resets):
            _logger.warning("state of job %s was reset from enqueued to pending", uuid)
        served.pending_resets = set()


class _ConnectionGuard:
    """The context manager of ``connection_of`` (a class: it is entered
    several times per job, where a generator costs more)."""

    __slots__ = ("runner", "served", "resets")

    def __init__(self, runner, served, resets):
        self.runner = runner
        self.served = served
        self.resets = resets

    def __enter__(self):
        return self.served.db

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None or not issubclass(exc_type, psycopg2.Error):
            return False
        self.runner._connection_lost(self.served, exc, self.resets)
        return True
