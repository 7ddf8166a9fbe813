# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The one switch of queue_job's fast paths.

The fast paths do what Odoo's own path would do, with less work: the job
stored in one SQL statement (``sql_store``), the runjob request served
without Odoo's full HTTP dispatch (``controllers.runjob_dispatch``), the
job's row read with its claim (``controllers.main``), the commit of the
started state sent with its UPDATE (``chained_commit``). Each is taken only
when no installed addon could tell it from Odoo's path, decided at each
call; this switch turns all of them off, for an operator who suspects one:

* environment variable ``ODOO_QUEUE_JOB_FAST_PATHS``, else
* ``fast_paths`` in the ``[queue_job]`` section of the configuration file,

``0``, ``false``, ``no`` or ``off`` to disable; on by default. Read at each
call, so that the environment of a running process is what applies.
"""
import os

from odoo.tools import config

ENVIRONMENT_VARIABLE = "ODOO_QUEUE_JOB_FAST_PATHS"
CONFIG_KEY = "fast_paths"
OFF_VALUES = frozenset({"0", "false", "no", "off"})


def enabled():
    """Whether the fast paths may be taken."""
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if value is None or not value.strip():
        value = config.misc.get("queue_job", {}).get(CONFIG_KEY)
    if value is None:
        return True
    return str(value).strip().lower() not in OFF_VALUES
