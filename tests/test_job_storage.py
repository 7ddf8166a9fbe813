"""Delaying jobs and their storage, and the errors on bad input."""
from job_cases import QueueJobCase
from odoo.addons.queue_job.delay import DelayableRecordset
from odoo.addons.queue_job.job import PENDING, Job
from odoo.exceptions import AccessError


class DelayCase(QueueJobCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo_user = cls.env["res.users"].create(
            {
                "name": "Demo Storage",
                "login": "qj_demo_storage",
                "groups_id": [(6, 0, [cls.env.ref("base.group_user").id])],
            }
        )


class TestWithDelay(DelayCase):
    def test_with_delay_stores_one_job(self):
        job_ = self.test_model.with_delay().testing_method()
        self.assertIsInstance(job_, Job)
        self.assertEqual(self.counter.count_created(), 1)
        record = self.counter.search_created()
        self.assertEqual(record.uuid, job_.uuid)
        self.assertEqual(record.state, PENDING)
        self.assertFalse(record.graph_uuid)

    def test_with_delay_options(self):
        job_ = self.test_model.with_delay(
            priority=15,
            eta=60,
            max_retries=1,
            description="Test",
            channel="root.test",
            identity_key="my-key",
        ).testing_method(1, foo=2)
        record = job_.db_record()
        self.assertEqual(record.priority, 15)
        self.assertTrue(record.eta)
        self.assertEqual(record.max_retries, 1)
        self.assertEqual(record.name, "Test")
        self.assertEqual(record.channel, "root.test")
        self.assertEqual(record.identity_key, "my-key")
        self.assertEqual(record.args, [1])
        self.assertEqual(record.kwargs, {"foo": 2})

    def test_delayable_recordset_repr(self):
        partners = self.env["res.partner"].create([{"name": "a"}, {"name": "b"}])
        self.assertEqual(
            repr(partners.with_delay()),
            "DelayableRecordset(res.partner%s)" % (tuple(partners.ids),),
        )
        self.assertEqual(partners.with_delay().recordset, partners)

    def test_delay_on_records(self):
        records = self.test_model.create([{"name": "r1"}, {"name": "r2"}])
        job_ = records.with_delay().mapped("name")
        self.assertEqual(job_.args, ("name",))
        self.assertEqual(job_.recordset, records)
        self.assertEqual(job_.method_name, "mapped")
        self.assertEqual(job_.perform(), ["r1", "r2"])
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.recordset, records)
        self.assertEqual(loaded.perform(), ["r1", "r2"])

    def test_identity_key_duplicate(self):
        job_ = self.test_model.with_delay(identity_key="same").testing_method(1)
        second = self.test_model.with_delay(identity_key="same").testing_method(2)
        self.assertEqual(self.counter.count_created(), 1)
        self.assertEqual(second.uuid, job_.uuid)
        # the existing queue.job record is returned
        self.assertEqual(second, job_.db_record())

    def test_identity_key_duplicate_not_waiting_anymore(self):
        job_ = self.test_model.with_delay(identity_key="same").testing_method(1)
        job_.set_done()
        job_.store()
        second = self.test_model.with_delay(identity_key="same").testing_method(2)
        self.assertNotEqual(second.uuid, job_.uuid)
        self.assertEqual(self.counter.count_created(), 2)

    def test_user_and_su_of_loaded_job(self):
        job_ = self.test_model.with_user(self.demo_user).with_delay().testing_method()
        loaded = Job.load(self.env, job_.uuid)
        self.assertFalse(loaded.recordset.env.su)
        self.assertEqual(loaded.recordset.env.uid, self.demo_user.id)
        self.assertEqual(loaded.user_id, self.demo_user.id)
        self.assertEqual(job_.db_record().user_id, self.demo_user)

        job_ = (
            self.test_model.with_user(self.demo_user)
            .sudo()
            .with_delay()
            .testing_method()
        )
        loaded = Job.load(self.env, job_.uuid)
        self.assertTrue(loaded.recordset.env.su)
        self.assertEqual(loaded.recordset.env.uid, self.demo_user.id)

    def test_non_manager_can_delay(self):
        self.assertFalse(self.demo_user.has_group("queue_job.group_queue_job_manager"))
        job_ = self.test_model.with_user(self.demo_user).with_delay().testing_method()
        self.assertTrue(job_.db_record())

    def test_store_values_hook(self):
        job_ = self.test_model.with_delay().testing_method()
        record = job_.db_record()
        self.assertEqual(record.additional_info, "JUST_TESTING")
        job_.set_failed()
        job_.store()
        self.assertEqual(record.additional_info, "JUST_TESTING_BUT_FAILED")

    def test_context_propagation(self):
        job_ = (
            self.test_model.with_context(
                tz="Europe/Brussels", lang="en_US", active_test=False
            )
            .with_delay()
            .testing_method(return_context=True)
        )
        loaded = Job.load(self.env, job_.uuid)
        context = loaded.perform()
        self.assertEqual(context["tz"], "Europe/Brussels")
        self.assertEqual(context["lang"], "en_US")
        self.assertNotIn("active_test", context)
        self.assertEqual(context["job_uuid"], job_.uuid)

    def test_context_not_propagated_by_default(self):
        partner = self.env["res.partner"].create({"name": "p"})
        job_ = partner.with_context(tz="Europe/Brussels").with_delay().read(["name"])
        loaded = Job.load(self.env, job_.uuid)
        self.assertNotIn("tz", loaded.recordset.env.context)


class TestChannelAndCompany(DelayCase):
    def test_explicit_channel(self):
        job_ = self.env["test.queue.channel"].with_delay(channel="root.sub.sub").job_a()
        self.assertEqual(job_.channel, "root.sub.sub")
        self.assertEqual(job_.db_record().channel, "root.sub.sub")
        job_ = (
            self.env["test.queue.channel"]
            .with_delay(channel="root.sub.sub")
            .job_sub_channel()
        )
        self.assertEqual(job_.db_record().channel, "root.sub.sub")

    def test_channel_of_job_function(self):
        channel_model = self.env["test.queue.channel"]
        job_ = channel_model.with_delay().job_a()
        self.assertEqual(job_.db_record().channel, "root")
        function = self.env.ref("test_queue_job.job_function_job_a")
        function.channel_id = self.env.ref("test_queue_job.channel_sub")
        job_ = channel_model.with_delay().job_a()
        self.assertEqual(job_.db_record().channel, "root.sub")
        job_ = channel_model.with_delay(channel="root.other").job_a()
        self.assertEqual(job_.db_record().channel, "root.other")
        job_ = channel_model.with_delay().job_sub_channel()
        self.assertEqual(job_.db_record().channel, "root.sub.subsub")

    def test_channel_without_job_function(self):
        job_ = self.env["res.users"].with_delay().browse([1])
        self.assertEqual(job_.db_record().channel, "root")
        self.assertFalse(job_.db_record().job_function_id)

    def test_company(self):
        company = self.env["res.company"].create({"name": "Queue company"})
        job_ = (
            self.test_model.with_context(company_id=None).with_delay().no_description()
        )
        self.assertFalse(job_.db_record().company_id)
        job_ = (
            self.test_model.with_context(company_id=company.id)
            .with_delay()
            .no_description()
        )
        self.assertEqual(job_.db_record().company_id, company)
        job_ = self.test_model.with_delay().no_description()
        self.assertEqual(job_.db_record().company_id, self.env.company)
        job_ = self.test_model.with_user(self.demo_user).with_delay().no_description()
        self.assertEqual(job_.db_record().company_id, self.demo_user.company_id)


class TestWriteProtection(DelayCase):
    def test_create_without_sentinel(self):
        with self.assertRaisesRegex(
            AccessError, "Queue jobs must be created by calling 'with_delay\\(\\)'"
        ):
            self.env["queue.job"].create(
                {
                    "uuid": "not-through-with-delay",
                    "name": "RPC job",
                    "model_name": "res.partner",
                    "method_name": "write",
                }
            )

    def test_write_protected_field(self):
        record = self.test_model.with_delay().testing_method().db_record()
        with self.assertRaisesRegex(AccessError, "Not allowed to change field"):
            record.write({"method_name": "unlink"})
        record.write({"priority": 30})
        self.assertEqual(record.priority, 30)

    def test_write_user_changes_the_job_user(self):
        record = self.test_model.with_delay().testing_method().db_record()
        record.write({"user_id": self.demo_user.id})
        self.assertEqual(record.records.env.uid, self.demo_user.id)
        loaded = Job.load(self.env, record.uuid)
        self.assertEqual(loaded.user_id, self.demo_user.id)


class TestBadInput(DelayCase):
    def test_not_serializable_argument(self):
        with self.assertRaises(TypeError) as cm:
            self.test_model.with_delay().testing_method(object())
        message = str(cm.exception)
        self.assertIn("<test.queue.job>.testing_method", message)
        self.assertIn("object", message)
        self.assertIn("args", message)
        self.assertEqual(self.counter.count_created(), 0)

    def test_not_serializable_keyword_argument(self):
        class Opaque:
            def __repr__(self):
                return "<Opaque thing>"

        with self.assertRaisesRegex(TypeError, "kwargs.*<Opaque thing>.*Opaque"):
            self.test_model.with_delay().testing_method(foo={"deep": [Opaque()]})
        self.assertEqual(self.counter.count_created(), 0)

    def test_not_serializable_dict_key(self):
        with self.assertRaisesRegex(TypeError, "testing_method"):
            self.test_model.with_delay().testing_method({(1, 2): "tuple key"})
        self.assertEqual(self.counter.count_created(), 0)

    def test_not_serializable_in_graph_stores_nothing(self):
        good = self.test_model.delayable().testing_method(1)
        bad = self.test_model.delayable().testing_method(object())
        also_good = self.test_model.delayable().testing_method(2)
        good.on_done(bad)
        bad.on_done(also_good)
        with self.assertRaisesRegex(TypeError, "testing_method"):
            good.delay()
        self.assertEqual(self.counter.count_created(), 0)

    def test_not_serializable_context_value(self):
        model = self.test_model.with_context(tz=object())
        with self.assertRaisesRegex(TypeError, "records"):
            model.with_delay().testing_method()
        self.assertEqual(self.counter.count_created(), 0)

    def test_unknown_method(self):
        with self.assertRaisesRegex(AttributeError, "test.queue.job.no_such_method"):
            self.test_model.with_delay().no_such_method()
        self.assertEqual(self.counter.count_created(), 0)

    def test_field_is_not_a_method(self):
        with self.assertRaisesRegex(AttributeError, "only methods can be delayed"):
            self.test_model.with_delay().name()
        self.assertEqual(self.counter.count_created(), 0)

    def test_attribute_is_not_a_method(self):
        with self.assertRaisesRegex(AttributeError, "only methods can be delayed"):
            self.test_model.with_delay()._description()
        with self.assertRaisesRegex(AttributeError, "only methods can be delayed"):
            self.test_model.delayable()._name
        self.assertEqual(self.counter.count_created(), 0)

    def test_delayable_without_method(self):
        with self.assertRaisesRegex(ValueError, "has no method to delay"):
            self.test_model.delayable().delay()
        self.assertEqual(self.counter.count_created(), 0)

    def test_direct_delayable_recordset(self):
        job_ = DelayableRecordset(self.test_model, priority=3).testing_method(1)
        self.assertEqual(job_.db_record().priority, 3)
