"""What a third-party addon relies on when it extends queue_job (ORM level).

Run by Odoo's test runner (``--test-tags /test_queue_job_compat``), never
imported by pytest: the addon patches ``Job`` for the whole process.
"""
import json

from lxml import etree
from odoo.addons.queue_job.job import Job
from odoo.tests import common, tagged

from ..models.compat_job import CompatJob


class CompatCase(common.TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.record = cls.env["test.queue.job.compat"].create({"name": "compat"})
        cls.Log = cls.env["test.queue.job.compat.log"]

    def logs(self, job_uuid, kind):
        self.env.cr.flush()
        return self.Log.search([("job_uuid", "=", job_uuid), ("kind", "=", kind)])

    def job_record(self, job_uuid):
        self.env.cr.flush()
        return self.env["queue.job"].search([("uuid", "=", job_uuid)])

    def count_rows(self, job_uuid):
        self.env.cr.flush()
        self.env.cr.execute(
            "SELECT count(*) FROM queue_job WHERE uuid = %s", (job_uuid,)
        )
        return self.env.cr.fetchone()[0]


@tagged("post_install", "-at_install")
class TestCompatViews(CompatCase):
    def arch(self, model, xmlid):
        view = self.env.ref(xmlid)
        result = self.env[model].fields_view_get(view_id=view.id, view_type="form")
        return etree.fromstring(result["arch"])

    def test_job_form_extended_at_the_original_anchors(self):
        arch = self.arch("queue.job", "queue_job.view_queue_job_form")
        graph_uuid = arch.xpath("//field[@name='graph_uuid']")
        self.assertEqual(len(graph_uuid), 1)
        self.assertEqual(graph_uuid[0].getnext().get("name"), "compat_note")
        self.assertTrue(
            arch.xpath("//page[@name='results']//field[@name='additional_info']")
        )
        exc_name = arch.xpath("//div[@id='exc_name']")
        self.assertEqual(len(exc_name), 1)
        self.assertEqual(exc_name[0].getnext().get("id"), "compat_exc_hint")
        self.assertTrue(
            arch.xpath(
                "//page[@name='dependencies']/p[@class='compat_dependencies_hint']"
            )
        )

    def test_channel_and_function_forms_extended(self):
        arch = self.arch("queue.job.channel", "queue_job.view_queue_job_channel_form")
        self.assertTrue(arch.xpath("/form/group[2]/field[@name='compat_label']"))
        self.assertTrue(arch.xpath("/form/group[2]/field[@name='job_function_ids']"))
        arch = self.arch("queue.job.function", "queue_job.view_queue_job_function_form")
        self.assertTrue(arch.xpath("/form/group[1]/field[@name='compat_label']"))
        self.assertTrue(arch.xpath("/form/group[1]/field[@name='edit_related_action']"))


@tagged("post_install", "-at_install")
class TestCompatStoreHooks(CompatCase):
    def test_create_receives_python_values(self):
        job = self.record.with_delay(priority=7).do_work(3, factor=2)
        logs = self.logs(job.uuid, "create")
        self.assertEqual(len(logs), 1)
        info = json.loads(logs.info)
        self.assertEqual(info["records"], "recordset")
        self.assertEqual(info["records_model"], "test.queue.job.compat")
        self.assertEqual(info["records_ids"], [self.record.id])
        self.assertEqual(info["args"], "tuple")
        self.assertEqual(info["kwargs"], "dict")

    def test_write_receives_every_stored_value(self):
        job = self.record.with_delay(priority=7).do_work(3)
        self.assertEqual(self.job_record(job.uuid).state, "pending")
        loaded = Job.load(self.env, job.uuid)
        loaded.set_done(result="ok")
        loaded.store()
        writes = self.logs(job.uuid, "write")
        self.assertEqual(writes.mapped("state"), ["done"])
        self.assertEqual(json.loads(writes.info), {"priority": 7})

    def test_write_of_failed_and_cancelled_jobs(self):
        job = self.record.with_delay(priority=4).do_work(1)
        self.job_record(job.uuid).button_cancelled()
        loaded = Job.load(self.env, job.uuid)
        loaded.set_failed(exc_name="ValueError", exc_message="boom", exc_info="tb")
        loaded.store()
        writes = self.logs(job.uuid, "write")
        self.assertEqual(writes.mapped("state"), ["cancelled", "failed"])
        self.assertEqual([json.loads(w.info) for w in writes], [{"priority": 4}] * 2)

    def test_extra_column_and_patched_loader(self):
        job = self.record.with_delay().do_work(5)
        record = self.job_record(job.uuid)
        self.assertEqual(record.additional_info, "compat:do_work")
        self.assertFalse(record.loaded_additional_info)
        loaded = Job.load(self.env, job.uuid)
        self.assertEqual(loaded.additional_info, "compat:do_work")
        loaded.set_done()
        loaded.store()
        record.invalidate_cache()
        self.assertEqual(record.loaded_additional_info, "compat:do_work")

    def test_tracked_field_is_tracked(self):
        job = self.record.with_delay().do_work(5)
        record = self.job_record(job.uuid)
        record.compat_note = "reviewed"
        self.env.cr.flush()
        tracked = record.message_ids.tracking_value_ids.filtered(
            lambda t: t.field.name == "compat_note"
        )
        self.assertEqual(tracked.mapped("new_value_char"), ["reviewed"])


@tagged("post_install", "-at_install")
class TestCompatJobSubclass(CompatCase):
    def test_subclass_without_super_init_is_stored_and_runs(self):
        job = CompatJob(
            self.record.do_work, args=(2,), kwargs={"factor": 5}, priority=3
        )
        job.store()
        record = self.job_record(job.uuid)
        self.assertEqual(len(record), 1)
        self.assertEqual(record.state, "pending")
        self.assertEqual(record.priority, 3)
        self.assertEqual(record.method_name, "do_work")
        self.assertEqual(record.args, [2])  # JSON: a tuple reads back as a list
        self.assertEqual(record.kwargs, {"factor": 5})
        self.assertEqual(record.records, self.record)
        loaded = Job.load(self.env, job.uuid)
        self.assertEqual(loaded.perform(), "worked 10")


@tagged("post_install", "-at_install")
class TestCompatFailureMessage(CompatCase):
    def test_failure_message_by_the_job_user(self):
        user = self.env["res.users"].create(
            {
                "name": "Compat Delayer",
                "login": "compat_delayer",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        job = self.record.with_user(user).with_delay().fail_work("nope")
        record = self.job_record(job.uuid)
        self.assertEqual(record.user_id, user)
        loaded = Job.load(self.env, job.uuid)
        loaded.set_failed(exc_name="UserError", exc_message="nope", exc_info="tb")
        loaded.store()
        self.assertEqual(len(self.logs(job.uuid, "message_post_on_failure")), 1)
        subtype = self.env.ref("queue_job.mt_job_failed")
        messages = record.message_ids.filtered(lambda m: m.subtype_id == subtype)
        self.assertEqual(len(messages), 1)
        self.assertEqual(messages.author_id, user.partner_id)
        self.assertIn(user.partner_id, record.message_partner_ids)


@tagged("post_install", "-at_install")
class TestCompatRelatedAction(CompatCase):
    def test_custom_related_action_of_the_job_function(self):
        job = self.record.with_delay().do_work(1)
        record = self.job_record(job.uuid)
        self.assertEqual(
            record.job_function_id,
            self.env.ref("test_queue_job_compat.job_function_do_work"),
        )
        action = record.open_related_action()
        self.assertEqual(
            action,
            {
                "type": "ir.actions.act_window",
                "name": "Compat log of %s" % job.uuid,
                "res_model": "test.queue.job.compat.log",
                "view_mode": "tree,form",
                "domain": [("job_uuid", "=", job.uuid)],
            },
        )


@tagged("post_install", "-at_install")
class TestCompatSavepoint(CompatCase):
    def delay_around_failed_savepoint(self, flush):
        """Delay a job before, in and after a savepoint rolled back; return
        whether the row of each exists."""
        before = self.record.with_delay().do_work(1)
        with self.assertRaises(ValueError):
            with self.env.cr.savepoint(flush=flush):
                within = self.record.with_delay().do_work(2)
                raise ValueError("rolled back")
        after = self.record.with_delay().do_work(3)
        return [bool(self.count_rows(job.uuid)) for job in (before, within, after)]

    def test_rolled_back_savepoint_without_flush(self):
        self.assertEqual(
            self.delay_around_failed_savepoint(flush=False), [True, False, True]
        )

    def test_rolled_back_savepoint_with_flush(self):
        self.assertEqual(
            self.delay_around_failed_savepoint(flush=True), [True, False, True]
        )
