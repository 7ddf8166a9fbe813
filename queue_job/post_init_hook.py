# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import logging
from pathlib import Path

_logger = logging.getLogger(__name__)

NOTIFY_TRIGGER_SQL = Path(__file__).resolve().parent / "sql" / "queue_job_notify.sql"


def install_notify_trigger(cr):
    """(Re)create the ``queue_job_notify`` function and trigger.

    Shared by the install hook and the migrations so that there is one
    definition of the trigger, in ``sql/queue_job_notify.sql``.
    """
    cr.execute(NOTIFY_TRIGGER_SQL.read_text())


def post_init_hook(cr, registry):
    _logger.info("Create queue_job_notify trigger")
    install_notify_trigger(cr)
