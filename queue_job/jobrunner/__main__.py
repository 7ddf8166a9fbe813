# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Standalone job runner: ``python -m odoo.addons.queue_job.jobrunner``.

Takes Odoo's command line options (``-c odoo.conf``, ``-d``, ``--db_host``,
``--http-port``, ...), so the configuration file's ``[queue_job]`` section
applies as it does in the server. Runs in the foreground until SIGINT or
SIGTERM. Exit status: 0 after a stop (or when the runner is disabled with
``root:0``), 2 when the configuration is invalid.
"""
import logging
import signal
import sys

import odoo

from . import DISABLED_MESSAGE, _is_runner_enabled
from .config import RunnerConfigError
from .runner import QueueJobRunner

_logger = logging.getLogger("odoo.addons.queue_job.jobrunner")


def main(args=None):
    odoo.tools.config.parse_config(sys.argv[1:] if args is None else args)
    if not _is_runner_enabled():
        _logger.info(DISABLED_MESSAGE, "process", "standalone")
        return 0
    try:
        runner = QueueJobRunner.from_environ_or_config()
    except RunnerConfigError as exc:
        _logger.error("jobrunner NOT started: %s", exc)
        return 2

    def stop(signum, frame):
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
