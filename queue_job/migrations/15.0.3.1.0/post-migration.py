# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Replace the NOTIFY trigger of a database installed with an older version.

OCA's trigger notifies the bare uuid on every write; this version's
notifies a JSON payload, on the changes the job runner acts on only (not
the two steps of a dispatch since 15.0.3.1.0), which the job runner
expects. The install hook does not run on upgrades, hence this migration.
"""
import logging

from odoo.addons.queue_job.post_init_hook import install_notify_trigger

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    _logger.info("Replacing the queue_job_notify trigger")
    install_notify_trigger(cr)
