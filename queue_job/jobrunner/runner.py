# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job runner: keeps every database's jobs in the scheduler, starts them.

``QueueJobRunner`` composes the parts, each in its own module:

* ``config``: the settings, built once and validated; ``odoo_settings``
  reads them (and the connection parameters) from Odoo;
* ``channels``: the scheduler (pure);
* ``database``: one LISTEN connection per database, and the runner's SQL
  (``queries``);
* ``dispatcher``: the HTTP requests to ``/queue_job/runjob``;

and its own parts, mixins sharing its state: ``databases`` (a
``ServedDatabase`` per database: connection, leadership, outages),
``notifications`` (NOTIFY, and the wait), ``dispatching`` and
``maintenance`` (periodic tasks, rescue of dead jobs).

One loop iteration (``run_once``) is ``work_once`` then
``wait_notification``: apply the notifications received, apply the outcome
of finished dispatches, run the periodic maintenance, probe the servers of
unreachable databases, dispatch what the scheduler allows; then wait for a
notification, the next eta, or the next maintenance. ``run()`` loops over
it; the prefork worker calls the two halves from Odoo's own worker loop.
An unexpected error closes the databases and pauses the runner for
``ERROR_RECOVERY_DELAY`` seconds, after which it opens them again.

See the README for the operator documentation (settings, deployment).
"""
import dataclasses
import logging
import os
import selectors
import time
from collections import deque

from . import timings
from .backoff import Backoff
from .channels import ChannelManager
from .config import RunnerConfig, RunnerConfigError  # noqa: F401 (re-export)
from .databases import ServedDatabasesMixin
from .dispatcher import Endpoint, HttpDispatcher
from .dispatching import DispatchingMixin
from .heartbeat import RunnerHeartbeat
from .legacy_dispatch import _async_http_get, _reset_job_if_enqueued  # noqa: F401
from .maintenance import MaintenanceMixin
from .notifications import NotificationsMixin
from .odoo_rescue import OdooRescues
from .odoo_settings import (  # noqa: F401 (re-exports)
    APPLICATION_NAME,
    CONNECTION_KEEPALIVES,
    Database,
    _channels,
    _connection_info_for,
    _datetime_to_epoch,
    _odoo_now,
    database_params,
    load_runner_config,
    queue_job_section,
)
from .timings import (  # noqa: F401 (re-exports)
    DB_PROBE_BACKOFF,
    DB_RETRY_BACKOFF,
    DISCOVERY_INTERVAL,
    DISPATCH_RETRY_BACKOFF,
    ENQUEUED_RESCUE_GRACE,
    ERROR_RECOVERY_DELAY,
    KEEP_ALIVE_INTERVAL,
    MAINTENANCE_INTERVAL,
    PROBE_CONNECT_TIMEOUT,
    SELECT_TIMEOUT,
    STATUS_INTERVAL,
)

_logger = logging.getLogger(__name__)


class QueueJobRunner(
    ServedDatabasesMixin, NotificationsMixin, DispatchingMixin, MaintenanceMixin
):
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
        # database name -> ServedDatabase, for every database listed
        self.served = {}
        self._stop = False
        self._wakeup_pipe = os.pipe()
        for fd in self._wakeup_pipe:
            os.set_blocking(fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wakeup_pipe[0], selectors.EVENT_READ)
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
        self._dispatch_backoff = Backoff(*timings.DISPATCH_RETRY_BACKOFF)
        # (database name, uuid) of the runjob requests not answered yet
        self._in_flight = set()
        self._dbfilter_logged = False
        self._databases_opened = False
        # monotonic time before which the runner does nothing (a recovery)
        self._paused_until = 0.0
        self._next_maintenance = 0.0
        self._next_discovery = 0.0
        self._next_status = 0.0
        # Callables ``task(monotonic_now)`` run at each maintenance tick:
        # where observers of the runner hook their periodic work.
        self.maintenance_tasks = []
        # what the runner records of itself in each database it serves
        self.heartbeat = RunnerHeartbeat()

    @classmethod
    def from_environ_or_config(cls):
        return cls(config=load_runner_config())

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        """Start what runs beside the loop (the dispatcher's threads)."""
        _logger.info("starting")
        self.dispatcher.start()

    def close(self):
        """Close every connection, keeping the jobs known; stop dispatching."""
        try:
            self.close_databases(remove_jobs=False)
        finally:
            self.dispatcher.stop()
            _logger.info("stopped")

    def stop(self):
        _logger.info("graceful stop requested")
        self._stop = True
        self.wakeup()

    @property
    def stopped(self):
        return self._stop

    def pause(self, seconds):
        """Do nothing for ``seconds``: the next waits last until then."""
        self._paused_until = time.monotonic() + seconds

    def _paused(self):
        if self._paused_until and time.monotonic() < self._paused_until:
            return True
        self._paused_until = 0.0
        return False

    def _recover(self):
        """After an unexpected error: close everything, pause, start over.

        The databases are opened again (their jobs reloaded) once the pause
        is over, so that a bug or a surprise in one iteration costs a pause
        rather than the runner.
        """
        _logger.exception(
            "exception: sleeping %ds and retrying", timings.ERROR_RECOVERY_DELAY
        )
        self.close_databases()
        self._databases_opened = False
        self.pause(timings.ERROR_RECOVERY_DELAY)

    # -- one iteration -----------------------------------------------------

    def work_once(self):
        """The work of one loop iteration, without its wait."""
        if self._stop or self._paused():
            return
        try:
            if not self._databases_opened:
                _logger.info("initializing database connections")
                self.initialize_databases()
                self._databases_opened = True
                _logger.info("database connections ready")
            self.process_notifications()
            self.process_dispatch_results()
            now = time.monotonic()
            self.run_maintenance(now)
            self.probe_databases(now)
            self.run_jobs()
            self.heartbeat.beat(self.served.values(), self.channel_manager)
        except Exception:
            self._recover()

    def wait(self):
        """The wait of one loop iteration (see ``wait_notification``)."""
        try:
            self.wait_notification()
        except Exception:
            self._recover()

    def run_once(self):
        """One iteration of the loop: its work, then its wait."""
        self.work_once()
        self.wait()

    def run(self):
        """Run until ``stop()``."""
        self.start()
        try:
            while not self._stop:
                try:
                    self.run_once()
                except (KeyboardInterrupt, InterruptedError):
                    self.stop()
        finally:
            self.close()
