"""The overview's and the metrics' figures against jobs in known states.

States are changed by SQL, as the runner, the workers and the rescue change
them: the ``queue_job_count`` trigger keeps the counters."""
from datetime import timedelta

from odoo import fields
from odoo.addons.queue_job import job_figures, metrics_text
from odoo.addons.queue_job.job import STATES, Job
from odoo.addons.queue_job.lease import RUNNER_LEADER_KEY, RUNNER_LEADER_NAMESPACE
from odoo.exceptions import AccessError
from odoo.tests.common import TransactionCase, new_test_user
from prometheus_client.parser import text_string_to_metric_families

CHANNEL = "root.qjobs_figures"
STATE_NAMES = [state for state, _label in STATES]


class FiguresCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.method = cls.env["test.queue.job"].testing_method

    def _job(self, state="pending", **values):
        job = Job(self.method, channel=CHANNEL)
        job.store()
        values["state"] = state
        self._set(job.uuid, **values)
        return job.uuid

    def _set(self, uuid, **values):
        assignments = ", ".join("%s = %%(%s)s" % (key, key) for key in values)
        self.env.cr.execute(
            "UPDATE queue_job SET %s WHERE uuid = %%(uuid)s" % assignments,
            dict(values, uuid=uuid),
        )

    def _figures(self):
        return job_figures.collect(self.env.cr)["channels"].get(CHANNEL)

    def _ago(self, **delta):
        return fields.Datetime.now() - timedelta(**delta)


class TestFigures(FiguresCase):
    def test_a_channel_in_known_states(self):
        self.assertIsNone(self._figures())
        for _i in range(3):
            self._job("pending")
        self._job("wait_dependencies")
        self._job("enqueued")
        self._job("started")
        self._job("cancelled")
        failed = self._job("started", date_started=self._ago(minutes=1))
        self._set(failed, state="failed")
        for minutes in (1, 10, 90):
            self._set(
                self._job("started"), state="done", date_done=self._ago(minutes=minutes)
            )
        figures = self._figures()
        self.assertEqual(
            figures["states"],
            {
                "wait_dependencies": 1,
                "pending": 3,
                "enqueued": 1,
                "started": 1,
                "done": 3,
                "cancelled": 1,
                "failed": 1,
            },
        )
        self.assertEqual(figures["running"], 2)
        self.assertEqual(figures["recent"]["done"], {5: 1, 60: 2})
        self.assertEqual(figures["recent"]["failed"], {5: 1, 60: 1})
        self.assertEqual(
            figures["totals"], {"done": 3, "failed": 1, "retried": 0, "rescued": 0}
        )

    def test_counters_of_retries_and_rescues(self):
        retried = self._job("started")
        self._set(retried, state="pending", retry=1)
        rescued = self._job("started")
        self._set(rescued, state="pending", result="Requeued: the worker died.")
        died = self._job("started")
        self._set(
            died,
            state="failed",
            exc_name="odoo.addons.queue_job.exception.WorkerDiedError",
        )
        self.assertEqual(
            self._figures()["totals"],
            {"done": 0, "failed": 1, "retried": 1, "rescued": 2},
        )

    def test_done_counter_survives_the_purge_of_done_jobs(self):
        uuids = [self._job("started") for _i in range(4)]
        for uuid in uuids:
            self._set(uuid, state="done", date_done=self._ago(days=40))
        self.env.cr.execute("DELETE FROM queue_job WHERE uuid = ANY(%s)", (uuids[:3],))
        figures = self._figures()
        self.assertEqual(figures["states"]["done"], 1)
        self.assertEqual(figures["totals"]["done"], 4)
        # a done job requeued leaves the done jobs, not the done total
        self._set(uuids[3], state="pending")
        figures = self._figures()
        self.assertEqual(figures["states"]["done"], 0)
        self.assertEqual(figures["totals"]["done"], 4)

    def test_oldest_pending_age_ignores_jobs_not_due_yet(self):
        self._job("pending", date_created=self._ago(minutes=10))
        self._job(
            "pending",
            date_created=self._ago(hours=5),
            eta=fields.Datetime.now() + timedelta(hours=1),
        )
        age = self._figures()["oldest_pending_age"]
        self.assertTrue(590 <= age <= 700, age)

    def test_runner_rows(self):
        self.env.cr.execute("DELETE FROM queue_job_runner_heartbeat")
        self.assertIsNone(job_figures.collect(self.env.cr)["leader"])
        self.env.cr.execute(
            "INSERT INTO queue_job_runner_heartbeat"
            " (host, pid, role, started_at, leader_since, last_seen, backend_pid,"
            " channels)"
            " VALUES ('old', 1, 'leader', now(), now(),"
            " now() AT TIME ZONE 'utc' - interval '31 seconds', pg_backend_pid(),"
            ' \'{"%s": {"capacity": 2, "paused": true}}\')' % CHANNEL
        )
        self.env.cr.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            (RUNNER_LEADER_NAMESPACE, RUNNER_LEADER_KEY),
        )
        self.assertTrue(self.env.cr.fetchone()[0], "a runner leads the test db")
        figures = job_figures.collect(self.env.cr)
        self.assertIsNone(figures["leader"], "not seen for 31 s")
        self.assertNotIn(CHANNEL, figures["channels"])
        self.env.cr.execute(
            "UPDATE queue_job_runner_heartbeat SET last_seen = now() AT TIME ZONE 'utc'"
        )
        figures = job_figures.collect(self.env.cr)
        self.assertEqual(figures["leader"]["host"], "old")
        self.assertEqual(figures["channels"][CHANNEL]["capacity"], 2)
        self.assertTrue(figures["channels"][CHANNEL]["paused"])
        # seen lately, but its connection lost the leader lock: down
        self.env.cr.execute("UPDATE queue_job_runner_heartbeat SET backend_pid = 0")
        self.assertIsNone(job_figures.collect(self.env.cr)["leader"])


class TestMetricsText(FiguresCase):
    def _families(self):
        text = metrics_text.render('db"1', job_figures.collect(self.env.cr))
        return {family.name: family for family in text_string_to_metric_families(text)}

    def _value(self, family, **labels):
        values = [
            sample.value
            for sample in family.samples
            if all(sample.labels.get(key) == value for key, value in labels.items())
        ]
        self.assertEqual(len(values), 1, (family.name, labels))
        return values[0]

    def test_every_state_of_every_channel_is_present(self):
        self._job("pending")
        families = self._families()
        jobs = families["queue_job_jobs"]
        self.assertEqual(jobs.type, "gauge")
        for state in STATE_NAMES:
            expected = 1 if state == "pending" else 0
            self.assertEqual(
                self._value(jobs, channel=CHANNEL, state=state, db='db"1'), expected
            )
        self.assertEqual(families["queue_job_jobs_done"].type, "counter")
        self.assertEqual(
            self._value(families["queue_job_jobs_done"], channel=CHANNEL), 0
        )
        self.assertTrue(
            self._value(families["queue_job_channel_capacity"], channel=CHANNEL)
            == float("inf")
        )
        for name in (
            "queue_job_channel_running",
            "queue_job_oldest_pending_age_seconds",
            "queue_job_jobs_failed",
            "queue_job_jobs_retried",
            "queue_job_jobs_rescued",
            "queue_job_runner_up",
        ):
            self.assertIn(name, families)


class TestOverviewModel(FiguresCase):
    def test_figures_open_their_jobs(self):
        overview = self.env["queue.job.overview"]
        done = self._job("started")
        self._set(done, state="done", date_done=self._ago(minutes=2))
        pending = self._job("pending")
        for figure, uuids in (("done_5", [done]), ("pending", [pending])):
            action = overview.jobs_action(CHANNEL, figure)
            self.assertEqual(action["res_model"], "queue.job")
            jobs = self.env["queue.job"].search(action["domain"])
            self.assertEqual(jobs.mapped("uuid"), uuids, figure)
        data = overview.overview_data()
        channel = next(c for c in data["channels"] if c["name"] == CHANNEL)
        self.assertEqual(channel["states"]["pending"], 1)

    def test_only_managers_see_it(self):
        user = new_test_user(self.env, login="qjobs_fig_user", groups="base.group_user")
        overview = self.env["queue.job.overview"].with_user(user)
        with self.assertRaises(AccessError):
            overview.overview_data()
        with self.assertRaises(AccessError):
            overview.jobs_action(CHANNEL, "pending")
