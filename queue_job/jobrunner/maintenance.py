# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job runner's periodic work, and the rescue of jobs nobody works on.

A part of ``QueueJobRunner`` (see ``databases``). ``run_maintenance`` runs
every ``MAINTENANCE_INTERVAL`` seconds at most, and when a reconnection is
due: rescue, reconnections, discovery of the database list, keep-alive,
leadership, then the callables of ``maintenance_tasks``.

The leader of a database rescues, when it takes the lead and at each
maintenance, the jobs nobody works on: ``started`` jobs whose lease is free
(their worker died: requeued as a try, or failed once the tries are
exhausted) and jobs ``enqueued`` for more than ``ENQUEUED_RESCUE_GRACE``
seconds whose request is not in flight from this runner (a dispatch lost in
transit).
"""
import logging
import time

from . import timings

_logger = logging.getLogger(timings.RUNNER_LOGGER)


class MaintenanceMixin:
    """Periodic tasks and rescues of ``QueueJobRunner``."""

    def run_maintenance(self, now=None):
        """Periodic tasks; cheap unless one of them is due."""
        now = time.monotonic() if now is None else now
        if now < self._next_maintenance:
            return
        self._next_maintenance = now + timings.MAINTENANCE_INTERVAL
        # before the databases opened or led from now on, which their
        # leader rescues as it takes the lead
        self.rescue_jobs()
        if now >= self._next_discovery:
            self._next_discovery = now + timings.DISCOVERY_INTERVAL
            self.refresh_databases(now)
        else:
            for served in list(self.served.values()):
                if served.retry is not None and served.retry_due(now):
                    self._open_database(served)
            self._keep_alive(now)
        self._retry_leadership()
        for served in self.served.values():
            if served.retry is not None:
                self._next_maintenance = min(self._next_maintenance, served.retry.until)
        if now >= self._next_status:
            self._next_status = now + timings.STATUS_INTERVAL
            self._log_status()
        for task in self.maintenance_tasks:
            task(now)

    def rescue_jobs(self):
        """Rescue the jobs of dead workers and lost dispatches, everywhere."""
        for served in self.leaders():
            with self.connection_of(served):
                self._rescue_jobs(served)

    def _rescue_jobs(self, served):
        """Put back in the queue the jobs of ``served`` nobody works on.

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
        db_name = served.name
        for uuid, state, worker_pid, retry in self._rescue_dead_started(served):
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
        grace = timings.ENQUEUED_RESCUE_GRACE
        in_flight = [uuid for (name, uuid) in self._in_flight if name == db_name]
        lost = served.db.rescue_lost_enqueued_jobs(grace, in_flight)
        self.heartbeat.count(db_name, "rescued", len(lost))
        for uuid in lost:
            _logger.warning(
                "job %s of db %s was enqueued for more than %ss and no worker"
                " started it: reset to pending",
                uuid,
                db_name,
                grace,
            )

    def _rescue_dead_started(self, served):
        """Hand the started jobs of dead workers to Odoo, which ends them
        through the Job API (see ``odoo_rescue``); rescue them in SQL here,
        and return them, only when Odoo could not be asked."""
        db_name, db = served.name, served.db
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
        self.wakeup()

    def _keep_alive(self, now):
        for served in self.leaders():
            if now - served.db.last_used >= timings.KEEP_ALIVE_INTERVAL:
                with self.connection_of(served) as db:
                    db.keep_alive()

    def _log_status(self):
        channels = [
            str(channel)
            for channel in self.channel_manager.iter_channels()
            if len(channel._queue) or channel._running or channel._failed
        ]
        if channels:
            _logger.info("channels: %s", ", ".join(channels))
