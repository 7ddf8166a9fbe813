"""Model ``queue.job``: actions, failure messages, related actions, maintenance,
cascade cancel and bad input."""
import logging
from datetime import datetime, timedelta
from unittest import mock

from odoo import SUPERUSER_ID, exceptions
from odoo.addons.queue_job.job import (
    CANCELLED,
    DONE,
    ENQUEUED,
    FAILED,
    PENDING,
    STARTED,
    WAIT_DEPENDENCIES,
    Job,
)
from odoo.tests.common import TransactionCase


class JobCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.queue_job = cls.env["queue.job"]
        cls.method = cls.env["test.queue.job"].testing_method
        cls.manager_group = cls.env.ref("queue_job.group_queue_job_manager")

    def _create_job(self, *args, **kwargs):
        job = Job(self.method, args=args, **kwargs)
        job.store()
        return job, job.db_record()

    def _write(self, record, vals):
        record.with_context(_job_edit_sentinel=self.queue_job.EDIT_SENTINEL).write(vals)

    def _create_user(self, login, groups=(), company=None, active=True):
        company = company or self.env.company
        return (
            self.env["res.users"]
            .with_context(no_reset_password=True, mail_create_nolog=True)
            .create(
                {
                    "name": login.title(),
                    "login": login,
                    "email": "%s@example.com" % login,
                    "company_id": company.id,
                    "company_ids": [(6, 0, company.ids)],
                    "groups_id": [(6, 0, [self.env.ref("base.group_user").id])]
                    + [(4, group.id) for group in groups],
                    "active": active,
                }
            )
        )


class TestJobActions(JobCase):
    def test_change_job_state(self):
        job, record = self._create_job()
        record._change_job_state(DONE, result="test")
        self.assertEqual(record.state, DONE)
        self.assertEqual(record.result, "test")
        self.assertTrue(record.date_done)
        record._change_job_state(PENDING, result="test2")
        self.assertEqual(record.state, PENDING)
        self.assertEqual(record.result, "test2")
        self.assertFalse(record.date_done)
        with self.assertRaises(ValueError):
            record._change_job_state(STARTED)
        self.assertEqual(record.state, PENDING)

    def test_button_done(self):
        __, record = self._create_job()
        self.assertIs(record.button_done(), True)
        self.assertEqual(record.state, DONE)
        self.assertEqual(
            record.result, "Manually set to done by %s" % self.env.user.name
        )

    def test_button_done_releases_dependents(self):
        parent = Job(self.method)
        child = Job(self.method)
        child.add_depends({parent})
        parent.graph_uuid = child.graph_uuid = "graph-1"
        parent.store()
        child.store()
        self.assertEqual(child.db_record().state, WAIT_DEPENDENCIES)
        parent.db_record().button_done()
        self.assertEqual(child.db_record().state, PENDING)

    def test_button_cancelled(self):
        __, record = self._create_job()
        self.assertIs(record.button_cancelled(), True)
        self.assertEqual(record.state, CANCELLED)
        self.assertTrue(record.date_cancelled)
        self.assertEqual(record.result, "Cancelled by %s" % self.env.user.name)

    def test_requeue(self):
        job, record = self._create_job()
        job.retry = 3
        job.set_failed(exc_name="builtins.ValueError", exc_info="Traceback...")
        job.store()
        waiting, waiting_record = self._create_job()
        waiting_record.with_context(
            _job_edit_sentinel=self.queue_job.EDIT_SENTINEL
        ).write({"state": WAIT_DEPENDENCIES})
        requeued = (record | waiting_record).requeue()
        self.assertEqual(requeued, record)
        self.assertEqual(record.state, PENDING)
        self.assertEqual(record.retry, 0)
        self.assertFalse(record.exc_name)
        self.assertEqual(waiting_record.state, WAIT_DEPENDENCIES)

    def test_open_graph_jobs(self):
        first = Job(self.method)
        second = Job(self.method)
        second.add_depends({first})
        first.graph_uuid = second.graph_uuid = "graph-2"
        first.store()
        second.store()
        __, lone = self._create_job()
        record = first.db_record()
        self.assertEqual(record.graph_jobs_count, 2)
        self.assertEqual(lone.graph_jobs_count, 0)
        action = record.open_graph_jobs()
        self.assertEqual(action["name"], "Jobs for graph graph-2")
        self.assertEqual(action["res_model"], "queue.job")
        self.assertEqual(action["context"], {})
        self.assertEqual(
            sorted(action["domain"][0][2]),
            sorted((first.db_record() | second.db_record()).ids),
        )

    def test_dependency_graph(self):
        first = Job(self.method, description="First")
        second = Job(self.method, description="Second")
        second.add_depends({first})
        first.graph_uuid = second.graph_uuid = "graph-3"
        first.store()
        second.store()
        __, lone = self._create_job()
        record_1, record_2 = first.db_record(), second.db_record()
        record_1.button_done()
        func_string = "test.queue.job().testing_method()"
        graph = record_2.dependency_graph
        self.assertEqual(graph, record_1.dependency_graph)
        self.assertEqual(graph["edges"], [[record_1.id, record_2.id]])
        self.assertEqual(
            graph["nodes"],
            [
                {
                    "id": record_1.id,
                    "title": "<strong>First</strong><br/>" + func_string,
                    "color": "#C2FABC",
                    "border": "#4AD63A",
                    "shadow": True,
                },
                {
                    "id": record_2.id,
                    "title": "<strong>Second</strong><br/>" + func_string,
                    "color": "#D2E5FF",
                    "border": "#2B7CE9",
                    "shadow": True,
                },
            ],
        )
        self.assertEqual(lone.dependency_graph, {})

    def test_graph_node_escapes_html(self):
        job = Job(self.method, args=("<b>",), description="<script>")
        job.store()
        title = job.db_record()._dependency_graph_vis_node()["title"]
        self.assertEqual(
            title,
            "<strong>&lt;script&gt;</strong><br/>"
            "test.queue.job().testing_method(&#39;&lt;b&gt;&#39;)",
        )

    def test_record_ids(self):
        records = self.env["test.queue.job"].create([{"name": "a"}, {"name": "b"}])
        job = Job(records.testing_method)
        job.store()
        self.assertEqual(job.db_record().record_ids, records.ids)


class TestUnloadableJob(JobCase):
    """Jobs of an uninstalled addon: model or method gone."""

    def _unloadable_job(self, **columns):
        job, record = self._create_job()
        self._write(record, {"state": FAILED, "exc_info": "Traceback..."})
        record.flush()
        for column, value in columns.items():
            self.env.cr.execute(
                "UPDATE queue_job SET %s = %%s WHERE id = %%s" % column,
                (value, record.id),
            )
        record.invalidate_cache()
        return record

    def test_set_done(self):
        record = self._unloadable_job(model_name="test.removed.model")
        record.button_done()
        self.assertEqual(record.state, DONE)
        self.assertTrue(record.date_done)
        self.assertFalse(record.exc_info)
        self.assertEqual(
            record.result, "Manually set to done by %s" % self.env.user.name
        )

    def test_cancel(self):
        record = self._unloadable_job(method_name="removed_method")
        wizard = (
            self.env["queue.jobs.to.cancelled"]
            .with_context(active_model="queue.job", active_ids=record.ids)
            .create({})
        )
        wizard.set_cancelled()
        self.assertEqual(record.state, CANCELLED)
        self.assertTrue(record.date_cancelled)

    def test_requeue_refused(self):
        record = self._unloadable_job(model_name="test.removed.model")
        with self.assertRaisesRegex(exceptions.UserError, "test.removed.model"):
            record.requeue()


class TestWriteProtection(JobCase):
    def test_create_without_sentinel(self):
        with self.assertRaisesRegex(
            exceptions.AccessError,
            "Queue jobs must be created by calling 'with_delay\\(\\)'.",
        ):
            self.queue_job.create({"uuid": "abc", "state": PENDING})
        with self.assertRaises(exceptions.AccessError):
            self.queue_job.with_context(_job_edit_sentinel=object()).create(
                {"uuid": "abc", "state": PENDING}
            )

    def test_write_protected_field(self):
        __, record = self._create_job()
        with self.assertRaisesRegex(
            exceptions.AccessError,
            r"Not allowed to change field\(s\): \['method_name'\]",
        ):
            record.write({"method_name": "unlink"})
        record.write({"priority": 30})
        self.assertEqual(record.priority, 30)

    def test_write_user_rebinds_records(self):
        demo = self._create_user("qj_rebind")
        __, record = self._create_job()
        self.assertEqual(record.records.env.uid, SUPERUSER_ID)
        record.write({"user_id": demo.id})
        self.assertEqual(record.records.env.uid, demo.id)
        self.assertEqual(Job.load(self.env, record.uuid).recordset.env.uid, demo.id)
        # back to the writing user: the stored user changes as well
        record.write({"user_id": SUPERUSER_ID})
        self.assertEqual(record.records.env.uid, SUPERUSER_ID)

    def test_creation_does_not_log_nor_subscribe(self):
        __, record = self._create_job()
        self.assertFalse(record.message_ids)
        self.assertFalse(record.message_follower_ids)


class TestFailureMessage(JobCase):
    def _failure_messages(self, record):
        subtype = self.env.ref("queue_job.mt_job_failed")
        return record.message_ids.filtered(lambda m: m.subtype_id == subtype)

    def test_one_message_when_failed(self):
        __, record = self._create_job()
        self._write(record, {"state": FAILED})
        messages = self._failure_messages(record)
        self.assertEqual(len(messages), 1)
        self.assertIn(
            "Something bad happened during the execution of job %s." % record.uuid,
            messages.body,
        )
        self._write(record, {"priority": 3})
        self.assertEqual(len(self._failure_messages(record)), 1)

    def test_inactive_manager_not_follower(self):
        active = self._create_user("qj_active", groups=self.manager_group)
        inactive = self._create_user(
            "qj_inactive", groups=self.manager_group, active=False
        )
        __, record = self._create_job()
        self._write(record, {"state": FAILED})
        followers = record.message_follower_ids.partner_id
        self.assertIn(active.partner_id, followers)
        self.assertNotIn(inactive.partner_id, followers)

    def test_followers_without_company(self):
        simple_user = self._create_user("qj_simple")
        manager = self._create_user("qj_manager", groups=self.manager_group)
        job = Job(self.env["test.queue.job"].with_user(simple_user).testing_method)
        job.company_id = None
        job.store()
        record = job.db_record()
        self.assertFalse(record.company_id)
        record._message_post_on_failure()
        managers = self.env["res.users"].search(
            [("groups_id", "=", self.manager_group.id)]
        )
        self.assertIn(manager, managers)
        self.assertEqual(
            record.message_follower_ids.partner_id,
            (managers | simple_user).partner_id,
        )

    def test_followers_with_company(self):
        company_a = self.env["res.company"].create({"name": "Company A"})
        user_a = self._create_user("qj_user_a", company=company_a)
        manager_a = self._create_user(
            "qj_manager_a", groups=self.manager_group, company=company_a
        )
        self._create_user("qj_manager_main", groups=self.manager_group)
        job = Job(
            self.env["test.queue.job"]
            .with_user(user_a)
            .with_context(company_id=company_a.id)
            .testing_method
        )
        job.store()
        record = job.db_record()
        self.assertEqual(record.company_id, company_a)
        record._message_post_on_failure()
        self.assertEqual(
            record.message_follower_ids.partner_id,
            (user_a | manager_a).partner_id,
        )

    def test_message_can_be_suppressed(self):
        __, record = self._create_job()
        with mock.patch.object(
            type(self.queue_job), "_message_failed_job", return_value=None
        ):
            self._write(record, {"state": FAILED})
        self.assertFalse(self._failure_messages(record))
        self.assertTrue(record.message_follower_ids)

    def test_needaction_domain(self):
        self.assertEqual(
            self.queue_job._needaction_domain_get(), [("state", "=", FAILED)]
        )


class TestRelatedAction(JobCase):
    def test_default_one_record(self):
        record = self.env["test.queue.job"].create({"name": "r"})
        job = Job(record.testing_method)
        job.store()
        self.assertEqual(
            job.related_action(),
            {
                "name": "Related Record",
                "type": "ir.actions.act_window",
                "view_mode": "form",
                "res_model": "test.queue.job",
                "res_id": record.id,
            },
        )

    def test_default_several_records(self):
        records = self.env["test.queue.job"].create([{"name": "a"}, {"name": "b"}])
        job = Job(records.testing_method)
        job.store()
        self.assertEqual(
            job.db_record().open_related_action(),
            {
                "name": "Related Records",
                "type": "ir.actions.act_window",
                "view_mode": "tree,form",
                "res_model": "test.queue.job",
                "domain": [("id", "in", records.ids)],
            },
        )

    def test_default_no_record(self):
        job, record = self._create_job()
        self.assertIsNone(job.related_action())
        with self.assertRaisesRegex(
            exceptions.UserError, "No action available for this job"
        ):
            record.open_related_action()

    def test_deleted_records(self):
        records = self.env["test.queue.job"].create([{"name": "a"}, {"name": "b"}])
        job = Job(records.testing_method)
        job.store()
        records[1].unlink()
        action = job.related_action()
        self.assertEqual(action["res_id"], records[0].id)

    def test_disabled(self):
        job = Job(self.env["test.related.action"].testing_related_action__no)
        job.store()
        self.assertIsNone(job.related_action())
        with self.assertRaises(exceptions.UserError):
            job.db_record().open_related_action()

    def test_func_name_and_kwargs(self):
        job = Job(self.env["test.related.action"].testing_related_action__kwargs)
        job.store()
        self.assertEqual(job.related_action(), (job.db_record(), {"b": 4}))

    def test_url(self):
        job = Job(
            self.env["test.related.action"].testing_related_action__store,
            args=("Discworld",),
        )
        job.store()
        self.assertEqual(
            job.db_record().open_related_action(),
            {
                "type": "ir.actions.act_url",
                "target": "new",
                "url": "https://en.wikipedia.org/wiki/Discworld",
            },
        )


class TestCascadeCancel(JobCase):
    def _graph(self, count):
        jobs = [Job(self.method, description="job %d" % n) for n in range(count)]
        for job in jobs:
            job.graph_uuid = "graph-cancel"
        return jobs

    def _store(self, jobs):
        for job in jobs:
            job.store()
        return [job.db_record() for job in jobs]

    def test_cancel_cancels_waiting_dependents_recursively(self):
        root, child, grandchild, other = self._graph(4)
        child.add_depends({root})
        grandchild.add_depends({child})
        records = self._store([root, child, grandchild, other])
        records[0].button_cancelled()
        self.assertEqual(
            [record.state for record in records],
            [CANCELLED, CANCELLED, CANCELLED, PENDING],
        )
        self.assertEqual(
            records[2].result, "Cancelled because a job it depends on was cancelled"
        )

    def test_cancel_child_of_two_parents(self):
        parent_a, parent_b, child = self._graph(3)
        child.add_depends({parent_a, parent_b})
        records = self._store([parent_a, parent_b, child])
        records[1].button_done()
        self.assertEqual(records[2].state, WAIT_DEPENDENCIES)
        records[0].button_cancelled()
        self.assertEqual(records[2].state, CANCELLED)

    def test_cancel_does_not_touch_dependents_not_waiting(self):
        parent, child = self._graph(2)
        child.add_depends({parent})
        records = self._store([parent, child])
        # manually released child, e.g. set to done by hand before the parent
        records[1].button_done()
        records[0].button_cancelled()
        self.assertEqual(records[1].state, DONE)

    def test_cancel_wizard_cascades(self):
        parent, child = self._graph(2)
        child.add_depends({parent})
        records = self._store([parent, child])
        wizard = (
            self.env["queue.jobs.to.cancelled"]
            .with_context(active_model="queue.job", active_ids=records[0].ids)
            .create({})
        )
        wizard.set_cancelled()
        self.assertEqual([r.state for r in records], [CANCELLED, CANCELLED])


class TestMaintenance(JobCase):
    def _done_job(self, days_ago, channel="root"):
        job = Job(self.method, channel=channel)
        job.set_done()
        job.date_done = datetime.now() - timedelta(days=days_ago)
        job.store()
        return job.db_record()

    def test_autovacuum(self):
        recent = self._done_job(29)
        old = self._done_job(31)
        self.assertIs(self.queue_job.autovacuum(), True)
        self.assertTrue(recent.exists())
        self.assertFalse(old.exists())

    def test_autovacuum_cancelled_and_failed(self):
        job, cancelled = self._create_job()
        job.set_cancelled()
        job.date_cancelled = datetime.now() - timedelta(days=31)
        job.store()
        job, failed = self._create_job()
        job.set_failed()
        job.date_done = False
        job.store()
        self._write(failed, {"date_created": datetime.now() - timedelta(days=90)})
        self.queue_job.autovacuum()
        self.assertFalse(cancelled.exists())
        self.assertTrue(failed.exists())

    def test_autovacuum_channel_interval(self):
        self.env["queue.job.channel"].create(
            {
                "name": "60days",
                "parent_id": self.env.ref("queue_job.channel_root").id,
                "removal_interval": 60,
            }
        )
        root_job = self._done_job(31)
        channel_job = self._done_job(31, channel="root.60days")
        self.queue_job.autovacuum()
        self.assertFalse(root_job.exists())
        self.assertTrue(channel_job.exists())
        self._write(channel_job, {"date_done": datetime.now() - timedelta(days=61)})
        self.queue_job.autovacuum()
        self.assertFalse(channel_job.exists())

    def test_autovacuum_unknown_channel_kept(self):
        record = self._done_job(100, channel="root.unknown")
        self.queue_job.autovacuum()
        self.assertTrue(record.exists())

    def test_autovacuum_batches_retrigger_cron(self):
        cron = self.env.ref("queue_job.ir_cron_autovacuum_queue_jobs")
        records = self._done_job(40) | self._done_job(40) | self._done_job(40)
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        with mock.patch.object(type(self.queue_job), "_autovacuum_batch_size", 2):
            self.queue_job.autovacuum()
            self.assertEqual(len(records.exists()), 1)
            new_triggers = (
                self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
                - triggers
            )
            self.assertEqual(len(new_triggers), 1)
            self.queue_job.autovacuum()
        self.assertFalse(records.exists())
        self.assertEqual(
            len(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])),
            len(triggers) + 1,
        )

    def test_autovacuum_cron(self):
        record = self._done_job(365)
        self.env.ref("queue_job.ir_cron_autovacuum_queue_jobs").method_direct_trigger()
        self.assertFalse(record.exists())

    def test_maintenance_requires_rights(self):
        user = self._create_user("qj_not_manager")
        with self.assertRaises(exceptions.AccessError):
            self.queue_job.with_user(user).autovacuum()
        with self.assertRaises(exceptions.AccessError):
            self.queue_job.with_user(user).requeue_stuck_jobs()

    def _job_in_state(self, state, **dates):
        job, record = self._create_job()
        self._write(record, dict(state=state, **dates))
        return record

    def test_requeue_stuck_jobs(self):
        with self.assertRaisesRegex(
            exceptions.ValidationError,
            "If both parameters are 0, ALL jobs will be requeued!",
        ):
            self.queue_job.requeue_stuck_jobs(0, 0)
        now = datetime.now()
        stuck = self._job_in_state(ENQUEUED, date_enqueued=now - timedelta(minutes=2))
        fresh = self._job_in_state(ENQUEUED, date_enqueued=now)
        started = self._job_in_state(STARTED, date_started=now - timedelta(hours=1))
        requeued = self.queue_job.requeue_stuck_jobs()
        self.assertEqual(requeued, stuck)
        self.assertEqual(stuck.state, PENDING)
        self.assertFalse(stuck.date_enqueued)
        self.assertEqual(fresh.state, ENQUEUED)
        self.assertEqual(started.state, STARTED)

    def test_requeue_stuck_started_jobs(self):
        now = datetime.now()
        enqueued = self._job_in_state(
            ENQUEUED, date_enqueued=now - timedelta(minutes=10)
        )
        started = self._job_in_state(STARTED, date_started=now - timedelta(minutes=5))
        running = self._job_in_state(STARTED, date_started=now - timedelta(minutes=1))
        self.queue_job.requeue_stuck_jobs(enqueued_delta=0, started_delta=3)
        self.assertEqual(enqueued.state, ENQUEUED)
        self.assertEqual(started.state, PENDING)
        self.assertEqual(running.state, STARTED)

    def test_requeue_stuck_jobs_time_limit(self):
        """started_delta=-1: the real time limit of the workers, plus a minute"""
        now = datetime.now()
        started = self._job_in_state(STARTED, date_started=now - timedelta(minutes=4))
        running = self._job_in_state(STARTED, date_started=now - timedelta(minutes=2))
        with mock.patch.dict(
            "odoo.addons.queue_job.models.queue_job_maintenance.config.options",
            {"limit_time_real": 120},
        ):
            self.queue_job.requeue_stuck_jobs(enqueued_delta=1, started_delta=-1)
        self.assertEqual(started.state, PENDING)
        self.assertEqual(running.state, STARTED)

    def test_garbage_collector_cron(self):
        stuck = self._job_in_state(
            ENQUEUED, date_enqueued=datetime.now() - timedelta(minutes=5)
        )
        cron = self.env.ref("queue_job.ir_cron_queue_job_garbage_collector")
        self.assertEqual(
            cron.code, "model.requeue_stuck_jobs(enqueued_delta=1, started_delta=-1)"
        )
        cron.method_direct_trigger()
        self.assertEqual(stuck.state, PENDING)

    def test_test_job(self):
        # logging.INFO: Odoo names its level 25 "INFO" as well
        with self.assertLogs(
            "odoo.addons.queue_job.models.queue_job", logging.INFO
        ) as logs:
            self.queue_job._test_job()
        self.assertIn("Running test job.", logs.output[0])
        with self.assertRaisesRegex(Exception, "Job failed"):
            self.queue_job._test_job(failure_rate=1)
        config = self.env["queue.job.function"].job_config("<queue.job>._test_job")
        self.assertTrue(config.job_function_id)
