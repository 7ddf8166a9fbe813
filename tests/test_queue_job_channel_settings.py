"""Channel records' scheduling settings: validation, pause and resume
actions, access rights, what the screens say (effective settings, why a
job waits), and the NOTIFY the runner applies them from."""
import json
import select
import time
from contextlib import closing

import psycopg2
from odoo import exceptions
from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.jobrunner.database import parse_channel_notification
from odoo.tests.common import TransactionCase, new_test_user


class TestChannelSettings(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Channel = cls.env["queue.job.channel"]
        cls.root = cls.env.ref("queue_job.channel_root")
        cls.channel = cls.Channel.create({"name": "ctl", "parent_id": cls.root.id})

    def test_defaults_set_nothing(self):
        self.assertEqual(self.channel.capacity, 0)
        self.assertFalse(self.channel.sequential)
        self.assertEqual(self.channel.throttle, 0)
        self.assertFalse(self.channel.paused)

    def test_bad_values_are_refused(self):
        cases = [
            ({"capacity": -1}, "capacity cannot be negative"),
            ({"sequential": True, "capacity": 2}, "sequential channel must have"),
            ({"sequential": True}, "sequential channel must have"),
            ({"throttle": -0.5}, "throttle must be a positive number"),
            ({"throttle": float("nan")}, "throttle must be a positive number"),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(
                exceptions.ValidationError, message
            ):
                with self.env.cr.savepoint():
                    self.channel.write(values)
        self.channel.write({"sequential": True, "capacity": 1, "throttle": 2.5})

    def test_pause_and_resume(self):
        child = self.Channel.create({"name": "sub", "parent_id": self.channel.id})
        self.channel.action_pause()
        self.assertTrue(self.channel.paused)
        self.assertEqual(self.channel.effective_state, "Paused")
        self.assertEqual(child.effective_state, "Paused by root.ctl")
        self.channel.pause_reason = "copied"
        self.channel.action_resume()
        self.assertFalse(self.channel.paused)
        self.assertFalse(self.channel.pause_reason)
        child.invalidate_cache()  # as a new request reads it
        self.assertEqual(child.effective_state, "Running")
        (self.channel | child).action_pause()
        self.assertTrue(child.paused)

    def test_effective_settings_say_where_they_come_from(self):
        self.assertIn("configuration", self.channel.effective_capacity)
        self.channel.capacity = 3
        self.assertEqual(self.channel.effective_capacity, "3 (this record)")
        self.assertIn("no (configuration", self.channel.effective_sequential)
        self.channel.throttle = 2
        self.assertEqual(self.channel.effective_throttle, "2 s (this record)")

    def test_pending_jobs_say_why_they_wait(self):
        job = Job(self.env["test.queue.job"].testing_method, channel="root.ctl.sub")
        job.store()
        record = self.env["queue.job"].search([("uuid", "=", job.uuid)])
        self.assertFalse(record.waiting_reason)
        self.channel.action_pause()
        record.invalidate_cache()
        self.assertEqual(record.waiting_reason, "Channel root.ctl is paused")

    def test_managers_only(self):
        user = new_test_user(self.env, login="qj_no_manager", groups="base.group_user")
        with self.assertRaises(exceptions.AccessError):
            self.channel.with_user(user).action_pause()
        manager = new_test_user(
            self.env,
            login="qj_manager",
            groups="base.group_user,queue_job.group_queue_job_manager",
        )
        self.channel.with_user(manager).action_pause()
        self.assertTrue(self.channel.paused)


def test_settings_changes_are_notified(db_name, committed_env):
    """The trigger notifies what the runner needs, at commit, and only for
    changes of the settings or of the name."""
    with closing(psycopg2.connect(dbname=db_name)) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("LISTEN queue_job")
        with committed_env() as env:
            root = env.ref("queue_job.channel_root")
            channel = env["queue.job.channel"].create(
                {"name": "notified", "parent_id": root.id}
            )
            channel_id = channel.id
        try:
            with committed_env() as env:
                channel = env["queue.job.channel"].browse(channel_id)
                # flushed one by one: each write is its own UPDATE
                channel.write({"capacity": 4, "paused": True})
                channel.flush()
                channel.write({"removal_interval": 3})
                channel.flush()
                channel.write({"name": "renamed"})
            deadline = time.monotonic() + 10
            while len(conn.notifies) < 3 and time.monotonic() < deadline:
                select.select([conn], [], [], 0.5)
                conn.poll()
            payloads = [n.payload for n in conn.notifies]
        finally:
            with committed_env() as env:
                env["queue.job.channel"].browse(channel_id).unlink()
    changes = [parse_channel_notification(p) for p in payloads]
    changes = [c for c in changes if c is not None]
    assert changes == [
        ("root.notified", None, {}),
        ("root.notified", "root.notified", {"capacity": 4, "paused": True}),
        ("root.renamed", "root.notified", {"capacity": 4, "paused": True}),
    ], payloads
    assert json.loads(payloads[-1])["channel_settings"]["deleted"] is False


class TestPausedChannelsBanner(TransactionCase):
    def test_banner_lists_paused_channels_and_their_waiting_jobs(self):
        Channel = self.env["queue.job.channel"]
        root = self.env.ref("queue_job.channel_root")
        self.assertEqual(Channel._paused_banner_html(), "")
        channel = Channel.create({"name": "bannered", "parent_id": root.id})
        for name in ("root.bannered", "root.bannered.sub", "root.other"):
            Job(self.env["test.queue.job"].testing_method, channel=name).store()
        channel.write({"paused": True})
        html = Channel._paused_banner_html()
        self.assertIn("Channel root.bannered is paused: 2 pending jobs wait", html)
        self.assertNotIn("root.other", html)
        channel.write({"pause_reason": "<copied>"})
        self.assertIn("&lt;copied&gt;", Channel._paused_banner_html())
        view = self.env.ref("queue_job.view_queue_job_tree")
        self.assertIn('banner_route="/queue_job/paused_channels_banner"', view.arch)
