# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The figures of the job queue of one database, read in a few queries.

Shared by the overview screen, the Prometheus metrics and the health check.
Each query is cheap however many jobs the table holds: the jobs of every
state but done are counted through the index on state (done jobs, often
millions, are counted by the ``queue_job_count`` triggers in
``queue_job_counter`` and its deltas), the jobs done lately through the partial index on
``date_done``, and the runner's state is its heartbeat row (see
``sql/queue_job_observability.sql``). All ages are taken on the database's
clock, which dates the jobs and the heartbeats.
"""
from .jobrunner.served_database import LEADER
from .lease import RUNNER_LEADER_KEY, RUNNER_LEADER_NAMESPACE
from .lifecycle import DONE, ENQUEUED, STARTED, STATES

STATE_NAMES = tuple(state for state, _label in STATES)
# A runner whose loop has not written its heartbeat for this long is down.
RUNNER_LIVENESS_SECONDS = 30
RECENT_MINUTES = (5, 60)
COUNTERS = ("done", "failed", "retried", "rescued")
RUNNING_STATES = (ENQUEUED, STARTED)

COUNT_NOT_DONE = (
    "SELECT COALESCE(channel, 'root'), state, count(*) FROM queue_job"
    " WHERE state = ANY(%s) GROUP BY 1, 2"
)
# The counters, plus the deltas the leading runner has not folded yet.
SUM_COUNTERS = (
    "SELECT channel, sum(done), sum(failed), sum(retried), sum(rescued),"
    " sum(done_now) FROM ("
    " SELECT channel, done, failed, retried, rescued, done_now"
    " FROM queue_job_counter"
    " UNION ALL"
    " SELECT channel, done, failed, retried, rescued, done_now"
    " FROM queue_job_counter_delta"
    ") counters GROUP BY channel"
)
# Pending jobs are waiting from their creation, or from their eta once it
# passed; those whose eta is still ahead are not waiting yet.
OLDEST_PENDING = (
    "SELECT COALESCE(channel, 'root'),"
    " EXTRACT(EPOCH FROM now() AT TIME ZONE 'utc'"
    " - min(GREATEST(date_created, eta)))::float8"
    " FROM queue_job WHERE state = 'pending'"
    " AND (eta IS NULL OR eta <= now() AT TIME ZONE 'utc')"
    " GROUP BY 1"
)
# A failed job is dated by the start of the try that failed (the jobs'
# table keeps no date of the failure itself).
RECENT_ENDS = (
    "SELECT COALESCE(channel, 'root'), state,"
    " count(*) FILTER (WHERE ended >= now() AT TIME ZONE 'utc'"
    " - make_interval(mins => %(short)s)),"
    " count(*)"
    " FROM ("
    " SELECT channel, state, date_done AS ended FROM queue_job"
    " WHERE date_done >= now() AT TIME ZONE 'utc' - make_interval(mins => %(long)s)"
    " AND state = 'done'"
    " UNION ALL"
    " SELECT channel, state, date_started FROM queue_job"
    " WHERE state = 'failed'"
    " AND date_started >= now() AT TIME ZONE 'utc' - make_interval(mins => %(long)s)"
    ") ended GROUP BY 1, 2"
)
# A leader's row tells whether its connection still holds the leader lock
# (see queue_job.lease): a runner killed loses it at once, long before its
# row is 30 seconds old.
RUNNERS = (
    "SELECT beat.host, beat.pid, beat.role, beat.started_at, beat.leader_since,"
    " beat.last_seen,"
    " EXTRACT(EPOCH FROM now() AT TIME ZONE 'utc' - beat.last_seen)::float8,"
    " beat.channels, beat.dispatched, beat.rescued, beat.reset,"
    " lock.pid IS NOT NULL"
    " FROM queue_job_runner_heartbeat beat"
    " LEFT JOIN (SELECT pid FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = %(namespace)s AND objid = %(key)s"
    " AND database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database())"
    ") lock ON lock.pid = beat.backend_pid"
    " ORDER BY beat.last_seen DESC, beat.host, beat.pid"
)
PAUSED_CHANNELS = (
    "SELECT complete_name FROM queue_job_channel"
    " WHERE paused AND complete_name IS NOT NULL"
)
RUNNER_COLUMNS = (
    "host",
    "pid",
    "role",
    "started_at",
    "leader_since",
    "last_seen",
    "last_seen_age",
    "channels",
    "dispatched",
    "rescued",
    "reset",
    "holds_lock",
)


def _channel(name):
    return {
        "name": name,
        "states": dict.fromkeys(STATE_NAMES, 0),
        "totals": dict.fromkeys(COUNTERS, 0),
        "recent": {
            state: dict.fromkeys(RECENT_MINUTES, 0) for state in (DONE, "failed")
        },
        "oldest_pending_age": 0.0,
        "capacity": None,
        "paused": False,
        "running": 0,
    }


def runners(cr):
    """The runners' heartbeat rows, as dicts, latest first, each with
    ``alive``: seen lately, and for a leader, still holding the lock."""
    cr.execute(
        RUNNERS, {"namespace": RUNNER_LEADER_NAMESPACE, "key": RUNNER_LEADER_KEY}
    )
    rows = [dict(zip(RUNNER_COLUMNS, row)) for row in cr.fetchall()]
    for row in rows:
        row["alive"] = row["last_seen_age"] < RUNNER_LIVENESS_SECONDS and (
            row["role"] != LEADER or row["holds_lock"]
        )
    return rows


def leader(runner_rows):
    """The leading runner's row if it holds the lock and looped lately,
    else None."""
    return next(
        (row for row in runner_rows if row["role"] == LEADER and row["alive"]), None
    )


def last_leader(runner_rows):
    """The row of the runner that led last, alive or not (rows are latest
    first), or None."""
    return next((row for row in runner_rows if row["role"] == LEADER), None)


def collect(cr):
    """``{"channels": {name: figures}, "runners": [...], "leader": row}``."""
    channels = {}

    def channel(name):
        return channels.setdefault(name, _channel(name))

    cr.execute(COUNT_NOT_DONE, ([s for s in STATE_NAMES if s != DONE],))
    for name, state, count in cr.fetchall():
        channel(name)["states"][state] = count
    cr.execute(SUM_COUNTERS)
    for name, *sums in cr.fetchall():
        figures = channel(name)
        figures["totals"] = dict(zip(COUNTERS, (int(value) for value in sums)))
        figures["states"][DONE] = int(sums[-1])
    cr.execute(OLDEST_PENDING)
    for name, age in cr.fetchall():
        channel(name)["oldest_pending_age"] = max(age or 0.0, 0.0)
    short, long_ = RECENT_MINUTES
    cr.execute(RECENT_ENDS, {"short": short, "long": long_})
    for name, state, recent_short, recent_long in cr.fetchall():
        channel(name)["recent"][state] = {short: recent_short, long_: recent_long}
    runner_rows = runners(cr)
    current = leader(runner_rows)
    for name, settings in ((current or {}).get("channels") or {}).items():
        figures = channel(name)
        figures["capacity"] = settings.get("capacity")
        figures["paused"] = bool(settings.get("paused"))
    cr.execute(PAUSED_CHANNELS)
    for (name,) in cr.fetchall():
        channel(name)["paused"] = True
    for figures in channels.values():
        figures["running"] = sum(figures["states"][s] for s in RUNNING_STATES)
    return {
        "channels": dict(sorted(channels.items())),
        "runners": runner_rows,
        "leader": current,
    }
