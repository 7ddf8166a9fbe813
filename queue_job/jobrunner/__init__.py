# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""How the job runner starts with Odoo: a worker, a thread, or standalone.

* Prefork (``--workers`` > 0): one dedicated ``WorkerJobRunner`` process,
  spawned and re-spawned by Odoo's master process like its HTTP workers.
* Threaded (``--workers 0``): a ``QueueJobRunnerThread`` in the server.
* Standalone: ``python -m odoo.addons.queue_job.jobrunner -c odoo.conf``
  (see ``__main__``).

The first two need ``queue_job`` among the server-wide modules
(``--load=web,queue_job``), so that the addon is loaded before Odoo creates
its server object: Odoo 15 has no hook for extra processes, so
``patch_odoo_servers()`` wraps a few methods of its server classes, called
by the addon's ``post_load`` (``queue_job.odoo_hooks``). Nothing happens at
import time.
"""
import logging
import resource
import threading
import time

from odoo.service import server
from odoo.tools import config as odoo_config

from .config import RunnerConfigError, is_disabled_channels
from .runner import (
    SELECT_TIMEOUT,
    QueueJobRunner,
    _channels,
    load_runner_config,
    queue_job_section,
)

_logger = logging.getLogger(__name__)

START_DELAY = 5  # seconds the runner thread waits for the server to be up
# Seconds between two checks of the runner worker's limits (see
# WorkerJobRunner.check_limits).
LIMITS_CHECK_INTERVAL = 1

# The [queue_job] section as it was when this package was imported, kept for
# compatibility; the runner reads the section again when it is built, so
# that a configuration file given on the command line is honoured.
queue_job_config = queue_job_section()

# The runner thread of a threaded server.
runner_thread = None

DISABLED_MESSAGE = (
    "jobrunner %s (in %s) NOT started, because the root channel's capacity "
    "is set to 0"
)


def _is_runner_enabled():
    return not is_disabled_channels(_channels())


class QueueJobRunnerThread(threading.Thread):
    """The job runner in a thread of a threaded Odoo server."""

    def __init__(self):
        super().__init__(name="queue_job.jobrunner", daemon=True)
        self.runner = QueueJobRunner.from_environ_or_config()
        self._stopped = threading.Event()

    def run(self):
        # Let the server start listening before jobs are sent to it.
        if self._stopped.wait(START_DELAY):
            return
        self.runner.run()

    def stop(self):
        self._stopped.set()
        self.runner.stop()


class WorkerJobRunner(server.Worker):
    """The job runner as a process of a prefork Odoo server.

    Its configuration is loaded (and validated) when the master process
    creates it; the runner itself is built in the worker process, after the
    fork. Odoo's worker loop drives it, one iteration per turn:
    ``sleep()`` is the runner's wait for notifications and
    ``process_work()`` its work, so that the loop's own checks (parent
    process, memory limits, watchdog) apply between two iterations.
    """

    def __init__(self, multi):
        super().__init__(multi)
        # The worker pings the master once per iteration, and an idle
        # runner waits up to SELECT_TIMEOUT between two: on top of that,
        # an iteration has what Odoo allows a unit of work (limit_time_real).
        self.watchdog_timeout = SELECT_TIMEOUT + multi.timeout
        self.runner_config = load_runner_config()
        self.runner = None
        self._recover = False
        self._next_limits_check = 0.0

    def start(self):
        result = super().start()
        self.runner = QueueJobRunner(config=self.runner_config)
        self.runner.start()
        return result

    def stop(self):
        if self.runner:
            self.runner.close()
        return super().stop()

    def sleep(self):
        self.runner.wait()

    def check_limits(self):
        """Odoo's checks (parent, memory), at most every LIMITS_CHECK_INTERVAL.

        Odoo checks at every turn of its loop, a request for an HTTP worker;
        the runner turns at every notification, several times per job, and
        the checks cost a good part of what the runner spends on a job.
        """
        now = time.monotonic()
        if now < self._next_limits_check:
            return None
        self._next_limits_check = now + LIMITS_CHECK_INTERVAL
        result = super().check_limits()
        # limit_time_cpu bounds the CPU time of a request; the runner is no
        # request and accumulates CPU time for as long as it lives, so it is
        # exempt (the original was restarted, forgetting every job, each
        # time it had used limit_time_cpu seconds of CPU).
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        return result

    def signal_handler(self, sig, frame):
        result = super().signal_handler(sig, frame)
        _logger.debug("WorkerJobRunner (%s) received signal %s", self.pid, sig)
        if self.runner:
            self.runner.stop()
        return result

    def signal_time_expired_handler(self, n, stack):
        _logger.info(
            "Worker (%d) CPU time limit (%s) reached. Stop gracefully and "
            "re-initialize the runner.",
            self.pid,
            odoo_config["limit_time_cpu"],
        )
        self._recover = True
        self.runner.wakeup()

    def process_work(self):
        if self._recover:
            self._recover = False
            _logger.info("WorkerJobRunner (%s) runner is reinitialized", self.pid)
            self.runner.close()
            self.runner = QueueJobRunner(config=self.runner_config)
            self.runner.start()
            self.runner.pause(START_DELAY)
            return
        self.runner.work_once()


def _start_runner_thread(server_type):
    """Start the runner thread; return whether it was started."""
    global runner_thread
    if odoo_config["stop_after_init"]:
        return False
    if not _is_runner_enabled():
        _logger.info(DISABLED_MESSAGE, "thread", server_type)
        return False
    _logger.info("starting jobrunner thread (in %s)", server_type)
    try:
        runner_thread = QueueJobRunnerThread()
    except RunnerConfigError as exc:
        _logger.error("jobrunner thread (in %s) NOT started: %s", server_type, exc)
        return False
    runner_thread.start()
    return True


def _stop_runner_thread():
    """Stop the runner thread and wait for it (the server's stop hook)."""
    global runner_thread
    thread, runner_thread = runner_thread, None
    if thread is not None:
        thread.stop()
        thread.join(timeout=30)


def _spawn_runner_worker(prefork_server):
    """Spawn the runner worker, unless it is disabled or misconfigured.

    Either case is logged once and then left alone: Odoo goes on serving.
    """
    if not _is_runner_enabled():
        _logger.info(DISABLED_MESSAGE, "worker", "prefork server")
        prefork_server.jobrunner_refused = True
        return
    try:
        load_runner_config()
    except RunnerConfigError as exc:
        _logger.error("jobrunner worker (in prefork server) NOT started: %s", exc)
        prefork_server.jobrunner_refused = True
        return
    prefork_server.worker_spawn(WorkerJobRunner, prefork_server.jobrunner)


def patch_odoo_servers():
    """Hook the job runner into Odoo's server classes (idempotent).

    Odoo 15 has no public hook to start an extra process or thread with the
    server, hence these wrappers, all in this one place:

    * ``PreforkServer.__init__``: registry ``jobrunner`` of the runner worker
      (``{pid: worker}``);
    * ``PreforkServer.process_spawn`` (called by the master every beat):
      spawns the runner worker when there is none, so that exactly one runs
      and a dead one is replaced;
    * ``PreforkServer.worker_pop``: unregisters a dead runner worker;
    * ``ThreadedServer.start``: starts the runner thread, and registers its
      stop (and join) with the server's public stop hook (``on_stop``).

    Called once, by the addon's ``post_load`` (``queue_job.odoo_hooks``).
    """
    prefork = server.PreforkServer
    threaded = server.ThreadedServer
    if getattr(prefork, "_queue_job_patched", False):
        return
    prefork_init = prefork.__init__
    prefork_process_spawn = prefork.process_spawn
    prefork_worker_pop = prefork.worker_pop
    threaded_start = threaded.start

    def __init__(self, app):
        prefork_init(self, app)
        self.jobrunner = {}
        self.jobrunner_refused = False

    def process_spawn(self):
        prefork_process_spawn(self)
        if hasattr(self, "jobrunner") and not self.jobrunner:
            if not self.jobrunner_refused:
                _spawn_runner_worker(self)

    def worker_pop(self, pid):
        result = prefork_worker_pop(self, pid)
        if hasattr(self, "jobrunner"):
            self.jobrunner.pop(pid, None)
        return result

    def start(self, *args, **kwargs):
        result = threaded_start(self, *args, **kwargs)
        if _start_runner_thread("threaded server"):
            self.on_stop(_stop_runner_thread)
        return result

    prefork.__init__ = __init__
    prefork.process_spawn = process_spawn
    prefork.worker_pop = worker_pop
    threaded.start = start
    prefork._queue_job_patched = True
