# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import api, fields, models
from odoo.addons.queue_job.delay import chain
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import identity_exact


class TestQueueJob(models.Model):
    _name = "test.queue.job"
    _description = "Test model for queue.job"

    name = fields.Char()

    def testing_method(self, *args, **kwargs):
        """Method used for tests

        Return always the arguments and keyword arguments received
        """
        if kwargs.get("raise_retry"):
            raise RetryableJobError("Must be retried later")
        if kwargs.get("return_context"):
            return self.env.context
        return args, kwargs

    def no_description(self):
        return

    def raise_retryable(self, seconds=None, ignore_retry=False):
        raise RetryableJobError("Retry me", seconds=seconds, ignore_retry=ignore_retry)

    def docstring_first_line_blank(self):
        """
        Description below a blank first line
        """
        return

    def job_with_specific_store_values(self):
        return

    def _job_store_values_for_job_with_specific_store_values(self, job):
        # core values (priority) cannot be overridden by the hooks
        return {"additional_info": "SPECIFIC_%s" % job.state, "priority": 999}

    def job_with_retry_pattern(self):
        return

    def job_with_retry_pattern__no_zero(self):
        return

    def job_alter_mutable(self, mutable_arg, mutable_kwarg=None):
        mutable_arg.append(2)
        mutable_kwarg["b"] = 2
        return mutable_arg, mutable_kwarg

    def create_ir_logging(self, message, level="info"):
        """Leave a trace in ir.logging, to see when and in which order jobs ran."""
        return self.env["ir.logging"].create(
            {
                "name": "test_queue_job",
                "type": "server",
                "dbname": self.env.cr.dbname,
                "message": message,
                "path": "job",
                "func": "create_ir_logging",
                "line": 1,
                "level": level,
            }
        )

    def button_that_uses_with_delay(self):
        """What a button of an addon would do: delay a job with all options."""
        return self.with_delay(
            channel="root.test",
            description="Test",
            eta=15,
            identity_key=identity_exact,
            max_retries=1,
            priority=15,
        ).testing_method(1, foo=2)

    def button_that_uses_delayable_chain(self):
        """Delay a graph of three jobs: node2, then node3, then node."""
        delayables = chain(
            self.delayable().create_ir_logging("node2"),
            self.delayable().create_ir_logging("node3"),
            self.delayable().create_ir_logging("node"),
        )
        delayables.delay()
        return delayables

    def delay_me(self, arg, kwarg=None):
        return arg, kwarg

    def delay_me_options_job_options(self):
        return {
            "identity_key": "my_job_identity",
        }

    def delay_me_options(self):
        return "ok"

    def delay_me_context_key(self):
        return "ok"

    def _register_hook(self):
        self._patch_method("delay_me", self._patch_job_auto_delay("delay_me"))
        self._patch_method(
            "delay_me_options", self._patch_job_auto_delay("delay_me_options")
        )
        self._patch_method(
            "delay_me_context_key",
            self._patch_job_auto_delay(
                "delay_me_context_key", context_key="auto_delay_delay_me_context_key"
            ),
        )
        return super()._register_hook()

    def _job_store_values(self, job):
        value = "JUST_TESTING"
        if job.state == "failed":
            value += "_BUT_FAILED"
        return {"additional_info": value}

    @api.model
    def _job_prepare_context_before_enqueue_keys(self):
        return ("tz", "lang")
