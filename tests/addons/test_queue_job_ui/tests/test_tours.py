"""Tours of the Job Queue screens in headless Chromium.

Odoo's ``HttpCase`` drives the browser; on top of Odoo's own browser helper,
these tests never skip (no browser or no devtools connection is a failure),
start Chromium without any network activity of its own, and save named
screenshots of the main screens, requested by the tours, in Odoo's
``--screenshots`` directory.
"""
import base64
import json
import logging
import re
import shutil
import unittest
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.addons.queue_job.delay import chain, group
from odoo.addons.queue_job.lease import RUNNER_LEADER_KEY, RUNNER_LEADER_NAMESPACE
from odoo.tests import common, tagged
from odoo.tools import config

_logger = logging.getLogger(__name__)

SCREENSHOT_REQUEST = re.compile(r"^queue_job_screenshot:(\w+)$")


class QueueJobChromeBrowser(common.ChromeBrowser):
    """Odoo's headless Chrome, never skipping, taking screenshots on request.

    A tour step logs ``queue_job_screenshot:<name>`` on the browser console;
    the page is captured to ``<screenshots>/<name>.png`` and the class
    ``o_qj_shot_<name>`` is added to the body, which the tour waits for.
    """

    # Chromium's own background traffic (component updates, sync, QUIC
    # probes) has no network to reach here and slows every start down.
    EXTRA_SWITCHES = (
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    )

    def __init__(self, *args, **kwargs):
        self._requested_shots = []
        self._capturing = False
        super().__init__(*args, **kwargs)

    @property
    def executable(self):
        for name in ("chromium", "google-chrome", "chromium-browser"):
            path = shutil.which(name)
            if path:
                return path
        raise AssertionError(
            "No Chromium/Chrome executable on the PATH: the browser tests need "
            "one (Debian packages chromium and chromium-driver)"
        )

    def _spawn_chrome(self, cmd):
        cmd = cmd[:-1] + list(self.EXTRA_SWITCHES) + cmd[-1:]
        try:
            return super()._spawn_chrome(cmd)
        except unittest.SkipTest as exc:
            raise AssertionError("Chromium did not start: %s" % exc) from exc

    def _open_websocket(self):
        try:
            return super()._open_websocket()
        except unittest.SkipTest as exc:
            raise AssertionError(str(exc)) from exc

    def _get_message(self, raise_log_error=True):
        res = super()._get_message(raise_log_error=raise_log_error)
        if res.get("method") == "Runtime.consoleAPICalled":
            args = res["params"].get("args") or [{}]
            match = SCREENSHOT_REQUEST.match(str(args[0].get("value", "")))
            if match:
                self._requested_shots.append(match.group(1))
                if not self._capturing:
                    self._capture_requested_shots()
        return res

    def _capture_requested_shots(self):
        self._capturing = True
        try:
            while self._requested_shots:
                name = self._requested_shots.pop(0)
                shot_id = self._websocket_send("Page.captureScreenshot")
                data = self._websocket_wait_id(shot_id, timeout=30)
                data = data.get("result", {}).get("data")
                if not data:
                    raise AssertionError("Screenshot %s could not be taken" % name)
                path = screenshots_dir() / ("%s.png" % name)
                path.write_bytes(base64.b64decode(data))
                self._logger.info("Screenshot %s saved in %s", name, path)
                self._websocket_send(
                    "Runtime.evaluate",
                    params={
                        "expression": "document.body.classList.add('o_qj_shot_%s')"
                        % name
                    },
                )
        finally:
            self._capturing = False


def screenshots_dir():
    path = Path(config["screenshots"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@tagged("post_install", "-at_install")
class TestQueueJobTours(common.HttpCase):
    # Chrome's --window-size takes "width,height".
    browser_size = "1440,900"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = common.new_test_user(
            cls.env,
            login="qj_ui_manager",
            name="Job Queue Manager",
            groups="base.group_user,queue_job.group_queue_job_manager",
        )

    @classmethod
    def start_browser(cls):
        if common.websocket is None:
            raise AssertionError(
                "The Python package websocket-client is needed to drive Chromium"
            )
        if cls.browser is None:
            cls.browser = QueueJobChromeBrowser(
                cls._logger, cls.browser_size, cls.__name__
            )
            cls.addClassCleanup(cls.terminate_browser)

    def _delay_test_job(self, name, **kwargs):
        return self.env["queue.job"].with_delay(description=name, **kwargs)._test_job()

    def _fail(self, job):
        job.retry = 2
        job.set_failed(
            exc_name="ZeroDivisionError",
            exc_message="division by zero",
            exc_info='Traceback (most recent call last):\n  File "job.py", '
            "line 1, in _test_job\nZeroDivisionError: division by zero\n",
        )
        job.store()
        return job

    def _form_url(self, record):
        return "/web#id=%s&model=queue.job&view_type=form" % record.id

    def test_requeue_a_failed_job(self):
        self._delay_test_job("QJ UI pending job")
        failed = self._fail(self._delay_test_job("QJ UI failed job", max_retries=3))
        self.start_tour(
            "/web", "queue_job_requeue_failed_job", login=self.manager.login
        )
        self.env["queue.job"].invalidate_cache()
        record = failed.db_record()
        self.assertEqual(record.state, "pending")
        # Requeuing resets the tries and the exception name (its traceback
        # stays, for reference).
        self.assertEqual(record.retry, 0)
        self.assertFalse(record.exc_name)

    def _delay_graph(self, prefix, size):
        """A chain head -> group of ``size - 2`` jobs -> tail, all delayed."""
        model = self.env["queue.job"]
        head = model.delayable(description="%s: extract" % prefix)._test_job()
        middle = [
            model.delayable(description="%s: transform %s" % (prefix, i))._test_job()
            for i in range(size - 2)
        ]
        tail = model.delayable(description="%s: load" % prefix)._test_job()
        chain(head, group(*middle), tail).delay()
        return head._generated_job, middle[0]._generated_job

    def test_dependency_graph_is_drawn_and_opens_jobs(self):
        head, transform = self._delay_graph("QJ UI graph", 4)
        head.set_done()
        head.store()
        # A failed job's form opens on its results: the graph is drawn when
        # its tab is shown.
        self._fail(transform)
        self.start_tour(
            self._form_url(transform.db_record()),
            "queue_job_dependency_graph",
            login=self.manager.login,
        )

    def test_large_dependency_graph_is_drawn(self):
        head, _transform = self._delay_graph("QJ UI large graph", 300)
        record = head.db_record()
        self.assertEqual(len(record.dependency_graph["nodes"]), 300)
        self.start_tour(
            self._form_url(record),
            "queue_job_large_graph",
            login=self.manager.login,
            timeout=120,
        )

    def test_wizards_from_the_jobs_list(self):
        to_requeue = self._fail(self._delay_test_job("QJ UI wizard failed"))
        to_done = self._delay_test_job("QJ UI wizard done")
        to_cancel = self._delay_test_job("QJ UI wizard cancel")
        action = self.env.ref("queue_job.action_queue_job")
        self.start_tour(
            "/web#action=%s" % action.id,
            "queue_job_wizards",
            login=self.manager.login,
        )
        self.env["queue.job"].invalidate_cache()
        states = {
            job.uuid: job.db_record().state for job in (to_requeue, to_done, to_cancel)
        }
        self.assertEqual(
            states,
            {
                to_requeue.uuid: "pending",
                to_done.uuid: "done",
                to_cancel.uuid: "cancelled",
            },
        )

    def test_channels_and_job_functions_screens(self):
        self.start_tour(
            "/web", "queue_job_channels_and_functions", login=self.manager.login
        )

    def test_pause_and_resume_a_channel(self):
        root = self.env.ref("queue_job.channel_root")
        channel = self.env["queue.job.channel"].create(
            {"name": "qj_ui_pause", "parent_id": root.id}
        )
        self._delay_test_job("QJ UI paused job", channel="root.qj_ui_pause")
        self.start_tour("/web", "queue_job_pause_channel", login=self.manager.login)
        channel.invalidate_cache()
        self.assertFalse(channel.paused)

    def _overview_jobs(self):
        """Jobs of the tour's channel: 2 pending, 1 failed, 2 done lately
        (one in the last 5 minutes), 1 done long ago."""
        channel = "root.qj_ui_overview"
        now = fields.Datetime.now()
        for name in ("pending", "pending 2"):
            self._delay_test_job("QJ UI overview %s" % name, channel=channel)
        self._fail(self._delay_test_job("QJ UI overview failed", channel=channel))
        for minutes in (1, 30, 600):
            job = self._delay_test_job("QJ UI overview done", channel=channel)
            job.set_done()
            job.date_done = now - timedelta(minutes=minutes)
            job.store()

    def _live_runner(self, capacity):
        """A heartbeat row of a leading runner, holding the leader lock on
        the test cursor: the server's requests share its transaction in
        tests, so the row stays as fresh as ``now()``."""
        cr = self.env.cr
        cr.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            (RUNNER_LEADER_NAMESPACE, RUNNER_LEADER_KEY),
        )
        self.assertTrue(cr.fetchone()[0], "a job runner leads the test database")
        cr.execute(
            "INSERT INTO queue_job_runner_heartbeat"
            " (host, pid, role, started_at, leader_since, last_seen, backend_pid,"
            " channels, dispatched)"
            " VALUES ('node-1', 4242, 'leader', now() AT TIME ZONE 'utc',"
            " now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', pg_backend_pid(),"
            " %s, 12)",
            (json.dumps({"root.qj_ui_overview": {"capacity": capacity}}),),
        )

    def test_overview(self):
        self._overview_jobs()
        self._live_runner(capacity=3)
        self.start_tour("/web", "queue_job_overview", login=self.manager.login)

    def test_overview_runner_down(self):
        self.env.cr.execute("DELETE FROM queue_job_runner_heartbeat")
        self.start_tour(
            "/web", "queue_job_overview_runner_down", login=self.manager.login
        )
