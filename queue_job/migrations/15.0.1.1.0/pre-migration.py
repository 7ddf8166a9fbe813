# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Add and fill ``exec_time`` before the ORM adds it empty."""
import logging

from odoo.tools.sql import column_exists, table_exists

_logger = logging.getLogger(__name__)


def _notify_trigger_exists(cr):
    cr.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'queue_job_notify'"
        " AND tgrelid = 'queue_job'::regclass"
    )
    return bool(cr.fetchone())


def migrate(cr, version):
    if not table_exists(cr, "queue_job") or column_exists(cr, "queue_job", "exec_time"):
        return
    _logger.info("Computing exec_time of the existing jobs")
    # the whole table is updated: do not wake the job runner for every row
    has_trigger = _notify_trigger_exists(cr)
    if has_trigger:
        cr.execute("ALTER TABLE queue_job DISABLE TRIGGER queue_job_notify")
    cr.execute("ALTER TABLE queue_job ADD COLUMN exec_time double precision DEFAULT 0")
    cr.execute(
        "UPDATE queue_job"
        " SET exec_time = EXTRACT(EPOCH FROM (date_done - date_started))"
        " WHERE date_done IS NOT NULL AND date_started IS NOT NULL"
    )
    if has_trigger:
        cr.execute("ALTER TABLE queue_job ENABLE TRIGGER queue_job_notify")
