# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The fast paths of queue_job, and their one switch.

The fast paths do what Odoo's own path would do, with less work, each in a
module of this package: the job stored in one SQL statement
(``sql_store``), the runjob request served without Odoo's full HTTP
dispatch (``runjob_dispatch``), the job loaded from the row its claim read
(``claimed_load``), the commit of the started state sent with its UPDATE
(``chained_commit``). Storing and loading take them through
``queue_job.job_storage`` only; ``runjob_dispatch`` is installed by
``queue_job.odoo_hooks``. Each is taken only
when no installed addon could tell it from Odoo's path, decided at each
call; this switch turns all of them off, for an operator who suspects one:

* environment variable ``ODOO_QUEUE_JOB_FAST_PATHS``, else
* ``fast_paths`` in the ``[queue_job]`` section of the configuration file,

``0``, ``false``, ``no`` or ``off`` to disable; on by default. Read at each
call, so that the environment of a running process is what applies.

``ODOO_INTERNALS`` lists the internals of Odoo that the fast paths and
queue_job's hooks (``queue_job.odoo_hooks``) rely on; a test checks each of
them against the installed Odoo.
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


# The internals of Odoo 15 (not its public API) that the fast paths and the
# hooks of queue_job rely on, and who relies on each. An Odoo update that
# changes one of them fails tests/test_odoo_internals.py, which checks every
# entry against the installed Odoo.
ODOO_INTERNALS = {
    "Cursor._cnx": "chained_commit, job_api_lease: the psycopg2 connection"
    " (status, isolation level, autocommit)",
    "Cursor._obj": "job_api_lease: dropped by Cursor.close() before its rollback",
    "Cursor.precommit/postcommit/prerollback/postrollback": "job_api_lease:"
    " hooks of a transaction (add(), data)",
    "Environment.all.towrite": "sql_store.update: ORM writes pending for the row",
    "Environment.cache.set/get/invalidate": "claimed_load, sql_store:"
    " the record cache",
    "Registry.field_triggers/field_inverses": "sql_store: which fields depend"
    " on a column",
    "Registry.registry_sequence/cache_sequence/check_signaling/in_test_mode/"
    "cache_invalidated/ready": "runjob_dispatch: the registry check of a request"
    " served on the short way",
    "BaseModel._constraint_methods/_sequence/_check_company_auto/_parent_store": (
        "sql_store: what create()/write() would do beyond the columns"
    ),
    "Field.column_format": "sql_store: the placeholder of a column",
    "mail.message.subtype._get_auto_subscription_subtypes": "sql_store: the"
    " fields whose value subscribes followers (5th item of its result)",
    "mail.thread._get_tracked_fields": "sql_store: the tracked fields",
    "http.Root.__call__/session_store/setup_lang": "runjob_dispatch: Odoo's WSGI"
    " entry, wrapped once (odoo_hooks)",
    "http.HttpRequest.set_handler/dispatch/_handle_exception": "runjob_dispatch:"
    " the request served on the short way",
    "http.request._get_current_object": "controllers.main: the request behind"
    " the proxy",
    "ir.http dispatch hooks": "runjob_dispatch.DISPATCH_HOOKS: what Odoo's"
    " dispatch runs for a route of auth='none'",
    "service.server.PreforkServer.__init__/process_spawn/worker_pop/worker_spawn": (
        "jobrunner.patch_odoo_servers: the runner worker"
    ),
    "service.server.ThreadedServer.start/on_stop": "jobrunner.patch_odoo_servers:"
    " the runner thread",
}
