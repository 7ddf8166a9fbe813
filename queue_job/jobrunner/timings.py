# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""How often the job runner does its periodic work, and how long it waits.

In one module so that every part of the runner reads the same values (and
tests shorten them in one place); ``runner`` re-exports them.
"""

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

# The logger of every part of the runner: operators follow one name.
RUNNER_LOGGER = "odoo.addons.queue_job.jobrunner.runner"
