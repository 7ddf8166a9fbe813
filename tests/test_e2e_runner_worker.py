"""The runner worker of a real prefork server, driven by Odoo's worker loop.

``WorkerJobRunner.process_work`` is one runner iteration and ``sleep`` its
wait, so Odoo's own loop applies its checks between two iterations: the
watchdog (which must spare an idle runner), the parent check (a runner
whose master died exits) and the graceful stop on SIGINT.
"""
import os
import signal
import time
from pathlib import Path

import pytest
from reliability_helpers import wait_until
from test_e2e_runner import runner_processes

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

# Shorter than the runner's idle wait (its maintenance interval): an idle
# runner, which pings the watchdog once per iteration, would be killed if
# its watchdog used Odoo's limit (Odoo's idle HTTP workers may be, which
# does not matter here).
SHORT_LIMIT_TIME_REAL = 4


def ready_line(db_name):
    return "queue job runner ready for db %s" % db_name


def process_gone(pid):
    """Whether ``pid`` exited (a zombie, not reaped yet, counts as gone)."""
    try:
        stat = Path("/proc/%s/stat" % pid).read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_idle_runner_worker_is_spared_by_the_watchdog(odoo_server_factory, db_name):
    server = odoo_server_factory(
        name="e2e-watchdog",
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:1"},
        extra_args=["--limit-time-real=%s" % SHORT_LIMIT_TIME_REAL],
    )
    server.wait_for_log(ready_line(db_name))
    (pid,) = runner_processes(server)
    # idle through several of its waits, each as long as Odoo's limit
    time.sleep(4 * SHORT_LIMIT_TIME_REAL)
    log = server.log_text()
    assert "WorkerJobRunner (%s) timeout after" % pid not in log
    assert runner_processes(server) == [pid]
    assert log.count(ready_line(db_name)) == 1


def test_runner_worker_exits_when_its_master_dies(odoo_server_factory, db_name):
    server = odoo_server_factory(
        name="e2e-orphan", env={"ODOO_QUEUE_JOB_CHANNELS": "root:1"}
    )
    server.wait_for_log(ready_line(db_name))
    (pid,) = runner_processes(server)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    wait_until(lambda: process_gone(pid), 30, "the orphaned runner still runs")
    log = server.log_text()
    assert "Worker (%s) Parent changed" % pid in log
    assert "Worker (%s) exiting" % pid in log


def test_runner_worker_stops_gracefully_on_sigint_and_is_replaced(
    odoo_server_factory, db_name
):
    server = odoo_server_factory(
        name="e2e-sigint", env={"ODOO_QUEUE_JOB_CHANNELS": "root:1"}
    )
    server.wait_for_log(ready_line(db_name))
    (pid,) = runner_processes(server)
    os.kill(pid, signal.SIGINT)
    wait_until(lambda: process_gone(pid), 30, "the runner did not stop")
    wait_until(
        lambda: server.log_text().count(ready_line(db_name)) == 2,
        60,
        "no new runner serves the database",
    )
    log = server.log_text()
    assert "odoo.addons.queue_job.jobrunner.runner: graceful stop requested" in log
    assert "odoo.addons.queue_job.jobrunner.runner: stopped" in log
    assert "Worker (%s) exiting" % pid in log
    (new_pid,) = runner_processes(server)
    assert new_pid != pid
