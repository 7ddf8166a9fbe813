# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""What the job runner reads from Odoo: its settings and connection parameters.

The one part of the runner, with ``runner`` itself, that imports Odoo; the
other modules receive what they need from here.
"""
import os
from datetime import datetime

import odoo

from .config import RunnerConfig
from .database import QueueJobDatabase

APPLICATION_NAME = "queue_job_runner"  # visible in pg_stat_activity
# libpq TCP keepalives: a LISTEN connection that is only waited on would
# otherwise never notice a vanished server.
CONNECTION_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 60,
    "keepalives_interval": 10,
    "keepalives_count": 6,
}


def queue_job_section():
    """The ``[queue_job]`` settings, read now (not at import time).

    From the ``server_environment`` addon when it is importable (its
    ``queue_job`` section, or nothing), else from Odoo's configuration file.
    """
    try:
        from odoo.addons.server_environment import serv_config
    except ImportError:
        return dict(odoo.tools.config.misc.get("queue_job", {}))
    if serv_config.has_section("queue_job"):
        return dict(serv_config.items("queue_job"))
    return {}


def load_runner_config(validate=True):
    """The runner configuration from the environment and Odoo's options."""
    options = {
        "http_interface": odoo.tools.config["http_interface"],
        "http_port": odoo.tools.config["http_port"],
    }
    return RunnerConfig.from_sources(
        os.environ, queue_job_section(), options, validate=validate
    )


def _channels():
    """The channel configuration string in effect."""
    return (
        os.environ.get("ODOO_QUEUE_JOB_CHANNELS")
        or queue_job_section().get("channels")
        or RunnerConfig.channels
    )


def _datetime_to_epoch(dt):
    """Seconds since 1970-01-01 of a naive UTC datetime.

    The same value as PostgreSQL's ``EXTRACT(EPOCH FROM ...)`` on the
    ``timestamp without time zone`` columns of queue_job.
    """
    return (dt - datetime(1970, 1, 1)).total_seconds()


def _odoo_now():
    return _datetime_to_epoch(datetime.utcnow())


def _connection_info_for(db_name, runner_config=None):
    """psycopg2 connection parameters of the runner for ``db_name``.

    Odoo's (``db_host``, ``db_port``, ...), overridden by the runner's own
    ``jobrunner_db_*`` settings when set.
    """
    _db, connection_info = odoo.sql_db.connection_info_for(db_name)
    connection_info = dict(connection_info)
    runner_config = runner_config or load_runner_config(validate=False)
    for param in ("host", "port", "user", "password"):
        value = getattr(runner_config, "db_" + param)
        if value:
            connection_info[param] = value
    return connection_info


def database_params(db_name, runner_config=None):
    """psycopg2 parameters of the runner's connections to ``db_name``."""
    params = dict(CONNECTION_KEEPALIVES, application_name=APPLICATION_NAME)
    params.update(_connection_info_for(db_name, runner_config))
    return params


def list_db_names():
    """Odoo's ``db_name`` option split, else every database of the server."""
    if odoo.tools.config["db_name"]:
        names = odoo.tools.config["db_name"].split(",")
        return [name.strip() for name in names if name.strip()]
    return odoo.service.db.list_dbs(True)


def db_filter():
    return odoo.tools.config["dbfilter"]


class Database(QueueJobDatabase):
    """The runner's connection to one database (see ``QueueJobDatabase``)."""

    def __init__(self, db_name, runner_config=None):
        super().__init__(db_name, database_params(db_name, runner_config))
