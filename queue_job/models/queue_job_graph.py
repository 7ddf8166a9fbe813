# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``queue.job``: the dependency graph of a job, for its form."""
from odoo import _, api, fields, models
from odoo.addons.base_sparse_field.models.fields import Serialized
from odoo.tools import html_escape

from ..job_graph import dependency_edges
from ..lifecycle import DONE, FAILED, STARTED

# (background, border) colors of the nodes of the dependency graph widget
GRAPH_NODE_COLORS = {
    DONE: ("#C2FABC", "#4AD63A"),
    FAILED: ("#FB7E81", "#FA0A10"),
    STARTED: ("#FFFF00", "#FFA500"),
}
GRAPH_NODE_DEFAULT_COLORS = ("#D2E5FF", "#2B7CE9")


class QueueJob(models.Model):
    _inherit = "queue.job"

    # the field is named "dependency_graph" for the job_directed_graph widget
    dependency_graph = Serialized(compute="_compute_dependency_graph")
    graph_jobs_count = fields.Integer(compute="_compute_graph_jobs_count")

    @api.depends("dependencies")
    def _compute_dependency_graph(self):
        jobs_by_graph = self._graph_jobs_by_graph_uuid()
        for record in self:
            graph_jobs = jobs_by_graph.get(record.graph_uuid)
            if not record.graph_uuid or not graph_jobs:
                record.dependency_graph = {}
                continue
            edges = dependency_edges(
                (job.id, job.uuid, job.dependencies) for job in graph_jobs
            )
            record.dependency_graph = {
                "nodes": [
                    graph_job._dependency_graph_vis_node()
                    for graph_job in graph_jobs.sorted("id")
                ],
                "edges": edges,
            }

    def _dependency_graph_vis_node(self):
        """The node of this job for the vis-network graph widget."""
        color, border = GRAPH_NODE_COLORS.get(self.state, GRAPH_NODE_DEFAULT_COLORS)
        return {
            "id": self.id,
            "title": "<strong>%s</strong><br/>%s"
            % (html_escape(self.display_name), html_escape(self.func_string or "")),
            "color": color,
            "border": border,
            "shadow": True,
        }

    def _compute_graph_jobs_count(self):
        jobs_by_graph = self._graph_jobs_by_graph_uuid()
        for record in self:
            record.graph_jobs_count = len(jobs_by_graph.get(record.graph_uuid) or ())

    def _graph_jobs_by_graph_uuid(self):
        graph_uuids = {uuid for uuid in self.mapped("graph_uuid") if uuid}
        if not graph_uuids:
            return {}
        ids_by_graph = {}
        for job in self.search([("graph_uuid", "in", list(graph_uuids))]):
            ids_by_graph.setdefault(job.graph_uuid, []).append(job.id)
        return {
            graph_uuid: self.browse(ids) for graph_uuid, ids in ids_by_graph.items()
        }

    def open_graph_jobs(self):
        """Return action that opens all jobs of the same graph"""
        self.ensure_one()
        jobs = self.env["queue.job"].search([("graph_uuid", "=", self.graph_uuid)])
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "queue_job.action_queue_job"
        )
        action.update(
            {
                "name": _("Jobs for graph %s", self.graph_uuid),
                "context": {},
                "domain": [("id", "in", jobs.ids)],
            }
        )
        return action
