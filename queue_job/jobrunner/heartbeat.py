# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The runner's heartbeat: a row per runner in each database it serves.

The overview, the metrics and the health check of a database learn from it
which runner leads (host, pid, since when), when it last looped, the
channel settings in effect and what it did since it started (jobs
dispatched, rescued, reset to pending after a failed dispatch). Standby
runners write theirs too, with the role ``standby``.

The leader also folds the deltas of the job counters (see
``queries.FOLD_COUNTERS``) when it writes its row.

The runner calls ``beat()`` at each iteration of its loop; a row is written
at most every ``HEARTBEAT_INTERVAL`` seconds per database, on the runner's
own connection (autocommit), and at once when its role changed; nothing
is written per job. The loop wakes
up at least every maintenance interval, so a live runner's row is never
older than that plus ``HEARTBEAT_INTERVAL``. Free of Odoo imports.
"""
import json
import logging
import os
import socket
import time

import psycopg2

from . import queries
from .channels import effective_settings
from .served_database import LEADER, STANDBY

_logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 3  # seconds between two writes of a database's row
# After a write refused for lack of the table (queue_job not updated yet in
# that database), the next attempt waits this long.
FAILURE_PAUSE = 60

COUNTERS = ("dispatched", "rescued", "reset")


def effective_channels(channel_manager, db_name):
    """``{channel full name: settings}`` the scheduler applies to ``db_name``.

    The configuration's channels, with what the database's channel records
    set applied over them (see ``ChannelManager.set_db_settings``).
    """
    result = {
        channel.fullname: {
            "capacity": channel.capacity,
            "sequential": bool(channel.sequential),
            "throttle": channel.throttle or 0,
            "paused": False,
        }
        for channel in channel_manager.iter_channels()
        if channel.db_name is None
    }
    for fullname, record in channel_manager.db_settings(db_name).items():
        configured = result.get(fullname, {"capacity": None, "sequential": False})
        merged = effective_settings(fullname, configured, record)
        result[fullname] = {
            "capacity": merged["capacity"],
            "sequential": merged["sequential"],
            "throttle": merged["throttle"],
            "paused": merged["paused"],
        }
    return result


class RunnerHeartbeat:
    """Counts what the runner does and writes its row in each database."""

    def __init__(self, host=None, pid=None, clock=time.monotonic):
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.started_at = time.time()
        self._clock = clock
        # database name -> {counter name: value}
        self._counters = {}
        # database name -> (role written, monotonic time of the next write)
        self._written = {}

    def count(self, db_name, counter, number=1):
        """Add ``number`` to ``counter`` (one of ``COUNTERS``) of a database."""
        counters = self._counters.setdefault(db_name, dict.fromkeys(COUNTERS, 0))
        counters[counter] += number

    def counters(self, db_name):
        return dict(self._counters.get(db_name) or dict.fromkeys(COUNTERS, 0))

    def beat(self, served, channel_manager, now=None):
        """Write the row of each database due, leading or standing by:
        ``served`` holds the runner's ``ServedDatabase`` objects (a name, a
        role, a ``QueueJobDatabase``); the others are not written."""
        now = self._clock() if now is None else now
        for database in served:
            role = database.role
            if role != LEADER and role != STANDBY:
                continue
            written_role, next_write = self._written.get(database.name, (None, 0.0))
            if role == written_role and now < next_write:
                continue
            channels = None
            if role == LEADER:
                channels = effective_channels(channel_manager, database.name)
            pause = self._write(database.name, database.db.conn, role, channels)
            self._written[database.name] = (role, now + pause)

    def _write(self, db_name, conn, role, channels):
        """Write one row; return the seconds until the next write."""
        params = dict(
            self.counters(db_name),
            host=self.host,
            pid=self.pid,
            role=role,
            started_at=self.started_at,
            channels=json.dumps(channels) if channels is not None else None,
        )
        try:
            with conn.cursor() as cr:
                cr.execute(queries.WRITE_HEARTBEAT, params)
                if role == LEADER:
                    cr.execute(queries.FOLD_COUNTERS)
        except psycopg2.errors.UndefinedTable:
            _logger.warning(
                "db %s has no table queue_job_runner_heartbeat (update"
                " queue_job): the job runner cannot report it is alive",
                db_name,
            )
            return FAILURE_PAUSE
        except psycopg2.Error as exc:
            # A lost connection is noticed (and handled) by the loop itself.
            _logger.warning(
                "could not write the heartbeat of the job runner in db %s: %s",
                db_name,
                str(exc).strip(),
            )
        return HEARTBEAT_INTERVAL
