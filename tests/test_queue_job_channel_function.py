"""Models ``queue.job.channel`` and ``queue.job.function``, and the wizards."""
import psycopg2
from odoo import exceptions
from odoo.addons.queue_job.job import CANCELLED, DONE, FAILED, PENDING, Job
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger


class TestChannel(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Channel = cls.env["queue.job.channel"]
        cls.root = cls.env.ref("queue_job.channel_root")

    def test_new_channel_without_name(self):
        channel = self.Channel.new({})
        self.assertFalse(channel.name)
        self.assertFalse(channel.complete_name)

    def test_complete_name(self):
        test = self.Channel.create({"name": "test", "parent_id": self.root.id})
        subtest = self.Channel.create({"name": "test", "parent_id": test.id})
        self.assertEqual(test.complete_name, "root.test")
        self.assertEqual(subtest.complete_name, "root.test.test")
        self.assertEqual(subtest.name_get(), [(subtest.id, "root.test.test")])
        test.name = "renamed"
        self.assertEqual(subtest.complete_name, "root.renamed.test")

    def test_complete_name_uniq(self):
        self.Channel.create({"name": "dup", "parent_id": self.root.id})
        with mute_logger("odoo.sql_db"), self.assertRaisesRegex(
            psycopg2.IntegrityError, "queue_job_channel_name_uniq"
        ):
            self.Channel.create({"name": "dup", "parent_id": self.root.id})
            self.Channel.flush()

    def test_parent_required(self):
        with self.assertRaisesRegex(
            exceptions.ValidationError, "Parent channel required."
        ):
            self.Channel.create({"name": "orphan"})

    def test_root_protected(self):
        with self.assertRaisesRegex(
            exceptions.UserError, "Cannot remove the root channel"
        ):
            self.root.unlink()
        with self.assertRaisesRegex(
            exceptions.UserError, "Cannot change the root channel"
        ):
            self.root.name = "leaf"
        child = self.Channel.create({"name": "child", "parent_id": self.root.id})
        with self.assertRaises(exceptions.UserError):
            self.root.parent_id = child
        self.root.removal_interval = 7
        self.assertEqual(self.root.removal_interval, 7)

    def test_default_removal_interval(self):
        channel = self.Channel.create({"name": "vacuum", "parent_id": self.root.id})
        self.assertEqual(channel.removal_interval, 30)

    def test_install_mode_merges_same_channel(self):
        sub = self.env.ref("test_queue_job.channel_sub")
        channels = self.Channel.with_context(install_mode=True).create(
            [
                {"name": "new", "parent_id": self.root.id},
                {"name": "sub", "parent_id": self.root.id, "removal_interval": 9},
            ]
        )
        self.assertEqual(len(channels), 2)
        self.assertEqual(channels[0].complete_name, "root.new")
        self.assertEqual(channels[1], sub)
        self.assertEqual(sub.removal_interval, 9)

    def test_rename_refreshes_job_config(self):
        Function = self.env["queue.job.function"]
        sub = self.env.ref("test_queue_job.channel_sub")
        name = "<test.queue.channel>.job_sub_channel"
        self.assertEqual(Function.job_config(name).channel, "root.sub.subsub")
        sub.name = "moved"
        self.assertEqual(Function.job_config(name).channel, "root.moved.subsub")


class TestJobFunction(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Function = cls.env["queue.job.function"]
        cls.root = cls.env.ref("queue_job.channel_root")

    def test_name_from_model_and_method(self):
        function = self.Function.create(
            {"model_id": self.env.ref("base.model_res_users").id, "method": "read"}
        )
        self.assertEqual(function.name, "<res.users>.read")
        self.assertEqual(function.channel_id, self.root)
        self.assertEqual(function.channel, "root")

    def test_model_and_method_from_name(self):
        function = self.Function.create({"name": "<res.users>.read"})
        self.assertEqual(function.model_id.model, "res.users")
        self.assertEqual(function.method, "read")

    def test_invalid_names(self):
        with self.assertRaisesRegex(
            exceptions.UserError, "Invalid job function: <res.users.read"
        ):
            self.Function.create({"name": "<res.users.read"})
        with self.assertRaisesRegex(exceptions.UserError, "Model foo.bar not found"):
            self.Function.create({"name": "<foo.bar>.read"})

    def test_job_config(self):
        channel = self.env["queue.job.channel"].create(
            {"name": "foo", "parent_id": self.root.id}
        )
        function = self.Function.create(
            {
                "model_id": self.env.ref("base.model_res_users").id,
                "method": "read",
                "channel_id": channel.id,
                "edit_retry_pattern": "{1: 2, 3: 4}",
                "edit_related_action": '{"enable": True,'
                ' "func_name": "related_action_foo",'
                ' "kwargs": {"b": 1}}',
            }
        )
        self.assertEqual(
            self.Function.job_config("<res.users>.read"),
            self.Function.JobConfig(
                channel="root.foo",
                retry_pattern={1: 2, 3: 4},
                related_action_enable=True,
                related_action_func_name="related_action_foo",
                related_action_kwargs={"b": 1},
                job_function_id=function.id,
            ),
        )
        self.assertEqual(function.edit_retry_pattern, "{1: 2, 3: 4}")

    def test_job_config_default(self):
        self.assertEqual(
            self.Function.job_config("<res.users>.browse"),
            self.Function.JobConfig(
                channel="root",
                retry_pattern={},
                related_action_enable=True,
                related_action_func_name=None,
                related_action_kwargs={},
                job_function_id=None,
            ),
        )

    def test_job_config_cache_cleared_on_write(self):
        function = self.Function.create({"name": "<res.users>.read"})
        self.assertEqual(self.Function.job_config("<res.users>.read").retry_pattern, {})
        function.edit_retry_pattern = "{5: 10}"
        self.assertEqual(
            self.Function.job_config("<res.users>.read").retry_pattern, {5: 10}
        )
        function.unlink()
        self.assertIsNone(self.Function.job_config("<res.users>.read").job_function_id)

    def test_randomized_retry_pattern(self):
        function = self.Function.create(
            {"name": "<res.users>.read", "edit_retry_pattern": "{1: (1, 10), 5: 60}"}
        )
        self.assertEqual(function.retry_pattern, {"1": [1, 10], "5": 60})
        config = self.Function.job_config("<res.users>.read")
        self.assertEqual(config.retry_pattern, {1: [1, 10], 5: 60})
        job = Job(self.env["res.users"].read)
        job.retry = 1
        for _try in range(20):
            self.assertIn(job._get_retry_seconds(), range(1, 11))

    def test_invalid_retry_patterns(self):
        function = self.Function.create({"name": "<res.users>.read"})
        for pattern in (
            "{'a': 1}",
            "{1: 'x'}",
            "{1: (10, 1)}",
            "{1: (1, 2, 3)}",
            "{1: [1]}",
            "{1: None}",
            "{1: {}}",
            "[1, 2]",
            "{1: ",
        ):
            with self.subTest(pattern=pattern), self.assertRaisesRegex(
                exceptions.UserError, "Unexpected format of Retry Pattern"
            ):
                function.edit_retry_pattern = pattern
        with self.assertRaisesRegex(
            exceptions.UserError, "Unexpected format of Retry Pattern"
        ):
            function.retry_pattern = {"1": [5, "x"]}
        function.edit_retry_pattern = ""
        self.assertEqual(function.retry_pattern, {})

    def test_invalid_related_action(self):
        function = self.Function.create({"name": "<res.users>.read"})
        for related_action in ('{"unknown": 1}', "{1: ", "'text'"):
            with self.subTest(related_action=related_action), self.assertRaisesRegex(
                exceptions.UserError, "Unexpected format of Related Action"
            ):
                function.edit_related_action = related_action

    def test_install_mode_merges_same_function(self):
        existing = self.env.ref("test_queue_job.job_function_testing_method")
        functions = self.Function.with_context(install_mode=True).create(
            [
                {"name": "<res.users>.read"},
                {
                    "model_id": self.env.ref("test_queue_job.model_test_queue_job").id,
                    "method": "testing_method",
                    "edit_retry_pattern": "{1: 7}",
                },
            ]
        )
        self.assertEqual(len(functions), 2)
        self.assertEqual(functions[0].name, "<res.users>.read")
        self.assertEqual(functions[1], existing)
        self.assertEqual(existing.retry_pattern, {"1": 7})

    def test_test_job_function_data(self):
        function = self.env.ref("queue_job.job_function_queue_job__test_job")
        self.assertEqual(function.name, "<queue.job>._test_job")
        self.assertEqual(function.channel, "root")


class TestWizards(TransactionCase):
    def _failed_job(self):
        job = Job(self.env["test.queue.job"].testing_method)
        job.set_failed(exc_name="builtins.ValueError")
        job.store()
        return job.db_record()

    def _wizard(self, model, jobs):
        return (
            self.env[model]
            .with_context(active_model="queue.job", active_ids=jobs.ids)
            .create({})
        )

    def test_requeue(self):
        record = self._failed_job()
        wizard = self._wizard("queue.requeue.job", record)
        self.assertEqual(wizard.job_ids, record)
        self.assertEqual(wizard.requeue(), {"type": "ir.actions.act_window_close"})
        self.assertEqual(record.state, PENDING)

    def test_set_cancelled(self):
        record = self._failed_job()
        wizard = self._wizard("queue.jobs.to.cancelled", record)
        self.assertEqual(
            wizard.set_cancelled(), {"type": "ir.actions.act_window_close"}
        )
        self.assertEqual(record.state, CANCELLED)

    def test_set_cancelled_skips_done_jobs(self):
        done = self._failed_job()
        done.button_done()
        wizard = self._wizard("queue.jobs.to.cancelled", done)
        wizard.set_cancelled()
        self.assertEqual(done.state, DONE)

    def test_set_done(self):
        record = self._failed_job()
        wizard = self._wizard("queue.jobs.to.done", record)
        self.assertEqual(wizard.set_done(), {"type": "ir.actions.act_window_close"})
        self.assertEqual(record.state, DONE)

    def test_default_only_from_jobs(self):
        record = self._failed_job()
        wizard = (
            self.env["queue.requeue.job"]
            .with_context(active_model="res.partner", active_ids=record.ids)
            .create({})
        )
        self.assertFalse(wizard.job_ids)
        self.assertEqual(record.state, FAILED)

    def test_wizard_actions_bound_to_jobs(self):
        job_model = self.env.ref("queue_job.model_queue_job")
        for xmlid, res_model in (
            ("queue_job.action_requeue_job", "queue.requeue.job"),
            ("queue_job.action_set_jobs_done", "queue.jobs.to.done"),
            ("queue_job.action_set_jobs_cancelled", "queue.jobs.to.cancelled"),
        ):
            action = self.env.ref(xmlid)
            self.assertEqual(action.binding_model_id, job_model)
            self.assertEqual(action.res_model, res_model)
            self.assertEqual(action.target, "new")
