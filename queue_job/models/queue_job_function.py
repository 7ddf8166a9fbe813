# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import ast
import logging
import re
from collections import namedtuple

from odoo import _, api, exceptions, fields, models, tools

from ..fields import JobSerialized
from ..install_merge import create_merging_declared

_logger = logging.getLogger(__name__)

regex_job_function_name = re.compile(r"^<([0-9a-z_\.]+)>\.([0-9a-zA-Z_]+)$")


def _is_int(value):
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_retry_delay(value):
    """A delay in seconds, or a ``(min, max)`` pair for a random delay."""
    if isinstance(value, (list, tuple)):
        return (
            len(value) == 2
            and all(_is_int(bound) for bound in value)
            and int(value[0]) <= int(value[1])
        )
    return _is_int(value)


class QueueJobFunction(models.Model):
    """Configuration of the jobs of one method: channel, retries, related action."""

    _name = "queue.job.function"
    _description = "Job Functions"
    _log_access = False

    JobConfig = namedtuple(
        "JobConfig",
        "channel "
        "retry_pattern "
        "related_action_enable "
        "related_action_func_name "
        "related_action_kwargs "
        "job_function_id "
        "timeout "
        "retry_on_timeout",
        defaults=(None, False),
    )

    def _default_channel(self):
        return self.env.ref("queue_job.channel_root")

    name = fields.Char(
        compute="_compute_name",
        inverse="_inverse_name",
        index=True,
        store=True,
    )
    model_id = fields.Many2one(comodel_name="ir.model", ondelete="cascade")
    method = fields.Char()
    channel_id = fields.Many2one(
        comodel_name="queue.job.channel",
        required=True,
        default=lambda self: self._default_channel(),
    )
    channel = fields.Char(related="channel_id.complete_name", store=True, readonly=True)
    retry_pattern = JobSerialized(string="Retry Pattern (serialized)", base_type=dict)
    edit_retry_pattern = fields.Text(
        string="Retry Pattern",
        compute="_compute_edit_retry_pattern",
        inverse="_inverse_edit_retry_pattern",
        help="Delay before the next try of a job raising a retryable error, "
        "depending on how many tries were done: a dictionary whose keys are "
        "try counts and values are delays in seconds, or (min, max) pairs for "
        "a random delay between min and max seconds. A try count uses the "
        "value of the highest key not above it; before the lowest key, the "
        "delay is 10 minutes.\n"
        "Example: {1: 10, 5: 20, 10: 30, 15: 300}\n"
        "Example: {1: (1, 10), 5: (11, 20), 10: (21, 30), 15: (100, 300)}",
    )
    related_action = JobSerialized(string="Related Action (serialized)", base_type=dict)
    edit_related_action = fields.Text(
        string="Related Action",
        compute="_compute_edit_related_action",
        inverse="_inverse_edit_related_action",
        help="The action opened by the 'Related' button of the jobs, as a "
        "dictionary with the optional keys:\n"
        "* enable: False to disable the button (default True)\n"
        "* func_name: the name of a method of queue.job returning the action "
        "(default: open the records of the job)\n"
        "* kwargs: keyword arguments given to that method\n"
        'Example: {"enable": True, "func_name": "related_action_foo", '
        '"kwargs": {"limit": 10}}',
    )

    timeout = fields.Float(
        string="Timeout (s)",
        help="Seconds a job of this function may run: past them, it is "
        "interrupted inside its worker and its transaction rolled back. "
        "0: no timeout (Odoo's limit_time_real still applies). A job "
        "delayed with its own timeout uses that one.",
    )
    retry_on_timeout = fields.Boolean(
        string="Retry on Timeout",
        help="A job interrupted at its timeout is tried again later, per the "
        "retry pattern and up to its max. retries, like a job raising a "
        "RetryableJobError; otherwise it fails.",
    )

    @api.depends("model_id.model", "method")
    def _compute_name(self):
        for record in self:
            if not (record.model_id and record.method):
                record.name = ""
                continue
            record.name = self.job_function_name(record.model_id.model, record.method)

    def _inverse_name(self):
        for record in self:
            match = regex_job_function_name.match(record.name or "")
            if not match:
                raise exceptions.UserError(_("Invalid job function: %s", record.name))
            model_name, method = match.groups()
            model = self.env["ir.model"]._get(model_name)
            if not model:
                raise exceptions.UserError(_("Model %s not found", model_name))
            record.model_id = model.id
            record.method = method

    @api.depends("retry_pattern")
    def _compute_edit_retry_pattern(self):
        for record in self:
            record.edit_retry_pattern = str(record._parse_retry_pattern())

    def _inverse_edit_retry_pattern(self):
        for record in self:
            pattern = record._parse_edited_dict(record.edit_retry_pattern)
            if pattern is None:
                raise exceptions.UserError(record._retry_pattern_format_error_message())
            record.retry_pattern = pattern

    @api.depends("related_action")
    def _compute_edit_related_action(self):
        for record in self:
            record.edit_related_action = str(record.related_action)

    def _inverse_edit_related_action(self):
        for record in self:
            related_action = record._parse_edited_dict(record.edit_related_action)
            if related_action is None:
                raise exceptions.UserError(
                    record._related_action_format_error_message()
                )
            record.related_action = related_action

    @staticmethod
    def _parse_edited_dict(text):
        """The dict literal typed in an edit field, ``{}`` if empty, else None."""
        text = (text or "").strip()
        if not text:
            return {}
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    def _retry_pattern_format_error_message(self):
        return _(
            "Unexpected format of Retry Pattern for %(name)s.\n"
            "Examples of valid formats:\n%(examples)s",
            name=self.name,
            examples="{1: 300, 5: 600, 10: 1200, 15: 3000}\n"
            "{1: (60, 300), 5: (300, 900)}",
        )

    @api.constrains("retry_pattern")
    def _check_retry_pattern(self):
        for record in self:
            for try_count, delay in (record.retry_pattern or {}).items():
                if not (_is_int(try_count) and _is_retry_delay(delay)):
                    raise exceptions.UserError(
                        record._retry_pattern_format_error_message()
                    )

    def _related_action_format_error_message(self):
        return _(
            "Unexpected format of Related Action for %(name)s.\n"
            "Example of valid format:\n%(example)s",
            name=self.name,
            example='{"enable": True, "func_name": "related_action_foo",'
            ' "kwargs": {"limit": 10}}',
        )

    @api.constrains("related_action")
    def _check_related_action(self):
        valid_keys = ("enable", "func_name", "kwargs")
        for record in self:
            if any(key not in valid_keys for key in record.related_action or {}):
                raise exceptions.UserError(
                    record._related_action_format_error_message()
                )

    @api.constrains("timeout")
    def _check_timeout(self):
        for record in self:
            if record.timeout < 0:
                raise exceptions.ValidationError(
                    _("The timeout of %s cannot be negative.", record.name)
                )

    @api.model_create_multi
    def create(self, vals_list):
        """Merge job functions declared by several modules while installing them.

        During module data loading (``install_mode``), a function whose name
        (given, or derived from ``model_id`` and ``method``) already exists is
        reused (and updated, unless its XML record is ``noupdate``). The
        result keeps the order of ``vals_list`` for the XML loader.
        """
        if self.env.context.get("install_mode"):
            records = create_merging_declared(
                self, vals_list, self._find_declared, super().create
            )
        else:
            records = super().create(vals_list)
        self.clear_caches()
        return records

    def _find_declared(self, vals):
        name = vals.get("name") or self._name_from_vals(vals)
        return self.search([("name", "=", name)], limit=1) if name else self.browse()

    def _name_from_vals(self, vals):
        if not (vals.get("model_id") and vals.get("method")):
            return None
        model = self.env["ir.model"].browse(vals["model_id"]).exists()
        return self.job_function_name(model.model, vals["method"]) if model else None

    def write(self, vals):
        result = super().write(vals)
        self.clear_caches()
        return result

    def unlink(self):
        result = super().unlink()
        self.clear_caches()
        return result

    @staticmethod
    def job_function_name(model_name, method_name):
        return f"<{model_name}>.{method_name}"

    def job_default_config(self):
        return self.JobConfig(
            channel="root",
            retry_pattern={},
            related_action_enable=True,
            related_action_func_name=None,
            related_action_kwargs={},
            job_function_id=None,
        )

    def _parse_retry_pattern(self):
        """The retry pattern with int keys (JSON object keys are strings)."""
        try:
            return {
                int(try_count): delay
                for try_count, delay in (self.retry_pattern or {}).items()
            }
        except ValueError:
            _logger.error(
                "Invalid retry pattern for job function %s,"
                " keys could not be parsed as integers, fallback"
                " to the default retry pattern.",
                self.name,
            )
            return {}

    @tools.ormcache("name")
    def job_config(self, name):
        config = self.search([("name", "=", name)], limit=1)
        if not config:
            return self.job_default_config()
        related_action = config.related_action or {}
        return self.JobConfig(
            channel=config.channel,
            retry_pattern=config._parse_retry_pattern(),
            related_action_enable=related_action.get("enable", True),
            related_action_func_name=related_action.get("func_name"),
            related_action_kwargs=related_action.get("kwargs", {}),
            job_function_id=config.id,
            timeout=config.timeout or None,
            retry_on_timeout=config.retry_on_timeout,
        )
