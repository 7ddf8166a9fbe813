# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Values of ``queue_job.state`` as the runner reads them.

As stored in the database and carried by the NOTIFY payloads, here so that
the scheduler needs no Odoo import.
"""
WAIT_DEPENDENCIES = "wait_dependencies"
PENDING = "pending"
ENQUEUED = "enqueued"
STARTED = "started"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"

NOT_DONE = (WAIT_DEPENDENCIES, PENDING, ENQUEUED, STARTED, FAILED)
