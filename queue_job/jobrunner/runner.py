# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job runner: keeps every database's jobs in the scheduler, starts them.

``QueueJobRunner`` composes the parts, each in its own module:

* ``config``: the settings, built once (``load_runner_config()`` below reads
  them from the environment and Odoo's configuration) and validated;
* ``channels``: the scheduler (pure);
* ``database``: one LISTEN connection per database, and the runner's SQL
  (``queries``);
* ``dispatcher``: the HTTP requests to ``/queue_job/runjob``.

One loop iteration (``run_once``): apply the notifications received (the
NOTIFY payload carries what the scheduler needs, nothing is re-read: job
changes, and changes of the channel records' settings, which override the
configuration's for their database), apply
the outcome of finished dispatches (a failed one is reset to pending if it is
still enqueued), run the periodic maintenance (reconnections, database
discovery, leadership, rescue of dead jobs), dispatch what the scheduler
allows (marking each job enqueued first, only if it is still pending), then
wait for a notification, the next eta, or the next maintenance.

A database that cannot be reached, or whose connection is lost, is retried
with an exponential backoff (1 s to 30 s) without disturbing the others; its
jobs are reloaded when it is back. Meanwhile its server is probed (a bare
connection) every second at most, and the database is opened as soon as a
probe succeeds after one failed: the runner serves again within about a
second of PostgreSQL's return, however long it was away. The database list
is refreshed every ``DISCOVERY_INTERVAL`` seconds: databases where queue_job
gets installed are picked up, dropped ones forgotten.

Several runners may serve the same database (several Odoo nodes): only the
one holding the database's leader lock (``queue_job.lease``) on its
connection dispatches and rescues its jobs; the others stand by, keep their
connection and try again at each maintenance, so that one of them takes over
within seconds when the active one dies or loses its connection.

The leader rescues, when it takes the lead and at each maintenance, the
jobs nobody works on: ``started`` jobs whose lease is free (their worker
died: requeued as a try, or failed once the tries are exhausted) and jobs
``enqueued`` for more than ``ENQUEUED_RESCUE_GRACE`` seconds whose request
is not in flight from this runner (a dispatch lost in transit).

Periodic work goes in ``run_maintenance`` (every ``MAINTENANCE_INTERVAL``
seconds at most, and when a reconnection is due), plus the callables of
``maintenance_tasks``; what must happen before a database's jobs are loaded
goes in ``_open_database``.

This module is the adapter to Odoo (options, database list, connection
parameters); the modules above do not import Odoo. See the README for the
operator documentation (settings, deployment).
"""
import dataclasses
import http.client
import logging
import os
import re
import selectors
import threading
import time
from collections import deque
from contextlib import suppress
from datetime import datetime

import odoo
import psycopg2

from . import queries
from .backoff import Backoff, ServerProbe
from .channels import ChannelManager
from .config import RunnerConfig, RunnerConfigError  # noqa: F401 (re-export)
from .database import (
    TRIGGER_MISSING,
    QueueJobDatabase,
    parse_channel_notification,
    parse_notification,
    probe_connection,
)
from .dispatcher import (
    CONNECT_TIMEOUT,
    Endpoint,
    HttpDispatcher,
    basic_auth,
    runjob_path,
)
from .heartbeat import RunnerHeartbeat
from .odoo_rescue import OdooRescues

_logger = logging.getLogger(__name__)

SELECT_TIMEOUT = 60  # longest wait without any reason to wake up (seconds)
ERROR_RECOVERY_DELAY = 5  # pause after an unexpected error in the loop
MAINTENANCE_INTERVAL = 5  # periodic tasks (reconnections, keep-alive, ...)
DISCOVERY_INTERVAL = 15  # refresh of the database list
KEEP_ALIVE_INTERVAL = 30  # idle time before a connection is pinged
STATUS_INTERVAL = 300  # INFO summary of the channels while jobs are known
# Seconds a job may stay enqueued, without a request in flight from this
# runner, before it is considered lost in transit and reset to pending.
ENQUEUED_RESCUE_GRACE = 5
DB_RETRY_BACKOFF = (1, 30)  # (initial, maximum) seconds
# Probes of the server of a database not reached (see ServerProbe): short,
# so that the runner serves again soon after PostgreSQL is back.
DB_PROBE_BACKOFF = (0.25, 1)  # (initial, maximum) seconds
PROBE_CONNECT_TIMEOUT = 2  # seconds (libpq's least)
DISPATCH_RETRY_BACKOFF = (0.5, ERROR_RECOVERY_DELAY)

APPLICATION_NAME = "queue_job_runner"  # visible in pg_stat_activity
# libpq TCP keepalives: a LISTEN connection that is only waited on would
# otherwise never notice a vanished server.
CONNECTION_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 60,
    "keepalives_interval": 10,
    "keepalives_count": 6,
}


def queue_job_section():
    """The ``[queue_job]`` settings, read now (not at import time).

    From the ``server_environment`` addon when it is importable (its
    ``queue_job`` section, or nothing), else from Odoo's configuration file.
    """
    try:
        from odoo.addons.server_environment import serv_config
    except ImportError:
        return dict(odoo.tools.config.misc.get("queue_job", {}))
    if serv_config.has_section("queue_job"):
        return dict(serv_config.items("queue_job"))
    return {}


def load_runner_config(validate=True):
    """The runner configuration from the environment and Odoo's options."""
    options = {
        "http_interface": odoo.tools.config["http_interface"],
        "http_port": odoo.tools.config["http_port"],
    }
    return RunnerConfig.from_sources(
        os.environ, queue_job_section(), options, validate=validate
    )


def _channels():
    """The channel configuration string in effect."""
    return (
        os.environ.get("ODOO_QUEUE_JOB_CHANNELS")
        or queue_job_section().get("channels")
        or RunnerConfig.channels
    )


def _datetime_to_epoch(dt):
    """Seconds since 1970-01-01 of a naive UTC datetime.

    The same value as PostgreSQL's ``EXTRACT(EPOCH FROM ...)`` on the
    ``timestamp without time zone`` columns of queue_job.
    """
    return (dt - datetime(1970, 1, 1)).total_seconds()


def _odoo_now():
    return _datetime_to_epoch(datetime.utcnow())


def _connection_info_for(db_name, runner_config=None):
    """psycopg2 connection parameters of the runner for ``db_name``.

    Odoo's (``db_host``, ``db_port``, ...), overridden by the runner's own
    ``jobrunner_db_*`` settings when set.
    """
    _db, connection_info = odoo.sql_db.connection_info_for(db_name)
    connection_info = dict(connection_info)
    runner_config = runner_config or load_runner_config(validate=False)
    for param in ("host", "port", "user", "password"):
        value = getattr(runner_config, "db_" + param)
        if value:
            connection_info[param] = value
    return connection_info


def database_params(db_name, runner_config=None):
    """psycopg2 parameters of the runner's connections to ``db_name``."""
    params = dict(CONNECTION_KEEPALIVES, application_name=APPLICATION_NAME)
    params.update(_connection_info_for(db_name, runner_config))
    return params


class Database(QueueJobDatabase):
    """The runner's connection to one database (see ``QueueJobDatabase``)."""

    def __init__(self, db_name, runner_config=None):
        super().__init__(db_name, database_params(db_name, runner_config))


def _reset_job_if_enqueued(db_name, job_uuid):
    conn = psycopg2.connect(**_connection_info_for(db_name))
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(queries.RESET_TO_PENDING, ([job_uuid],))
            if cr.fetchall():
                _logger.warning(
                    "state of job %s was reset from enqueued to pending", job_uuid
                )
    finally:
        conn.close()


def _async_http_get(scheme, host, port, user, password, db_name, job_uuid):
    """Ask Odoo to run one job, from a new thread; kept for compatibility.

    The runner itself dispatches through ``HttpDispatcher`` (no thread per
    job). As there, the request is waited for as long as the job runs, and
    the job is reset to pending (if still enqueued) when it fails.
    """
    path = runjob_path(db_name, job_uuid)

    def target():
        connection_class = (
            http.client.HTTPSConnection
            if scheme == "https"
            else http.client.HTTPConnection
        )
        conn = connection_class(host, int(port), timeout=CONNECT_TIMEOUT)
        headers = {"Authorization": basic_auth(user, password)} if user else {}
        error = None
        try:
            conn.request("GET", path, headers=headers)
            conn.sock.settimeout(None)
            response = conn.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                error = "HTTP status %s" % response.status
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
        if error:
            _logger.warning("exception in GET %s: %s", path, error)
            try:
                _reset_job_if_enqueued(db_name, job_uuid)
            except psycopg2.Error:
                _logger.exception("could not reset job %s to pending", job_uuid)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


class QueueJobRunner:
    """Schedules the jobs of every served database and dispatches them.

    The constructor's arguments are those of the original runner; ``config``
    (a ``RunnerConfig``) replaces them all. Invalid settings raise
    ``RunnerConfigError`` here, before anything starts.
    """

    def __init__(
        self,
        scheme="http",
        host="localhost",
        port=8069,
        user=None,
        password=None,
        channel_config_string=None,
        config=None,
    ):
        if config is None:
            # The runner's database settings still come from the sources.
            config = dataclasses.replace(
                load_runner_config(validate=False),
                channels=(
                    _channels()
                    if channel_config_string is None
                    else channel_config_string
                ),
                scheme=scheme,
                host=host,
                port=int(port),
                http_auth_user=user,
                http_auth_password=password,
                sources={},
            )
            config.validate()
        self.config = config
        self.channel_manager = ChannelManager()
        self.channel_manager.simple_configure(config.channels)
        self.db_by_name = {}
        self._stop = False
        self._stop_pipe = os.pipe()
        for fd in self._stop_pipe:
            os.set_blocking(fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stop_pipe[0], selectors.EVENT_READ)
        self.dispatcher = HttpDispatcher(
            Endpoint(
                config.scheme,
                config.host,
                config.port,
                config.http_auth_user,
                config.http_auth_password,
            ),
            self._on_dispatch_result,
        )
        self.odoo_rescues = OdooRescues(
            self.dispatcher.endpoint, self._on_rescue_fallback
        )
        # Written by the dispatcher thread, read by the loop (deque is
        # thread-safe for append/popleft).
        self._dispatch_results = deque()
        self._dispatch_backoff = Backoff(*DISPATCH_RETRY_BACKOFF)
        # database name -> Backoff, for databases to (re)connect to
        self._db_retry = {}
        # database name -> ServerProbe, for databases of _db_retry whose
        # server is probed meanwhile
        self._db_probe = {}
        # database name -> why it is not served, to log changes only
        self._not_served = {}
        # database name -> uuids to reset to pending once it is reachable
        # (dispatches that failed, or were not sent, while it was not)
        self._pending_resets = {}
        # database name -> Database, for the databases served by another
        # runner (it holds their leader lock): this one stands by
        self._standby = {}
        # (database name, uuid) of the runjob requests not answered yet
        self._in_flight = set()
        # database name -> {channel name: settings its records set}
        self._channel_settings = {}
        self._dbfilter_logged = False
        self._next_maintenance = 0.0
        self._next_discovery = 0.0
        self._next_status = 0.0
        # Callables ``task(monotonic_now)`` run at each maintenance tick;
        # the prefork worker adds a check of its parent process.
        self.maintenance_tasks = []
        self.heartbeat = RunnerHeartbeat()

    @classmethod
    def from_environ_or_config(cls):
        return cls(config=load_runner_config())

    # -- databases -----------------------------------------------------

    def get_db_names(self):
        """Names of the databases to serve: those the server serves.

        ``db_name``, else all of them, kept when they match ``dbfilter``
        as Odoo's own database list does; a filter with ``%h``/``%d``
        depends on each request's host name, so it cannot apply here.
        """
        if odoo.tools.config["db_name"]:
            names = odoo.tools.config["db_name"].split(",")
            names = [name.strip() for name in names if name.strip()]
        else:
            names = odoo.service.db.list_dbs(True)
        return self._filter_db_names(names, odoo.tools.config["dbfilter"])

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
            self._open_database(db_name, now)
        self._next_discovery = now + DISCOVERY_INTERVAL

    def _open_database(self, db_name, now):
        """Connect to a database and load its jobs, if it is to be served."""
        try:
            db = Database(db_name, self.config)
        except psycopg2.Error as exc:
            self._database_failed(db_name, exc, now)
            return
        if not db.has_queue_job:
            db.close()
            self._db_retry.pop(db_name, None)
            self._log_not_served(db_name, db.not_served_reason)
            return
        self._take_lead(db_name, db, now)

    def _take_lead(self, db_name, db, now):
        """Serve ``db`` if this runner gets its leader lock, else stand by.

        Only the leader of a database dispatches and rescues its jobs; it
        holds the lock on its connection, so PostgreSQL hands it over when
        that runner dies or loses its connection. Taking the lead rescues
        the jobs of dead workers, then loads the jobs.
        """
        try:
            if not db.try_become_leader():
                self._stand_by(db_name, db)
                return
            self._standby.pop(db_name, None)
            self._apply_pending_resets(db)
            self._rescue_jobs(db_name, db)
            if db.pause_root_if_copied():
                _logger.warning(
                    "db %s is a copy of another database (its database.uuid"
                    " changed): channel root paused on it until a manager"
                    " resumes it",
                    db_name,
                )
            self._channel_settings[db_name] = db.channel_settings()
            self._apply_channel_settings(db_name)
            notify = self.channel_manager.notify
            db.iter_not_done_jobs(lambda row: notify(db_name, *row))
        except psycopg2.Error as exc:
            self._standby.pop(db_name, None)
            db.close()
            self.channel_manager.remove_db(db_name)
            self._database_failed(db_name, exc, now)
            return
        self.db_by_name[db_name] = db
        self._selector.register(db, selectors.EVENT_READ)
        self._db_retry.pop(db_name, None)
        self._not_served.pop(db_name, None)
        _logger.info("queue job runner ready for db %s", db_name)

    def _stand_by(self, db_name, db):
        """Keep ``db`` open, not served: its leader lock is held elsewhere."""
        if db_name not in self._standby:
            _logger.info(
                "another job runner is active on db %s, standing by"
                " (leader connection: PostgreSQL backend %s)",
                db_name,
                db.leader_backend_pid(),
            )
        self._standby[db_name] = db
        self._db_retry.pop(db_name, None)
        self._not_served.pop(db_name, None)

    def _retry_leadership(self, now):
        for db_name, db in list(self._standby.items()):
            # Not served meanwhile: its jobs are loaded when it takes the lead.
            db.pop_notifications()
            self._take_lead(db_name, db, now)

    def _close_standby(self, db_name):
        db = self._standby.pop(db_name, None)
        if db is not None:
            db.close()

    def _log_not_served(self, db_name, reason):
        if self._not_served.get(db_name) == reason:
            return
        self._not_served[db_name] = reason
        if reason == TRIGGER_MISSING:
            _logger.error("%s in db %s", reason, db_name)
        else:
            _logger.debug("db %s not served: %s", db_name, reason)

    def _database_failed(self, db_name, exc, now):
        """Schedule a new connection attempt, later each time it fails."""
        backoff = self._db_retry.setdefault(db_name, Backoff(*DB_RETRY_BACKOFF))
        delay = backoff.failed(now)
        log = _logger.error if backoff.failures == 1 else _logger.warning
        log(
            "database %s is not available (%s), next attempt in %.0fs",
            db_name,
            str(exc).strip() or type(exc).__name__,
            delay,
        )
        self._next_maintenance = min(self._next_maintenance, backoff.until)
        self._db_probe.setdefault(db_name, ServerProbe(*DB_PROBE_BACKOFF))

    def probe_databases(self, now=None):
        """Open again at once the databases whose server is back.

        A probe is a connection attempt, not the opening of the database
        (checks, leadership, rescue, load of the jobs): cheap enough to be
        repeated at a short interval however long the outage lasts, while
        full attempts follow the database's backoff (see ``ServerProbe``).
        """
        now = time.monotonic() if now is None else now
        for db_name, probe in list(self._db_probe.items()):
            if db_name not in self._db_retry:
                del self._db_probe[db_name]
                continue
            if self._stop or not probe.due(now):
                continue
            params = database_params(db_name, self.config)
            if not probe_connection(params, PROBE_CONNECT_TIMEOUT):
                probe.failed(now)
                continue
            del self._db_probe[db_name]
            if probe.succeeded():
                _logger.info("db %s accepts connections again", db_name)
                self._db_retry[db_name].succeeded()
                self._open_database(db_name, now)

    def _close_database(self, db_name, remove_jobs=True):
        db = self.db_by_name.pop(db_name, None)
        if db is None:
            return
        if remove_jobs:
            self.channel_manager.remove_db(db_name)
            self._channel_settings.pop(db_name, None)
        with suppress(KeyError, ValueError):  # not registered (failed early)
            self._selector.unregister(db)
        db.close()

    def _database_lost(self, db_name, exc):
        """A served database failed: forget it and its jobs until it is back."""
        _logger.warning("lost the connection to db %s", db_name, exc_info=True)
        self._close_database(db_name)
        self._database_failed(db_name, exc, time.monotonic())

    def close_databases(self, remove_jobs=True):
        for db_name in list(self._standby):
            self._close_standby(db_name)
        for db_name in list(self.db_by_name):
            try:
                self._close_database(db_name, remove_jobs=remove_jobs)
            except Exception:
                _logger.warning("error closing database %s", db_name, exc_info=True)
        self.db_by_name = {}

    def _apply_pending_resets(self, db):
        uuids = self._pending_resets.get(db.db_name)
        if not uuids:
            return
        for uuid in db.reset_jobs_to_pending(uuids):
            _logger.warning("state of job %s was reset from enqueued to pending", uuid)
        del self._pending_resets[db.db_name]

    def _defer_resets(self, db_name, uuids):
        self._pending_resets.setdefault(db_name, set()).update(uuids)

    # -- maintenance -------------------------------------------------------

    def run_maintenance(self, now=None):
        """Periodic tasks; cheap unless one of them is due."""
        now = time.monotonic() if now is None else now
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + MAINTENANCE_INTERVAL
        # before the databases opened or led from now on, which their
        # leader rescues as it takes the lead
        self.rescue_jobs()
        if now >= self._next_discovery:
            self._next_discovery = now + DISCOVERY_INTERVAL
            self.refresh_databases(now)
        else:
            for db_name, backoff in list(self._db_retry.items()):
                if not backoff.active(now):
                    self._open_database(db_name, now)
            self._keep_alive(now)
        self._retry_leadership(now)
        for backoff in self._db_retry.values():
            self._next_maintenance = min(self._next_maintenance, backoff.until)
        if now >= self._next_status:
            self._next_status = now + STATUS_INTERVAL
            self._log_status()
        for task in self.maintenance_tasks:
            task(now)

    def refresh_databases(self, now):
        """Follow the database list: serve new databases, forget dropped ones.

        Served databases are re-checked (queue_job may have been uninstalled),
        which also keeps their connections alive.
        """
        names = self._list_db_names()
        if names is not None:
            names = set(names)
            for db_name in set(self.db_by_name) - names:
                _logger.info("db %s is no longer listed, forgetting it", db_name)
                self._close_database(db_name)
            for db_name in set(self._standby) - names:
                _logger.info("db %s is no longer listed, forgetting it", db_name)
                self._close_standby(db_name)
            for db_name in set(self._db_retry) - names:
                _logger.info("db %s is no longer listed, forgetting it", db_name)
                del self._db_retry[db_name]
                self._pending_resets.pop(db_name, None)
            known = set(self.db_by_name) | set(self._standby)
            for db_name in sorted(names - known):
                backoff = self._db_retry.get(db_name)
                if backoff is None or not backoff.active(now):
                    self._open_database(db_name, now)
        for db_name, db in list(self.db_by_name.items()) + list(self._standby.items()):
            try:
                served = db.check_has_queue_job()
            except psycopg2.Error as exc:
                if db_name in self._standby:
                    self._close_standby(db_name)
                    self._database_failed(db_name, exc, now)
                else:
                    self._database_lost(db_name, exc)
                continue
            if not served:
                _logger.info(
                    "db %s is no longer served: %s", db_name, db.not_served_reason
                )
                self._close_database(db_name)
                self._close_standby(db_name)
                self._log_not_served(db_name, db.not_served_reason)

    def rescue_jobs(self):
        """Rescue the jobs of dead workers and lost dispatches, everywhere."""
        for db_name, db in list(self.db_by_name.items()):
            try:
                self._rescue_jobs(db_name, db)
            except psycopg2.Error as exc:
                self._database_lost(db_name, exc)

    def _rescue_jobs(self, db_name, db):
        """Put back in the queue the jobs of ``db`` nobody works on.

        A started job whose lease is free has lost its worker (killed,
        crashed, timed out), and counts a try, unless it was enqueued before
        PostgreSQL last started: then the restart cut its worker's
        connection, and it is requeued without counting a try. Where
        workers run (other hosts), and whether they live, the runner cannot
        tell; the server's start time it can, on the clock that dated the
        job. An enqueued one that no worker started within
        ``ENQUEUED_RESCUE_GRACE`` seconds, and whose request is not in
        flight from this runner, was lost in transit. Both are put back
        by guarded updates, so a job alive in a worker is never touched.
        """
        for uuid, state, worker_pid, retry in self._rescue_dead_started(db_name, db):
            if state == "failed":
                outcome = "failed, no try left"
            elif state == "cancelled":
                outcome = "cancelled, another job with its identity key waits"
            else:
                outcome = "requeued"
            _logger.warning(
                "job %s of db %s was started by a worker that died (pid %s),"
                " try %s: %s",
                uuid,
                db_name,
                worker_pid,
                retry,
                outcome,
            )
        in_flight = [uuid for (name, uuid) in self._in_flight if name == db_name]
        lost = db.rescue_lost_enqueued_jobs(ENQUEUED_RESCUE_GRACE, in_flight)
        self.heartbeat.count(db_name, "rescued", len(lost))
        for uuid in lost:
            _logger.warning(
                "job %s of db %s was enqueued for more than %ss and no worker"
                " started it: reset to pending",
                uuid,
                db_name,
                ENQUEUED_RESCUE_GRACE,
            )

    def _rescue_dead_started(self, db_name, db):
        """Hand the started jobs of dead workers of ``db`` to Odoo, which ends
        them through the Job API (see ``odoo_rescue``); rescue them in SQL
        here, and return them, only when Odoo could not be asked."""
        failure = self.odoo_rescues.take_fallback(db_name)
        if failure is None:
            if not self.odoo_rescues.busy(db_name):
                dead = db.dead_started_jobs()
                if dead:
                    self.odoo_rescues.request(db_name, dead)
                    self.heartbeat.count(db_name, "rescued", len(dead))
            return ()
        for uuid, state, worker_pid, retry in db.rescue_interrupted_started_jobs():
            _logger.warning(
                "job %s of db %s was interrupted by a restart of PostgreSQL"
                " (worker pid %s): %s, not counted as a try (tries: %s)",
                uuid,
                db_name,
                worker_pid,
                "requeued" if state == "pending" else state,
                retry,
            )
        rescued = db.rescue_dead_started_jobs()
        self.heartbeat.count(db_name, "rescued", len(rescued))
        _logger.warning(
            "Odoo could not be asked to end the jobs of dead workers of db %s"
            " (%s): %d rescued in SQL, without the ORM",
            db_name,
            failure,
            len(rescued),
        )
        return rescued

    def _on_rescue_fallback(self):
        """From a rescue thread: rescue in SQL at once (next maintenance)."""
        self._next_maintenance = 0.0
        self._wakeup()

    def _keep_alive(self, now):
        for db_name, db in list(self.db_by_name.items()):
            if now - db.last_used >= KEEP_ALIVE_INTERVAL:
                try:
                    db.keep_alive()
                except psycopg2.Error as exc:
                    self._database_lost(db_name, exc)

    def _log_status(self):
        channels = [
            str(channel)
            for channel in self.channel_manager.iter_channels()
            if len(channel._queue) or channel._running or channel._failed
        ]
        if channels:
            _logger.info("channels: %s", ", ".join(channels))

    # -- notifications -----------------------------------------------------

    def process_notifications(self):
        """Apply the job changes notified by every database."""
        for db_name, db in list(self.db_by_name.items()):
            if self._stop:
                break
            try:
                self._process_db_notifications(db_name, db)
            except psycopg2.Error as exc:
                self._database_lost(db_name, exc)

    def _apply_channel_settings(self, db_name):
        """Hand the settings of a database's channel records to the
        scheduler; log the channels paused and resumed."""
        settings = self._channel_settings.get(db_name, {})
        paused, resumed = self.channel_manager.set_db_settings(db_name, settings)
        for name in paused:
            _logger.info("channel %s paused on db %s", name, db_name)
        for name in resumed:
            _logger.info("channel %s resumed on db %s", name, db_name)

    def _record_channel_change(self, db_name, change):
        """Note a notified change of a channel record (a rename moves it)."""
        name, old_name, record = change
        settings = self._channel_settings.setdefault(db_name, {})
        if old_name and old_name != name:
            settings.pop(old_name, None)
        if record:
            settings[name] = record
        else:
            settings.pop(name, None)

    def _process_db_notifications(self, db_name, db):
        channels_changed = False
        for payload in db.pop_notifications():
            change = parse_channel_notification(payload)
            if change is not None:
                self._record_channel_change(db_name, change)
                channels_changed = True
                continue
            row = parse_notification(payload)
            if row is None:
                # Not from the queue_job_notify trigger (e.g. a bare uuid
                # sent by hand): re-read the job it names.
                self._resync_job(db, payload.strip())
            elif row[-1] is None:
                self.channel_manager.remove_job(row[1], db_name)
            else:
                self.channel_manager.notify(db_name, *row)
        if channels_changed:
            self._apply_channel_settings(db_name)

    def _resync_job(self, db, uuid):
        row = db.fetch_job(uuid)
        if row is None:
            self.channel_manager.remove_job(uuid, db.db_name)
        else:
            self.channel_manager.notify(db.db_name, *row)

    # -- dispatch ----------------------------------------------------------

    def _on_dispatch_result(self, result):
        """Called by the dispatcher thread when a request ends."""
        self._dispatch_results.append(result)
        if result.error:
            self._wakeup()

    def process_dispatch_results(self):
        """Reset to pending the jobs whose request failed (if still enqueued)."""
        failed = {}
        while self._dispatch_results:
            result = self._dispatch_results.popleft()
            self._in_flight.discard((result.db_name, result.uuid))
            if result.error is None:
                self._dispatch_backoff.succeeded()
            else:
                failed.setdefault(result.db_name, []).append(result)
        for db_name, results in failed.items():
            uuids = [result.uuid for result in results]
            db = self.db_by_name.get(db_name)
            if db is None:
                self._defer_resets(db_name, uuids)
                continue
            try:
                reset = db.reset_jobs_to_pending(uuids)
            except psycopg2.Error as exc:
                self._defer_resets(db_name, uuids)
                self._database_lost(db_name, exc)
                continue
            self.heartbeat.count(db_name, "reset", len(reset))
            for result in results:
                if result.uuid in reset:
                    _logger.warning(
                        "could not dispatch job %s on db %s: %s",
                        result.uuid,
                        db_name,
                        result.error,
                    )
                    _logger.warning(
                        "state of job %s was reset from enqueued to pending",
                        result.uuid,
                    )
                else:
                    # The job got through (e.g. HTTP 500 after it failed).
                    _logger.debug(
                        "request for job %s on db %s ended with: %s",
                        result.uuid,
                        db_name,
                        result.error,
                    )
            if reset:
                delay = self._dispatch_backoff.failed(time.monotonic())
                _logger.warning("dispatching paused for %.1fs", delay)
            else:
                self._dispatch_backoff.succeeded()

    def run_jobs(self):
        """Dispatch every job the scheduler allows to start now."""
        if self._dispatch_backoff.active(time.monotonic()):
            return
        batches = {}
        for job in self.channel_manager.get_jobs_to_run(_odoo_now()):
            batches.setdefault(job.db_name, []).append(job)
            if self._stop:
                break
        for db_name, jobs in batches.items():
            self._dispatch(db_name, jobs)

    def _dispatch(self, db_name, jobs):
        uuids = [job.uuid for job in jobs]
        db = self.db_by_name.get(db_name)
        if db is None:
            # Lost during this iteration: its jobs are reloaded when it is
            # back, these were not marked.
            self.channel_manager.remove_db(db_name)
            return
        try:
            enqueued = db.set_jobs_enqueued(uuids)
        except psycopg2.Error as exc:
            # Maybe committed: reset them once back (no-op if not enqueued).
            self._defer_resets(db_name, uuids)
            self._database_lost(db_name, exc)
            return
        self.heartbeat.count(db_name, "dispatched", len(enqueued))
        for job in jobs:
            if job.uuid in enqueued:
                _logger.info("asking Odoo to run job %s on db %s", job.uuid, db_name)
                self._in_flight.add((db_name, job.uuid))
                self.dispatcher.dispatch(db_name, job.uuid)
        missed = [uuid for uuid in uuids if uuid not in enqueued]
        if not missed:
            return
        # Not pending any more (a notification is on its way, or was
        # superseded): learn their real state now.
        try:
            for uuid in missed:
                self._resync_job(db, uuid)
        except psycopg2.Error as exc:
            self._database_lost(db_name, exc)

    # -- waiting -----------------------------------------------------------

    def _wakeup(self):
        with suppress(BlockingIOError):  # pipe full: a wake-up is pending anyway
            os.write(self._stop_pipe[1], b".")

    def _drain_wakeup_pipe(self):
        with suppress(BlockingIOError):  # empty: drained
            while os.read(self._stop_pipe[0], 4096):
                continue

    def _wait_timeout(self):
        mono_now = time.monotonic()
        timeouts = [SELECT_TIMEOUT, self._next_maintenance - mono_now]
        timeouts.extend(
            probe.backoff.until - mono_now for probe in self._db_probe.values()
        )
        if self._dispatch_backoff.active(mono_now):
            # Nothing can be dispatched before: ignore the jobs' etas.
            timeouts.append(self._dispatch_backoff.until - mono_now)
        else:
            wakeup = self.channel_manager.get_wakeup_time()
            if wakeup:
                timeouts.append(wakeup - _odoo_now())
        return max(0.0, min(timeouts))

    def wait_notification(self):
        """Wait for a notification, a wake-up, or the next thing to do."""
        if any(db.has_notifications() for db in self.db_by_name.values()):
            return
        timeout = self._wait_timeout()
        if timeout <= 0 or self._stop:
            return
        for key, _events in self._selector.select(timeout):
            if key.fileobj == self._stop_pipe[0]:
                self._drain_wakeup_pipe()
                continue
            db = key.fileobj
            try:
                db.poll()
            except psycopg2.Error as exc:
                self._database_lost(db.db_name, exc)

    # -- lifecycle ---------------------------------------------------------

    def stop(self):
        _logger.info("graceful stop requested")
        self._stop = True
        self._wakeup()

    def run_once(self):
        """One iteration of the loop (tests drive the runner with it)."""
        self.process_notifications()
        self.process_dispatch_results()
        self.run_maintenance()
        self.probe_databases()
        self.run_jobs()
        self.heartbeat.beat(self.db_by_name, self._standby, self.channel_manager)
        self.wait_notification()

    def _sleep(self, seconds):
        """Sleep, but wake up at once when stopped."""
        if not self._stop:
            self._selector.select(seconds)
            self._drain_wakeup_pipe()

    def run(self):
        _logger.info("starting")
        self.dispatcher.start()
        try:
            while not self._stop:
                try:
                    _logger.info("initializing database connections")
                    self.initialize_databases()
                    _logger.info("database connections ready")
                    while not self._stop:
                        self.run_once()
                except (KeyboardInterrupt, InterruptedError):
                    self.stop()
                except Exception:
                    _logger.exception(
                        "exception: sleeping %ds and retrying", ERROR_RECOVERY_DELAY
                    )
                    self.close_databases()
                    self._sleep(ERROR_RECOVERY_DELAY)
        finally:
            self.close_databases(remove_jobs=False)
            self.dispatcher.stop()
            _logger.info("stopped")
