# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""What the job runner learns from NOTIFY, and its wait for it.

A part of ``QueueJobRunner`` (see ``databases``). The payloads carry what
the scheduler needs, nothing is re-read: job changes, and changes of the
channel records' settings, which override the configuration's for their
database.
"""
import logging
import os
import time
from contextlib import suppress

from . import timings
from .database import parse_channel_notification, parse_notification
from .odoo_settings import _odoo_now

_logger = logging.getLogger(timings.RUNNER_LOGGER)


class NotificationsMixin:
    """Applying notifications, and waiting for them (or for the next task)."""

    def process_notifications(self):
        """Apply the job changes notified by every database."""
        for served in self.leaders():
            if self._stop:
                break
            with self.connection_of(served):
                self._process_db_notifications(served)

    def _apply_channel_settings(self, served):
        """Hand the settings of a database's channel records to the
        scheduler; log the channels paused and resumed."""
        db_name = served.name
        manager = self.channel_manager
        paused, resumed = manager.set_db_settings(db_name, served.channel_settings)
        for name in paused:
            _logger.info("channel %s paused on db %s", name, db_name)
        for name in resumed:
            _logger.info("channel %s resumed on db %s", name, db_name)

    @staticmethod
    def _record_channel_change(served, change):
        """Note a notified change of a channel record (a rename moves it)."""
        name, old_name, record = change
        settings = served.channel_settings
        if old_name and old_name != name:
            settings.pop(old_name, None)
        if record:
            settings[name] = record
        else:
            settings.pop(name, None)

    def _process_db_notifications(self, served):
        db_name, db = served.name, served.db
        channels_changed = False
        for payload in db.pop_notifications():
            change = parse_channel_notification(payload)
            if change is not None:
                self._record_channel_change(served, change)
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
            self._apply_channel_settings(served)

    def _resync_job(self, db, uuid):
        row = db.fetch_job(uuid)
        if row is None:
            self.channel_manager.remove_job(uuid, db.db_name)
        else:
            self.channel_manager.notify(db.db_name, *row)

    # -- waiting -----------------------------------------------------------

    def wakeup(self):
        """End the current (or next) wait at once; callable from any thread."""
        with suppress(BlockingIOError):  # pipe full: a wake-up is pending anyway
            os.write(self._wakeup_pipe[1], b".")

    def _drain_wakeup_pipe(self):
        with suppress(BlockingIOError):  # empty: drained
            while os.read(self._wakeup_pipe[0], 4096):
                continue

    def _wait_timeout(self):
        mono_now = time.monotonic()
        if self._paused_until:
            return self._paused_until - mono_now
        timeouts = [timings.SELECT_TIMEOUT, self._next_maintenance - mono_now]
        timeouts.extend(
            served.probe.backoff.until - mono_now
            for served in self.served.values()
            if served.probe is not None
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
        leaders = self.leaders()
        if any(served.db.has_notifications() for served in leaders):
            return
        timeout = self._wait_timeout()
        if timeout <= 0 or self._stop:
            return
        for key, _events in self._selector.select(timeout):
            if key.fileobj == self._wakeup_pipe[0]:
                self._drain_wakeup_pipe()
                continue
            served = key.data
            with self.connection_of(served) as db:
                db.poll()
