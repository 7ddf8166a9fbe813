# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
from datetime import timedelta
from pathlib import Path

from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from .. import job_figures
from ..jobrunner.served_database import STANDBY

OBSERVABILITY_SQL = (
    Path(__file__).resolve().parent.parent / "sql" / "queue_job_observability.sql"
)
MANAGER_GROUP = "queue_job.group_queue_job_manager"

# Figures of a channel card that open a list of jobs: the domain of each, on
# top of the channel's.
STATE_FIGURES = ("wait_dependencies", "pending", "enqueued", "started", "failed")


class QueueJobOverview(models.AbstractModel):
    """The figures of Job Queue > Overview, and the job lists they open.

    Also creates what they read besides queue_job (the runner's heartbeat
    table, the job counters and their trigger, the index on ``date_done``),
    at each install and update of the addon.
    """

    _name = "queue.job.overview"
    _description = "Job Queue Overview"

    def init(self):
        self.env.cr.execute(OBSERVABILITY_SQL.read_text())

    def _check_manager(self):
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only job queue managers can see the overview."))

    @api.model
    def overview_data(self):
        """What the overview shows: a card per channel, the runner panel."""
        self._check_manager()
        figures = job_figures.collect(self.env.cr)
        leader = figures["leader"]
        last_leader = job_figures.last_leader(figures["runners"])
        return {
            "channels": list(figures["channels"].values()),
            "standbys": [
                dict(row, channels=None)
                for row in figures["runners"]
                if row["alive"] and row["role"] == STANDBY
            ],
            "leader": leader and dict(leader, channels=None),
            "runner_up": leader is not None,
            "last_leader": last_leader and dict(last_leader, channels=None),
            "liveness_seconds": job_figures.RUNNER_LIVENESS_SECONDS,
            "recent_minutes": list(job_figures.RECENT_MINUTES),
        }

    @api.model
    def figure_domain(self, channel, figure):
        """The domain of the jobs behind ``figure`` of ``channel``'s card:
        a state, ``running``, ``oldest_pending``, or ``done_<minutes>`` /
        ``failed_<minutes>`` (ended in the last minutes)."""
        domain = [("channel", "=", channel)]
        if figure in STATE_FIGURES:
            return domain + [("state", "=", figure)]
        if figure == "running":
            return domain + [("state", "in", list(job_figures.RUNNING_STATES))]
        if figure == "oldest_pending":
            return domain + [("state", "=", "pending")]
        state, _sep, minutes = figure.partition("_")
        if state in ("done", "failed") and minutes.isdigit():
            since = fields.Datetime.now() - timedelta(minutes=int(minutes))
            column = "date_done" if state == "done" else "date_started"
            return domain + [("state", "=", state), (column, ">=", since)]
        raise ValueError("unknown figure %r" % figure)

    @api.model
    def jobs_action(self, channel, figure):
        """The jobs list of ``figure`` of ``channel`` (see ``figure_domain``)."""
        self._check_manager()
        return {
            "type": "ir.actions.act_window",
            "name": _("Jobs of %(channel)s", channel=channel),
            "res_model": "queue.job",
            "views": [
                [self.env.ref("queue_job.view_queue_job_tree").id, "list"],
                [False, "form"],
            ],
            "search_view_id": [self.env.ref("queue_job.view_queue_job_search").id],
            "domain": self.figure_domain(channel, figure),
            "context": {},
            "target": "current",
        }
