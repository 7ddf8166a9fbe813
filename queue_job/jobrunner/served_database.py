# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""What the job runner knows of one database it was asked to serve.

One object per database name, rather than a dictionary per concern, so that
a database's connection, its role and what waits for its return change
together, and are forgotten together when it leaves the database list.
"""
from .backoff import Backoff, ServerProbe
from .timings import DB_PROBE_BACKOFF, DB_RETRY_BACKOFF

# Roles: who dispatches the jobs of a database.
LEADER = "leader"  # this runner holds the leader lock: it dispatches, rescues
STANDBY = "standby"  # another runner holds it: connected, ready to take over
UNREACHABLE = "unreachable"  # connection failed or lost: retried later
NOT_SERVED = "not served"  # reachable, but not a queue_job database
CLOSED = "closed"  # not connected (yet, or any more): opened at the next try


class ServedDatabase:
    """A database of the list, its connection and role.

    ``db`` is the open connection (a ``Database``) of a leader or a
    standby, else None. ``retry`` and ``probe`` pace the reconnection of an
    unreachable one (see ``ServerProbe``). ``pending_resets`` holds the
    uuids of jobs whose dispatch failed, or may have been marked enqueued,
    while it could not be reached: reset once it is led again.
    ``channel_settings`` are those of its channel records, which override
    the configuration's for its jobs.
    """

    def __init__(self, name):
        self.name = name
        self.db = None
        self.role = CLOSED
        # why it is not served, as last logged (logged when it changes)
        self.not_served_reason = None
        self.retry = None
        self.probe = None
        self.pending_resets = set()
        self.channel_settings = {}

    def __repr__(self):
        return "<ServedDatabase %s %s>" % (self.name, self.role)

    @property
    def is_leader(self):
        return self.role == LEADER

    def retry_due(self, now):
        """Whether a new connection attempt may be made now."""
        return self.retry is None or not self.retry.active(now)

    def connection_failed(self, now):
        """Count a failed attempt; return the delay before the next one."""
        if self.retry is None:
            self.retry = Backoff(*DB_RETRY_BACKOFF)
        if self.probe is None:
            self.probe = ServerProbe(*DB_PROBE_BACKOFF)
        self.role = UNREACHABLE
        return self.retry.failed(now)

    def connected(self, role):
        """Reached: the attempts of an outage are over."""
        self.role = role
        self.retry = None
        self.probe = None
