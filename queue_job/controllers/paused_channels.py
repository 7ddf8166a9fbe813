# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from odoo import http
from odoo.http import request


class PausedChannelsBanner(http.Controller):
    """The banner of the jobs list: which channels are paused, and how many
    pending jobs wait for them (the list's columns are fixed: addons anchor
    on them)."""

    @http.route("/queue_job/paused_channels_banner", type="json", auth="user")
    def paused_channels_banner(self, **kw):
        env = request.env
        if not env.user.has_group("queue_job.group_queue_job_manager"):
            return {"html": ""}
        return {"html": env["queue.job.channel"]._paused_banner_html()}
