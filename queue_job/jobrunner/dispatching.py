# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Starting the jobs the scheduler allows, and the outcome of their requests.

A part of ``QueueJobRunner`` (see ``databases``). A job is marked enqueued
first, only if it is still pending, then its request is handed to the
``HttpDispatcher``; a request that fails resets the job to pending if it is
still enqueued, and pauses dispatching for a while (a backoff).
"""
import logging
import time

from . import timings
from .odoo_settings import _odoo_now
from .served_database import LEADER

_logger = logging.getLogger(timings.RUNNER_LOGGER)


class DispatchingMixin:
    """Dispatch of jobs, and what their requests became."""

    def _on_dispatch_result(self, result):
        """Called by the dispatcher thread when a request ends."""
        self._dispatch_results.append(result)
        if result.error:
            self.wakeup()

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
            self._reset_failed_dispatches(self._served(db_name), results)

    def _reset_failed_dispatches(self, served, results):
        uuids = [result.uuid for result in results]
        if served.role != LEADER:
            served.pending_resets.update(uuids)
            return
        reset = self.run_on(
            served, lambda db: db.reset_jobs_to_pending(uuids), resets=uuids
        )
        if reset is None:
            return
        self.heartbeat.count(served.name, "reset", len(reset))
        for result in results:
            if result.uuid in reset:
                _logger.warning(
                    "could not dispatch job %s on db %s: %s",
                    result.uuid,
                    served.name,
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
                    served.name,
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
        served = self.served.get(db_name)
        if served is None or served.role != LEADER:
            # Lost during this iteration: its jobs are reloaded when it is
            # back, these were not marked.
            self.channel_manager.remove_db(db_name)
            return
        # Maybe committed when the connection fails: reset them once back
        # (a no-op for those not enqueued).
        enqueued = self.run_on(
            served, lambda db: db.set_jobs_enqueued(uuids), resets=uuids
        )
        if enqueued is None:
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
        with self.connection_of(served) as db:
            for uuid in missed:
                self._resync_job(db, uuid)
