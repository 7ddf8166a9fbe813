# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Every SQL statement of the job runner, named, with the indexes it uses.

The runner's connections are in autocommit mode: each statement is its own
transaction. Timestamps in ``queue_job`` are naive UTC; the scheduler works
in epoch seconds, so dates are read with ``EXTRACT(EPOCH FROM ...)::float8``,
the same expression as the NOTIFY payload of the ``queue_job_notify``
trigger, so that a job read here and the same job notified compare equal.
"""
from ..lease import LEASE_IS_FREE, RUNNER_LEADER_KEY, RUNNER_LEADER_NAMESPACE

# Channel of the NOTIFY sent by the queue_job_notify trigger.
NOTIFY_CHANNEL = "queue_job"

LISTEN = "LISTEN queue_job"

# The runner's writes (enqueued marks, resets to pending, rescues) do not
# wait for the WAL flush: should PostgreSQL crash before a later durable
# commit flushes them, the state they left is the state before, which the
# runner handles anyway (a job pending again, a rescue done again). The
# commit itself, and its visibility to the worker, are immediate.
ASYNCHRONOUS_COMMITS = "SET synchronous_commit TO off"

# Eligibility of a database (all three must hold).
IS_ODOO_DATABASE = "SELECT to_regclass('ir_module_module') IS NOT NULL"
IS_QUEUE_JOB_INSTALLED = (
    "SELECT 1 FROM ir_module_module WHERE name = 'queue_job' AND state = 'installed'"
)
# One trigger row per event (INSERT, UPDATE, DELETE).
COUNT_NOTIFY_TRIGGERS = (
    "SELECT count(*) FROM information_schema.triggers"
    " WHERE event_object_table = 'queue_job'"
    " AND trigger_name = 'queue_job_notify'"
)
EXPECTED_NOTIFY_TRIGGERS = 3

KEEP_ALIVE = "SELECT 1"

# The columns ChannelManager.notify() takes after db_name, in its order:
# channel, uuid, seq (= id), date_created, priority, eta, state.
# ``{where}`` is a condition composed by Database.select_jobs().
SELECT_JOBS = (
    "SELECT channel, uuid, id,"
    " EXTRACT(EPOCH FROM date_created)::float8,"
    " priority,"
    " EXTRACT(EPOCH FROM eta)::float8,"
    " state"
    " FROM queue_job WHERE {where}"
)
# Conditions for SELECT_JOBS.
# Initial load; uses the index on queue_job.state.
WHERE_STATE_IN = "state = ANY(%s)"
# Re-read of one job; uses the index on queue_job.uuid.
WHERE_UUID = "uuid = %s"

# The state of a job found by its uuid is tested as an expression, which no
# index matches: when the statistics say that few jobs are in that state
# (most are done), the planner would otherwise scan the index on state, and
# check every job in that state (and every dead version of one) for the
# uuid, at each dispatch of a large batch of pending jobs.
STATE_IS = "state || '' = "

# Dispatch: a job is marked enqueued only if it is still pending, so that a
# job changed meanwhile (started by another runner, cancelled, done by hand)
# is never dispatched; RETURNING says which ones may be dispatched. Uses the
# index on queue_job.uuid.
MARK_ENQUEUED = (
    "UPDATE queue_job"
    " SET state = 'enqueued',"
    " date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')"
    " WHERE uuid = ANY(%s) AND " + STATE_IS + "'pending'"
    " RETURNING uuid"
)

# A failed dispatch puts the job back to pending only if it is still
# enqueued: if a worker picked it up (started, done, failed) the request did
# reach Odoo and the job must not run again. Uses the index on queue_job.uuid.
RESET_TO_PENDING = (
    "UPDATE queue_job"
    " SET state = 'pending', date_enqueued = NULL, date_started = NULL"
    " WHERE uuid = ANY(%s) AND " + STATE_IS + "'enqueued'"
    " RETURNING uuid"
)

# Leader election (see queue_job.lease): the runner holding this session
# lock on its connection is the one that dispatches and rescues the jobs of
# the database; PostgreSQL releases it when the connection ends.
TRY_LEADER_LOCK = "SELECT pg_try_advisory_lock(%d, %d)" % (
    RUNNER_LEADER_NAMESPACE,
    RUNNER_LEADER_KEY,
)
# The backend holding the leader lock of the current database, for the log.
LEADER_BACKEND_PID = (
    "SELECT pid FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = %d AND objid = %d AND objsubid = 2"
    % (RUNNER_LEADER_NAMESPACE, RUNNER_LEADER_KEY)
)

# The started jobs whose lease is free (their worker died, or its connection
# went with a restart of PostgreSQL), for the runner's own rescue when Odoo
# cannot be asked (see sql_rescue): the rows are locked, skipping those locked
# by a transaction (a worker storing the job's end), then the lease is tested
# by taking it for the transaction: a live worker holds it, so its job is
# never touched, however long it runs. Read with them: what the decision of
# the job's end needs (tries, max. retries, the waiting job with the same
# identity key, if any: the unique index allows one), what the end keeps, and
# the database's clock. ``%(interrupted)s``: TRUE for the jobs enqueued before
# PostgreSQL started (their worker lost its connection to the restart, not
# its life; compared on the database's own clock, so that workers on other
# hosts are judged alike), FALSE for the others. Uses the index on
# queue_job.state.
LOCK_RESCUABLE_STARTED = (
    "WITH started AS ("
    " SELECT id FROM queue_job WHERE state = 'started'"
    " AND COALESCE(COALESCE(date_enqueued, date_started)"
    " < pg_postmaster_start_time() AT TIME ZONE 'utc', FALSE) = %(interrupted)s"
    " FOR UPDATE SKIP LOCKED"
    ")"
    " SELECT job.id, job.uuid, job.retry, job.max_retries, job.worker_pid,"
    " job.date_started, job.date_cancelled, job.exc_name, job.exc_message,"
    " job.exc_info, job.result, duplicate.uuid, now() AT TIME ZONE 'utc'"
    " FROM started"
    " JOIN queue_job job ON job.id = started.id"
    " LEFT JOIN LATERAL ("
    "  SELECT other.uuid FROM queue_job other"
    "  WHERE job.identity_key IS NOT NULL AND job.graph_uuid IS NULL"
    "  AND other.identity_key = job.identity_key AND other.graph_uuid IS NULL"
    "  AND other.state = ANY(%(waiting_states)s)"
    "  LIMIT 1"
    " ) duplicate ON TRUE"
    " WHERE " + LEASE_IS_FREE.format(job_id="started.id")
)
# The end of the jobs that LOCK_RESCUABLE_STARTED locked, as decided for each
# (see sql_rescue), in the same transaction; one row of values per job
# (execute_values, RESCUED_END_TEMPLATE). Uses the primary key.
WRITE_RESCUED_END = (
    "UPDATE queue_job job SET"
    " state = v.state, retry = v.retry, date_enqueued = NULL,"
    " date_started = v.date_started, worker_pid = v.worker_pid,"
    " date_cancelled = v.date_cancelled, exc_name = v.exc_name,"
    " exc_message = v.exc_message, exc_info = v.exc_info, result = v.result"
    " FROM (VALUES %s) AS v(id, state, retry, date_started, worker_pid,"
    " date_cancelled, exc_name, exc_message, exc_info, result)"
    " WHERE job.id = v.id"
)
RESCUED_END_TEMPLATE = (
    "(%s::int, %s::varchar, %s::int, %s::timestamp, %s::int, %s::timestamp,"
    " %s::varchar, %s::varchar, %s::text, %s::text)"
)

# The started jobs whose lease is free (their worker died), which the runner
# asks Odoo to end (see queue_job.rescue): nothing is written, the rows and
# leases are only tried for the statement. Rows locked by a transaction (a
# worker storing the job's end) are skipped, as in LOCK_RESCUABLE_STARTED.
# Uses the index on queue_job.state.
SELECT_DEAD_STARTED = (
    "SELECT started.uuid FROM ("
    " SELECT id, uuid FROM queue_job WHERE state = 'started'"
    " FOR UPDATE SKIP LOCKED"
    ") started WHERE " + LEASE_IS_FREE.format(job_id="started.id")
)

# Rescue of the dispatches lost in transit: jobs ``enqueued`` for longer
# than a grace period whose request is not in flight from this runner (sent
# by a runner that died, or answered without the job being started). Rows
# locked by a worker starting the job are skipped. Uses the index on
# queue_job.state.
RESCUE_LOST_ENQUEUED = (
    "UPDATE queue_job"
    " SET state = 'pending', date_enqueued = NULL, date_started = NULL"
    " WHERE id IN ("
    " SELECT id FROM queue_job"
    " WHERE state = 'enqueued'"
    " AND (date_enqueued IS NULL OR date_enqueued"
    " < now() AT TIME ZONE 'utc' - make_interval(secs => %(grace)s))"
    " AND NOT uuid = ANY(%(in_flight)s::varchar[])"
    " FOR UPDATE SKIP LOCKED"
    ") AND state = 'enqueued'"
    " RETURNING uuid"
)

# The channel records of the database that set something (the others leave
# the configuration's settings): complete name, capacity, sequential,
# throttle, paused. Read when the database is opened; the changes come by
# the NOTIFY of the queue_job_channel_notify trigger. A database whose
# queue_job predates these columns raises UndefinedColumn: nothing is set.
SELECT_CHANNEL_SETTINGS = (
    "SELECT complete_name, capacity, sequential, throttle, paused"
    " FROM queue_job_channel"
    " WHERE complete_name IS NOT NULL AND (COALESCE(capacity, 0) <> 0"
    " OR sequential OR COALESCE(throttle, 0) <> 0 OR paused)"
)

# A database copied from another one (Odoo's duplicate gives it a new
# database.uuid) starts with root paused: its jobs are the original's, and
# must not run twice. The uuid recorded when queue_job was installed is
# moved to the current one, so that this happens once per copy, whoever
# resumes it afterwards; RETURNING tells whether root was paused now.
PAUSE_ROOT_IF_COPIED = (
    "WITH current_uuid AS ("
    " SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'"
    "), moved AS ("
    " UPDATE ir_config_parameter param SET value = current_uuid.value"
    " FROM current_uuid"
    " WHERE param.key = %(param)s"
    " AND param.value IS DISTINCT FROM current_uuid.value"
    " RETURNING 1"
    ")"
    " UPDATE queue_job_channel SET paused = TRUE, pause_reason = %(reason)s"
    " WHERE parent_id IS NULL AND name = 'root' AND EXISTS (SELECT 1 FROM moved)"
    " RETURNING id"
)

# Heartbeat of a runner (see jobrunner.heartbeat): one row per runner in the
# table queue_job_runner_heartbeat of each database it serves or stands by
# for, on the database's clock. ``leader_since`` is kept while the runner
# leads, set when it takes the lead, cleared when it stands by. The rows of
# runners not seen for an hour are deleted by the same statement (a handful
# of rows: no index needed beyond the primary key).
WRITE_HEARTBEAT = (
    "WITH gone AS ("
    " DELETE FROM queue_job_runner_heartbeat"
    " WHERE last_seen < now() AT TIME ZONE 'utc' - interval '1 hour'"
    ")"
    " INSERT INTO queue_job_runner_heartbeat AS beat"
    " (host, pid, role, started_at, leader_since, last_seen, backend_pid,"
    " channels, dispatched, rescued, reset)"
    " VALUES (%(host)s, %(pid)s, %(role)s,"
    " to_timestamp(%(started_at)s) AT TIME ZONE 'utc',"
    " CASE WHEN %(role)s = 'leader' THEN now() AT TIME ZONE 'utc' END,"
    " now() AT TIME ZONE 'utc', pg_backend_pid(), %(channels)s::jsonb,"
    " %(dispatched)s, %(rescued)s, %(reset)s)"
    " ON CONFLICT (host, pid) DO UPDATE SET"
    " role = EXCLUDED.role,"
    " started_at = EXCLUDED.started_at,"
    " leader_since = CASE WHEN EXCLUDED.role <> 'leader' THEN NULL"
    " WHEN beat.role = 'leader' THEN beat.leader_since"
    " ELSE EXCLUDED.leader_since END,"
    " last_seen = EXCLUDED.last_seen,"
    " backend_pid = EXCLUDED.backend_pid,"
    " channels = EXCLUDED.channels,"
    " dispatched = EXCLUDED.dispatched,"
    " rescued = EXCLUDED.rescued,"
    " reset = EXCLUDED.reset"
)

# The leader folds the counters' deltas (appended by the queue_job_count
# triggers, see sql/queue_job_observability.sql) into one row per channel,
# in one transaction: deltas of transactions not committed yet are left for
# the next fold, and readers, who add both tables, never see a delta twice.
FOLD_COUNTERS = (
    "WITH moved AS ("
    " DELETE FROM queue_job_counter_delta RETURNING *"
    ")"
    " INSERT INTO queue_job_counter AS counter"
    " (channel, done, failed, retried, rescued, done_now)"
    " SELECT channel, sum(done), sum(failed), sum(retried), sum(rescued),"
    " sum(done_now) FROM moved GROUP BY channel"
    " ON CONFLICT (channel) DO UPDATE SET"
    " done = counter.done + EXCLUDED.done,"
    " failed = counter.failed + EXCLUDED.failed,"
    " retried = counter.retried + EXCLUDED.retried,"
    " rescued = counter.rescued + EXCLUDED.rescued,"
    " done_now = counter.done_now + EXCLUDED.done_now"
)
