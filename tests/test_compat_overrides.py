"""What addons written for the original see of ``Job.store()`` and of the
runjob controller: overrides installed while the server runs are seen at
once, ``create()``/``write()`` get the values they always got, a ``Job``
subclass may set its attributes itself, failures are posted as the job's
user, and the ``fast_paths`` switch turns every fast path off."""
import inspect
from contextlib import contextmanager
from unittest import mock

from job_cases import QueueJobCase
from odoo.addons.queue_job import fast_paths
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.fast_paths import runjob_dispatch, sql_store
from odoo.addons.queue_job.job import ENQUEUED, FAILED, Job
from odoo.addons.queue_job.job_run import JobRun

FOREIGN_MODULE = "odoo.addons.some_third_party_addon.models.queue_job"


@contextmanager
def foreign_override(model_class, name, calls):
    """Patch ``name`` on ``model_class`` as an addon (or an automated
    action) patches it while the server runs: on the class itself, by a
    function of another module, without clearing any cache."""
    origin = getattr(model_class, name)

    def override(self, *args, **kwargs):
        calls.append((name, args, kwargs))
        return origin(self, *args, **kwargs)

    override.__module__ = FOREIGN_MODULE
    with mock.patch.object(model_class, name, override):
        yield


class TestOverridesSeenAtOnce(QueueJobCase):
    def test_write_patched_while_running(self):
        job_ = self.test_model.with_delay().testing_method(1)
        job_.set_enqueued()
        job_.store()  # the SQL path, decided with the class as it was
        calls = []
        with foreign_override(type(self.env["queue.job"]), "write", calls):
            job_.set_started()
            job_.store()
        self.assertEqual(len(calls), 1)
        vals = calls[0][1][0]
        # every stored value, as the original passed them
        self.assertEqual(vals["state"], "started")
        self.assertEqual(vals["priority"], 10)
        self.assertIn("max_retries", vals)
        self.assertEqual(job_.db_record().state, "started")

    def test_create_patched_while_running(self):
        self.test_model.with_delay().testing_method(1)
        calls = []
        with foreign_override(type(self.env["queue.job"]), "create", calls):
            job_ = self.test_model.with_delay().testing_method(2, k=3)
        self.assertEqual(len(calls), 1)
        vals = calls[0][1][0]
        if isinstance(vals, list):
            (vals,) = vals
        self.assertEqual(vals["records"], self.test_model)
        self.assertEqual(vals["args"], (2,))
        self.assertEqual(vals["kwargs"], {"k": 3})
        record = job_.db_record()
        self.assertEqual((record.args, record.kwargs), ([2], {"k": 3}))

    def test_default_set_while_running(self):
        self.test_model.with_delay().testing_method(1)
        field = self.env["ir.model.fields"]._get("queue.job", "additional_info")
        self.env["ir.default"].create(
            {"field_id": field.id, "json_value": '"from default"'}
        )
        job_ = Job(self.test_model.testing_method)
        job_model = job_._store_model()
        plan = job_model._job_sql_store_plan()
        self.assertIn("additional_info", plan.defaulted)

    def test_dispatch_hook_of_an_addon_takes_odoo_dispatch(self):
        registry = self.env.registry
        self.assertTrue(runjob_dispatch.dispatch_hooks_are_odoo_own(registry))
        ir_http = registry["ir.http"]

        def _authenticate(cls, endpoint):
            return super(ir_http, cls)._authenticate(endpoint)

        _authenticate.__module__ = FOREIGN_MODULE
        with mock.patch.object(
            ir_http, "_authenticate", classmethod(_authenticate), create=True
        ):
            self.assertFalse(runjob_dispatch.dispatch_hooks_are_odoo_own(registry))


class TestJobSubclass(QueueJobCase):
    def test_subclass_setting_documented_attributes(self):
        class MyJob(Job):
            def __init__(self, func, args=None, kwargs=None, priority=None):
                self.method_name = func.__name__
                self.recordset = func.__self__
                self.env = self.recordset.env
                self.args = tuple(args or ())
                self.kwargs = kwargs or {}
                self.priority = priority if priority is not None else 10
                self.max_retries = 3
                self.retry = 0
                self.state = "pending"
                self.date_created = None

        job_ = MyJob(self.test_model.testing_method, args=(1,), priority=4)
        job_.store()
        record = job_.db_record()
        self.assertEqual((record.priority, record.args), (4, [1]))
        self.assertEqual(record.max_retries, 3)
        job_.set_enqueued()
        job_.store()
        self.assertEqual(record.state, ENQUEUED)
        loaded = Job.load(self.env, job_.uuid)
        self.assertEqual(loaded.perform(), ((1,), {}))


class TestFastPathsSwitch(QueueJobCase):
    def test_off_values(self):
        for value, expected in (
            ("0", False),
            ("false", False),
            ("Off", False),
            ("1", True),
            ("true", True),
        ):
            with mock.patch.dict("os.environ", {"ODOO_QUEUE_JOB_FAST_PATHS": value}):
                self.assertIs(fast_paths.enabled(), expected, value)

    def test_config_file_key(self):
        with mock.patch.dict("os.environ", {}, clear=False) as environ:
            environ.pop("ODOO_QUEUE_JOB_FAST_PATHS", None)
            with mock.patch.dict(
                "odoo.tools.config.misc", {"queue_job": {"fast_paths": "False"}}
            ):
                self.assertFalse(fast_paths.enabled())
            self.assertTrue(fast_paths.enabled())

    def test_off_stores_through_the_orm(self):
        with mock.patch.dict("os.environ", {"ODOO_QUEUE_JOB_FAST_PATHS": "0"}):
            plan = self.env["queue.job"].sudo()._job_sql_store_plan()
            self.assertFalse(plan.can_create or plan.can_update)
            with mock.patch.object(
                sql_store, "insert_rows", side_effect=AssertionError("SQL insert")
            ), mock.patch.object(
                sql_store.chained_commit, "execute", side_effect=AssertionError("SQL")
            ):
                job_ = self.test_model.with_delay().testing_method(1)
                job_.set_enqueued()
                job_.store()
        self.assertEqual(job_.db_record().state, ENQUEUED)

    def test_off_loads_through_job_load(self):
        job_ = self.test_model.with_delay().testing_method(1)
        record = job_.db_record()
        controller = RunJobController()
        with mock.patch.dict("os.environ", {"ODOO_QUEUE_JOB_FAST_PATHS": "0"}):
            with mock.patch.object(Job, "load", wraps=Job.load) as load:
                loaded = JobRun(controller, self.env, job_.uuid).load(record)
        load.assert_called_once_with(self.env, job_.uuid)
        self.assertEqual(loaded.uuid, job_.uuid)

    def test_load_override_is_used_by_runjob(self):
        job_ = self.test_model.with_delay().testing_method(1)
        record = job_.db_record()
        seen = []
        original = inspect.getattr_static(Job, "load")

        def load(cls, env, job_uuid):
            seen.append(job_uuid)
            return original.__func__(cls, env, job_uuid)

        with mock.patch.object(Job, "load", classmethod(load)):
            self.assertFalse(Job._loads_as_defined_here())
            JobRun(RunJobController(), self.env, job_.uuid).load(record)
        self.assertEqual(seen, [job_.uuid])
        self.assertTrue(Job._loads_as_defined_here())


def test_failure_posted_as_the_job_user(committed_env):
    """The failure message of a job run by the controller is authored by the
    user who delayed it (who is also notified), not by OdooBot."""
    with committed_env() as env:
        user = env["res.users"].create(
            {"name": "Job Author", "login": "qj-author-%s" % id(env)}
        )
        user_id = user.id
        job_ = env["test.queue.job"].with_user(user).with_delay().testing_method(1)
        job_.set_enqueued()
        job_.store()
    try:
        with committed_env() as env:
            run = JobRun(RunJobController(), env, job_.uuid)
            run.job = run.load(run.claim())
            run.job._lease = run.lease
            try:
                raise ValueError("boom")
            except ValueError as exc:
                run.store_failure(exc, "tb")
            run.release_lease()
        with committed_env() as env:
            stored = env["queue.job"].search([("uuid", "=", job_.uuid)])
            assert stored.state == FAILED
            failure = stored.message_ids.filtered(
                lambda m: m.subtype_id == env.ref("queue_job.mt_job_failed")
            )
            assert len(failure) == 1
            partner = env["res.users"].browse(user_id).partner_id
            assert failure.author_id == partner
            assert partner in stored.message_partner_ids
    finally:
        with committed_env() as env:
            env["queue.job"].search([("uuid", "=", job_.uuid)]).unlink()


class TestReadOverride(QueueJobCase):
    def test_read_override_takes_job_load(self):
        job_ = self.test_model.with_delay().testing_method(1)
        record = job_.db_record()
        calls = []
        with foreign_override(type(self.env["queue.job"]), "_read", calls):
            with mock.patch.object(Job, "load", wraps=Job.load) as load:
                JobRun(RunJobController(), self.env, job_.uuid).load(record)
        load.assert_called_once_with(self.env, job_.uuid)
        self.assertTrue(calls)
