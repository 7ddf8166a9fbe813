# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
import math
from pathlib import Path

from odoo import _, api, exceptions, fields, models
from odoo.tools import html_escape

from ..install_merge import create_merging_declared
from ..jobrunner.channels import ChannelManager, effective_settings, record_settings
from ..jobrunner.database import DATABASE_UUID_PARAM

CHANNEL_NOTIFY_TRIGGER_SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "queue_job_channel_notify.sql"
)


def _in_channel(job_channel, name):
    """Whether a job's channel is ``name`` or one of its sub-channels."""
    job_channel = job_channel or "root"
    if job_channel != "root" and not job_channel.startswith("root."):
        job_channel = "root." + job_channel
    return job_channel == name or job_channel.startswith(name + ".")


class QueueJobChannel(models.Model):
    """Named channels: default channel of job functions, vacuum intervals,
    and this database's overrides of the runner's channel settings.

    The job runner's configuration (file, environment) gives the channels'
    capacities; a value set here overrides it for the jobs of this database
    only, and the running runner applies it at once (the
    ``queue_job_channel_notify`` trigger tells it what changed).
    """

    _name = "queue.job.channel"
    _description = "Job Channels"

    name = fields.Char()
    complete_name = fields.Char(
        compute="_compute_complete_name", store=True, readonly=True, recursive=True
    )
    parent_id = fields.Many2one(
        comodel_name="queue.job.channel", string="Parent Channel", ondelete="restrict"
    )
    job_function_ids = fields.One2many(
        comodel_name="queue.job.function",
        inverse_name="channel_id",
        string="Job Functions",
    )
    removal_interval = fields.Integer(
        default=lambda self: self.env["queue.job"]._removal_interval,
        required=True,
        help="Number of days after which done and cancelled jobs of this "
        "channel are deleted by the autovacuum.",
    )
    capacity = fields.Integer(
        help="Jobs of this database the channel runs at the same time. "
        "0 leaves the capacity of the job runner's configuration.",
    )
    sequential = fields.Boolean(
        help="Run the jobs one after the other, in order, stopping at a "
        "failed one (the capacity must then be 1). Unticked leaves the job "
        "runner's configuration.",
    )
    throttle = fields.Float(
        string="Throttle (s)",
        help="Minimum delay in seconds between two starts in this channel. "
        "0 leaves the throttle of the job runner's configuration.",
    )
    paused = fields.Boolean(
        help="A paused channel and its sub-channels start no new job of this "
        "database; running jobs finish.",
    )
    pause_reason = fields.Char(
        readonly=True,
        help="Why the channel was paused, when it was not paused by hand "
        "(e.g. a copied database).",
    )
    effective_capacity = fields.Char(compute="_compute_effective_settings")
    effective_sequential = fields.Char(compute="_compute_effective_settings")
    effective_throttle = fields.Char(compute="_compute_effective_settings")
    effective_state = fields.Char(
        string="Status", compute="_compute_effective_settings"
    )

    _sql_constraints = [
        ("name_uniq", "unique(complete_name)", "Channel complete name must be unique")
    ]

    @api.depends("name", "parent_id.complete_name")
    def _compute_complete_name(self):
        for record in self:
            if not record.name:
                record.complete_name = ""
            elif record.parent_id:
                record.complete_name = "%s.%s" % (
                    record.parent_id.complete_name,
                    record.name,
                )
            else:
                record.complete_name = record.name

    @api.constrains("parent_id", "name")
    def parent_required(self):
        # Named like upstream (not _check_*): addons override it by this name.
        for record in self:
            if record.name != "root" and not record.parent_id:
                raise exceptions.ValidationError(_("Parent channel required."))

    @api.model
    def _runner_channel_manager(self):
        """The channels of the job runner's configuration (file and
        environment, as the runner reads them), for the effective settings."""
        from ..jobrunner.runner import _channels

        manager = ChannelManager()
        try:
            manager.simple_configure(_channels())
        except ValueError:
            # The runner refuses to start on it; show the records alone.
            manager = ChannelManager()
        return manager

    @api.depends("complete_name", "capacity", "sequential", "throttle", "paused")
    def _compute_effective_settings(self):
        manager = self._runner_channel_manager()
        paused = {
            channel.complete_name for channel in self.search([("paused", "=", True)])
        }
        for record in self:
            record.update(record._effective_settings_display(manager, paused))

    def _effective_settings_display(self, manager, paused_names):
        name = self.complete_name or "root"
        file_settings = manager._file_settings(manager._full_name(name))
        record = record_settings(
            self.capacity, self.sequential, self.throttle, self.paused
        )
        error = None
        try:
            settings = effective_settings(name, file_settings, record)
        except ValueError as exc:
            error = str(exc)
            settings = effective_settings(name, file_settings, {})
        sources = settings["sources"]

        def origin(key):
            if sources[key] == "record":
                return _("this record")
            return _("configuration file / environment")

        capacity = settings["capacity"]
        throttle = settings["throttle"]
        state = _("Running")
        ancestor = name.rpartition(".")[0]
        while ancestor:
            if ancestor in paused_names:
                state = _("Paused by %(channel)s", channel=ancestor)
                break
            ancestor = ancestor.rpartition(".")[0]
        if self.paused:
            state = self.pause_reason or _("Paused")
        if error:
            state = _(
                "Not applied (%(error)s): the configuration's settings apply",
                error=error,
            )
        return {
            "effective_capacity": "%s (%s)"
            % (capacity or _("unlimited"), origin("capacity")),
            "effective_sequential": "%s (%s)"
            % (
                _("yes") if settings["sequential"] else _("no"),
                origin("sequential"),
            ),
            "effective_throttle": "%s (%s)"
            % (
                _("%(seconds)s s", seconds=throttle) if throttle else _("none"),
                origin("throttle"),
            ),
            "effective_state": state,
        }

    def init(self):
        # Re-created at each install and update: the runner applies the
        # changes of the settings as they are committed.
        self.env.cr.execute(CHANNEL_NOTIFY_TRIGGER_SQL.read_text())
        # The uuid this database had when queue_job came: a copy has a new
        # one, and the job runner then pauses its root channel.
        params = self.env["ir.config_parameter"].sudo()
        if not params.get_param(DATABASE_UUID_PARAM):
            params.set_param(DATABASE_UUID_PARAM, params.get_param("database.uuid"))

    @api.constrains("capacity")
    def _check_capacity(self):
        for record in self:
            if record.capacity < 0:
                raise exceptions.ValidationError(
                    _(
                        "Channel %(channel)s: the capacity cannot be negative"
                        " (0 leaves the job runner's configuration).",
                        channel=record.complete_name,
                    )
                )

    @api.constrains("sequential", "capacity")
    def _check_sequential(self):
        for record in self:
            if record.sequential and record.capacity != 1:
                raise exceptions.ValidationError(
                    _(
                        "Channel %(channel)s: a sequential channel must have a"
                        " capacity of 1.",
                        channel=record.complete_name,
                    )
                )

    @api.constrains("throttle")
    def _check_throttle(self):
        for record in self:
            if not math.isfinite(record.throttle) or record.throttle < 0:
                raise exceptions.ValidationError(
                    _(
                        "Channel %(channel)s: the throttle must be a positive"
                        " number of seconds (0 leaves the job runner's"
                        " configuration).",
                        channel=record.complete_name,
                    )
                )

    def action_pause(self):
        """Start no new job of these channels (and sub-channels) here."""
        self.write({"paused": True})
        return True

    def action_resume(self):
        """Let these channels start jobs again."""
        self.write({"paused": False})
        return True

    @api.model
    def _paused_banner_html(self):
        """HTML of the jobs list's banner: one line per paused channel with
        the number of its pending jobs (sub-channels included); empty when
        nothing is paused."""
        paused = self._paused_channel_names()
        if not paused:
            return ""
        groups = self.env["queue.job"].read_group(
            [("state", "=", "pending")], ["channel"], ["channel"], lazy=False
        )
        lines = []
        for name in sorted(paused):
            waiting = sum(
                group["__count"]
                for group in groups
                if _in_channel(group["channel"], name)
            )
            text = _(
                "Channel %(channel)s is paused: %(count)s pending jobs wait"
                " until it is resumed.",
                channel=name,
                count=waiting,
            )
            if paused[name]:
                text += " " + paused[name]
            lines.append("<div>%s</div>" % html_escape(text))
        return '<div class="alert alert-warning mb-0" role="status">%s</div>' % (
            "".join(lines)
        )

    @api.model
    def _paused_channel_names(self):
        """``{complete name: why}`` of the paused channels."""
        return {
            channel.complete_name: channel.pause_reason or ""
            for channel in self.sudo().search([("paused", "=", True)])
        }

    @api.model_create_multi
    def create(self, vals_list):
        """Merge channels declared by several modules while installing them.

        During module data loading (``install_mode``), a channel with the same
        name and parent as an existing one is reused (and updated, unless its
        XML record is ``noupdate``) instead of failing on the unique complete
        name. The result keeps the order of ``vals_list``, which the XML
        loader relies on to bind XML ids.
        """
        if not self.env.context.get("install_mode"):
            return super().create(vals_list)
        return create_merging_declared(
            self, vals_list, self._find_declared, super().create
        )

    def _find_declared(self, vals):
        if not (vals.get("name") and vals.get("parent_id")):
            return self.browse()
        return self.search(
            [("name", "=", vals["name"]), ("parent_id", "=", vals["parent_id"])],
            limit=1,
        )

    def write(self, vals):
        if "paused" in vals and not vals["paused"]:
            vals = dict(vals, pause_reason=False)
        if not self.env.context.get("install_mode") and (
            "name" in vals or "parent_id" in vals
        ):
            if any(channel._is_root() for channel in self):
                raise exceptions.UserError(_("Cannot change the root channel"))
        result = super().write(vals)
        if "name" in vals or "parent_id" in vals:
            # job_config() caches the complete name of the function's channel.
            self.env["queue.job.function"].clear_caches()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_root(self):
        if any(channel._is_root() for channel in self):
            raise exceptions.UserError(_("Cannot remove the root channel"))

    def name_get(self):
        return [(record.id, record.complete_name) for record in self]

    def _is_root(self):
        self.ensure_one()
        return self.name == "root" and not self.parent_id
