# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import _, api, exceptions, fields, models

from ..install_merge import create_merging_declared


class QueueJobChannel(models.Model):
    """Named channels: default channel of job functions and vacuum intervals.

    Capacities are not stored here: they belong to the job runner's
    configuration, these records only give names to channels.
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
