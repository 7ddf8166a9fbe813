# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import logging
import random

from odoo import _, api, exceptions, fields, models
from odoo.addons.base_sparse_field.models.fields import Serialized

from .. import job_table
from ..exception import JobError
from ..fast_paths import sql_store
from ..fields import JobSerialized
from ..job import Job
from ..job_table import MOSTLY_EMPTY_INDEXED_COLUMNS  # noqa: F401
from ..lifecycle import (
    CANCELLED,
    DONE,
    FAILED,
    MANUAL_STATES,
    PENDING,
    STATES,
    WAIT_DEPENDENCIES,
)

_logger = logging.getLogger(__name__)


class QueueJob(models.Model):
    """A job: a method call stored to be executed later by the job runner.

    Rows are written by :class:`~odoo.addons.queue_job.job.Job` (``store()``)
    with the edit sentinel in the context; users and RPC may only change the
    scheduling fields (priority, eta, channel, retries, ...) and the state
    through the actions.
    """

    _name = "queue.job"
    _description = "Queue Job"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _log_access = False
    _order = "date_created DESC, date_done DESC"

    _removal_interval = 30  # days
    _default_related_action = "related_action_open_record"

    # A unique in-process object: it cannot be sent over RPC, so only code
    # running in the server (Job.store) can create jobs or edit their core data.
    EDIT_SENTINEL = object()
    _protected_fields = (
        "uuid",
        "name",
        "date_created",
        "model_name",
        "method_name",
        "func_string",
        "channel_method_name",
        "job_function_id",
        "records",
        "args",
        "kwargs",
    )

    uuid = fields.Char(string="UUID", readonly=True, index=True, required=True)
    graph_uuid = fields.Char(
        string="Graph UUID",
        readonly=True,
        index=True,
        help="Single shared identifier of a Graph. Empty for a single job.",
    )
    user_id = fields.Many2one(comodel_name="res.users", string="User ID")
    company_id = fields.Many2one(comodel_name="res.company", index=True)
    name = fields.Char(string="Description", readonly=True)

    model_name = fields.Char(string="Model", readonly=True)
    method_name = fields.Char(readonly=True)
    # kept for backward compatibility: the ids of ``records``
    record_ids = JobSerialized(base_type=list, compute="_compute_record_ids")
    records = JobSerialized(
        string="Record(s)", readonly=True, base_type=models.BaseModel
    )
    dependencies = Serialized(readonly=True)
    args = JobSerialized(readonly=True, base_type=tuple)
    kwargs = JobSerialized(readonly=True, base_type=dict)
    func_string = fields.Char(string="Task", readonly=True)

    state = fields.Selection(STATES, readonly=True, required=True, index=True)
    priority = fields.Integer()
    exc_name = fields.Char(string="Exception", readonly=True)
    exc_message = fields.Char(string="Exception Message", readonly=True, tracking=True)
    exc_info = fields.Text(string="Exception Info", readonly=True)
    result = fields.Text(readonly=True)

    date_created = fields.Datetime(string="Created Date", readonly=True)
    date_started = fields.Datetime(string="Start Date", readonly=True)
    date_enqueued = fields.Datetime(string="Enqueue Time", readonly=True)
    date_done = fields.Datetime(readonly=True)
    exec_time = fields.Float(
        string="Execution Time (avg)",
        group_operator="avg",
        help="Time required to execute this job in seconds. Average when grouped.",
    )
    date_cancelled = fields.Datetime(readonly=True)

    eta = fields.Datetime(string="Execute only after")
    retry = fields.Integer(string="Current try")
    max_retries = fields.Integer(
        string="Max. retries",
        help="The job will fail if the number of tries reach the "
        "max. retries.\n"
        "Retries are infinite when empty.",
    )
    timeout = fields.Float(
        string="Timeout (s)",
        help="Seconds this job may run: past them, it is interrupted inside "
        "its worker and its transaction rolled back. 0: the timeout of its "
        "job function, if any.",
    )
    # the name of the job function: "<model>.method"
    channel_method_name = fields.Char(string="Complete Method Name", readonly=True)
    job_function_id = fields.Many2one(comodel_name="queue.job.function", readonly=True)

    channel = fields.Char(index=True)

    identity_key = fields.Char(readonly=True)
    worker_pid = fields.Integer(readonly=True)
    waiting_reason = fields.Char(
        string="Waiting Because",
        compute="_compute_waiting_reason",
        help="Why a pending job does not start (its channel is paused).",
    )

    @api.depends("state", "channel")
    def _compute_waiting_reason(self):
        paused = self.env["queue.job.channel"]._paused_channel_names()
        for job in self:
            job.waiting_reason = job._paused_by(paused) if paused else False

    def _paused_by(self, paused):
        """Why this job waits, when it is pending in a paused channel (or
        below one); False otherwise."""
        if self.state != PENDING:
            return False
        name = self.channel or "root"
        if name != "root" and not name.startswith("root."):
            name = "root." + name
        while name:
            if name in paused:
                if paused[name]:
                    return _(
                        "Channel %(channel)s is paused: %(reason)s",
                        channel=name,
                        reason=paused[name],
                    )
                return _("Channel %(channel)s is paused", channel=name)
            name = name.rpartition(".")[0]
        return False

    def init(self):
        job_table.create_indexes(self)

    def _job_sql_store_plan(self):
        """When ``Job.store()`` may write rows in SQL (see
        ``queue_job.fast_paths.sql_store``), decided now: an automated action
        or an override installed since the last call takes the ORM's path at
        once."""
        return sql_store.build_plan(self.sudo())

    @api.depends("records")
    def _compute_record_ids(self):
        for record in self:
            record.record_ids = record.records.ids

    @api.model_create_multi
    def create(self, vals_list):
        if self.env.context.get("_job_edit_sentinel") is not self.EDIT_SENTINEL:
            # Prevent to create a queue.job record "raw" from RPC.
            # ``with_delay()`` must be used.
            raise exceptions.AccessError(
                _("Queue jobs must be created by calling 'with_delay()'.")
            )
        return super(
            QueueJob,
            self.with_context(mail_create_nolog=True, mail_create_nosubscribe=True),
        ).create(vals_list)

    def write(self, vals):
        if self.env.context.get("_job_edit_sentinel") is not self.EDIT_SENTINEL:
            write_on_protected_fields = [
                fieldname for fieldname in vals if fieldname in self._protected_fields
            ]
            if write_on_protected_fields:
                raise exceptions.AccessError(
                    _("Not allowed to change field(s): %s", write_on_protected_fields)
                )

        rebound_jobs = self.browse()
        if vals.get("user_id"):
            # The job runs as the user its records are bound to: keep them in
            # sync with user_id (which exists to search and group by).
            rebound_jobs = self.filtered(
                lambda job: job.records.env.uid != vals["user_id"]
            )

        if vals.get("state") == FAILED:
            self._message_post_on_failure()

        result = super().write(vals)

        for job in rebound_jobs:
            super(QueueJob, job).write(
                {"records": job.records.with_user(vals["user_id"])}
            )
        return result

    def open_related_action(self):
        """Open the related action associated to the job"""
        self.ensure_one()
        job = Job.load(self.env, self.uuid)
        action = job.related_action()
        if action is None:
            raise exceptions.UserError(_("No action available for this job"))
        return action

    def _change_job_state(self, state, result=None):
        """Change the state of the `Job` object

        Changing the state of the Job will automatically change some fields
        (date, result, ...).
        """
        if state not in MANUAL_STATES:
            raise ValueError("State not supported: %s" % state)
        for record in self:
            try:
                job_ = Job.load(record.env, record.uuid)
            except JobError as err:
                if state == PENDING:
                    raise exceptions.UserError(str(err)) from err
                record._close_unloadable_job(state, result)
                continue
            if state == DONE:
                job_.set_done(result=result)
                job_.store()
                record.env["queue.job"].flush()
                job_.enqueue_waiting()
            elif state == PENDING:
                job_.set_pending(result=result)
                job_.store()
            else:
                job_.set_cancelled(result=result)
                job_.store()
        if state == CANCELLED:
            self._cancel_waiting_dependents()

    def _close_unloadable_job(self, state, result):
        """Set done or cancelled a job that cannot be loaded any more.

        Its model or method is gone (addon uninstalled): it can never run
        again, but it must still be possible to close it.
        """
        vals = {"state": state, "result": result or False}
        if state == DONE:
            vals.update(
                date_done=fields.Datetime.now(),
                exc_name=False,
                exc_message=False,
                exc_info=False,
            )
        else:
            vals["date_cancelled"] = fields.Datetime.now()
        self.with_context(_job_edit_sentinel=self.EDIT_SENTINEL).write(vals)

    def _cancel_waiting_dependents(self):
        """Cancel the jobs waiting on these (cancelled) jobs, recursively.

        A job runs only when all its parents are done: once a parent is
        cancelled, its waiting dependents can never run, so they are
        cancelled too instead of waiting forever.
        """
        child_uuids = set()
        for record in self:
            child_uuids.update(
                (record.dependencies or {}).get("reverse_depends_on") or ()
            )
        if not child_uuids:
            return
        # sudo: dependents hidden by record rules must not wait forever either
        dependents = self.sudo().search(
            [("uuid", "in", list(child_uuids)), ("state", "=", WAIT_DEPENDENCIES)]
        )
        if dependents:
            dependents._change_job_state(
                CANCELLED,
                result=_("Cancelled because a job it depends on was cancelled"),
            )

    def button_done(self):
        result = _("Manually set to done by %s", self.env.user.name)
        self._change_job_state(DONE, result=result)
        return True

    def button_cancelled(self):
        result = _("Cancelled by %s", self.env.user.name)
        self._change_job_state(CANCELLED, result=result)
        return True

    def requeue(self):
        jobs_to_requeue = self.filtered(lambda job: job.state != WAIT_DEPENDENCIES)
        jobs_to_requeue._change_job_state(PENDING)
        return jobs_to_requeue

    def _message_post_on_failure(self):
        # subscribe the users now to avoid to subscribe them
        # at every job creation
        domain = self._subscribe_users_domain()
        base_users = self.env["res.users"].search(domain)
        for record in self:
            users = base_users | record.user_id
            record.message_subscribe(partner_ids=users.mapped("partner_id").ids)
            msg = record._message_failed_job()
            if msg:
                record.message_post(body=msg, subtype_xmlid="queue_job.mt_job_failed")

    def _subscribe_users_domain(self):
        """Subscribe all users having the 'Queue Job Manager' group"""
        group = self.env.ref("queue_job.group_queue_job_manager")
        companies = self.mapped("company_id")
        domain = [("groups_id", "=", group.id)]
        if companies:
            domain.append(("company_id", "in", companies.ids))
        return domain

    def _message_failed_job(self):
        """Return a message which will be posted on the job when it is failed.

        It can be inherited to allow more precise messages based on the
        exception informations.

        If nothing is returned, no message will be posted.
        """
        self.ensure_one()
        return _(
            "Something bad happened during the execution of job %s. "
            "More details in the 'Exception Information' section.",
            self.uuid,
        )

    def _needaction_domain_get(self):
        """Returns the domain to filter records that require an action

        :return: domain or False is no action
        """
        return [("state", "=", FAILED)]

    def related_action_open_record(self):
        """Open a form view with the record(s) of the job.

        For instance, for a job on a ``product.product``, it will open a
        ``product.product`` form view with the product record(s) concerned by
        the job. If the job concerns more than one record, it opens them in a
        list.

        This is the default related action.
        """
        self.ensure_one()
        records = self.records.exists()
        if not records:
            return None
        action = {
            "name": _("Related Record"),
            "type": "ir.actions.act_window",
            "view_mode": "form",
            "res_model": records._name,
        }
        if len(records) == 1:
            action["res_id"] = records.id
        else:
            action.update(
                {
                    "name": _("Related Records"),
                    "view_mode": "tree,form",
                    "domain": [("id", "in", records.ids)],
                }
            )
        return action

    def _test_job(self, failure_rate=0):
        """Job of the /queue_job/create_test_job route: fails at failure_rate."""
        _logger.info("Running test job.")
        if random.random() <= failure_rate:
            raise JobError("Job failed")
