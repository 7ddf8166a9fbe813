# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Every SQL statement of the job runner, named, with the indexes it uses.

The runner's connections are in autocommit mode: each statement is its own
transaction. Timestamps in ``queue_job`` are naive UTC; the scheduler works
in epoch seconds, so dates are read with ``EXTRACT(EPOCH FROM ...)::float8``,
the same expression as the NOTIFY payload of the ``queue_job_notify``
trigger, so that a job read here and the same job notified compare equal.
"""

# Channel of the NOTIFY sent by the queue_job_notify trigger.
NOTIFY_CHANNEL = "queue_job"

LISTEN = "LISTEN queue_job"

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

# Dispatch: a job is marked enqueued only if it is still pending, so that a
# job changed meanwhile (started by another runner, cancelled, done by hand)
# is never dispatched; RETURNING says which ones may be dispatched. Uses the
# index on queue_job.uuid.
MARK_ENQUEUED = (
    "UPDATE queue_job"
    " SET state = 'enqueued',"
    " date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')"
    " WHERE uuid = ANY(%s) AND state = 'pending'"
    " RETURNING uuid"
)

# A failed dispatch puts the job back to pending only if it is still
# enqueued: if a worker picked it up (started, done, failed) the request did
# reach Odoo and the job must not run again. Uses the index on queue_job.uuid.
RESET_TO_PENDING = (
    "UPDATE queue_job"
    " SET state = 'pending', date_enqueued = NULL, date_started = NULL"
    " WHERE uuid = ANY(%s) AND state = 'enqueued'"
    " RETURNING uuid"
)
