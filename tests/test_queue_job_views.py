"""Views, actions and menus of the Job Queue, as the web client loads them."""
import json

from lxml import etree
from odoo.tests.common import TransactionCase


class TestViews(TransactionCase):
    def _arch(self, model, view_type, xmlid=None):
        view_id = self.env.ref(xmlid).id if xmlid else None
        result = self.env[model].fields_view_get(view_id=view_id, view_type=view_type)
        return etree.fromstring(result["arch"]), result["fields"]

    def test_job_views_load(self):
        for view_type, xmlid in (
            ("form", "queue_job.view_queue_job_form"),
            ("tree", "queue_job.view_queue_job_tree"),
            ("search", "queue_job.view_queue_job_search"),
            ("pivot", "queue_job.view_queue_job_pivot"),
            ("graph", "queue_job.view_queue_job_graph"),
        ):
            with self.subTest(view_type=view_type):
                arch, fields = self._arch("queue.job", view_type, xmlid)
                self.assertEqual(arch.tag, view_type)
                self.assertTrue(fields)

    def test_job_form(self):
        arch, fields = self._arch("queue.job", "form", "queue_job.view_queue_job_form")
        buttons = {b.get("name"): b for b in arch.iter("button") if b.get("name")}
        self.assertEqual(
            set(buttons),
            {
                "requeue",
                "button_done",
                "button_cancelled",
                "open_related_action",
                "open_graph_jobs",
            },
        )
        graph = arch.xpath("//field[@name='dependency_graph']")[0]
        self.assertEqual(graph.get("widget"), "job_directed_graph")
        self.assertIn("graph_jobs_count", fields)
        self.assertEqual(arch.get("create"), "false")
        # the stat button and the dependencies page hide on the one
        # graph_uuid field of the form (shown in debug mode only)
        self.assertEqual(len(arch.xpath("//field[@name='graph_uuid']")), 1)
        for node in (
            buttons["open_graph_jobs"],
            arch.xpath("//page[@name='dependencies']")[0],
        ):
            modifiers = json.loads(node.get("modifiers"))
            self.assertEqual(modifiers["invisible"], [["graph_uuid", "=", False]])

    def test_job_form_exception(self):
        arch, fields = self._arch("queue.job", "form", "queue_job.view_queue_job_form")
        results = arch.xpath("//page[@name='results']")[0]
        self.assertEqual(
            json.loads(results.get("modifiers"))["invisible"],
            [["result", "=", False], ["exc_info", "=", False]],
        )
        block = results.xpath("group[@name='exc_info']/div[@id='exc_name']")[0]
        # the exception's name, its message, then the traceback
        self.assertEqual(
            [node.get("name") for node in block.iter("field")],
            ["exc_name", "exc_message"],
        )
        self.assertEqual(block.getnext().get("name"), "exc_info")
        self.assertTrue({"exc_name", "exc_message", "exc_info"} <= set(fields))

    def test_job_search_filters(self):
        arch, __ = self._arch("queue.job", "search", "queue_job.view_queue_job_search")
        filters = {f.get("name") for f in arch.iter("filter")}
        self.assertTrue(
            {
                "wait_dependencies",
                "pending",
                "enqueued",
                "started",
                "done",
                "failed",
                "cancelled",
                "group_by_channel",
                "group_by_job_function_id",
                "group_by_state",
                "group_by_model_name",
                "group_by_exc_name",
                "group_by_exc_message",
                "group_by_graph",
            }
            <= filters
        )

    def test_job_action_default_filters(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "queue_job.action_queue_job"
        )
        self.assertEqual(action["view_mode"], "tree,form,pivot,graph")
        context = action["context"]
        for state in ("wait_dependencies", "pending", "enqueued", "started", "failed"):
            self.assertIn("'search_default_%s': 1" % state, context)
        for state in ("done", "cancelled"):
            self.assertNotIn("search_default_%s'" % state, context)

    def test_channel_and_function_views_load(self):
        for model, view_types in (
            ("queue.job.channel", ("form", "tree", "search")),
            ("queue.job.function", ("form", "tree", "search")),
            ("queue.requeue.job", ("form",)),
            ("queue.jobs.to.done", ("form",)),
            ("queue.jobs.to.cancelled", ("form",)),
        ):
            for view_type in view_types:
                with self.subTest(model=model, view_type=view_type):
                    arch, __ = self._arch(model, view_type)
                    self.assertEqual(arch.tag, view_type)

    def test_menus(self):
        root = self.env.ref("queue_job.menu_queue_job_root")
        self.assertEqual(
            root.groups_id, self.env.ref("queue_job.group_queue_job_manager")
        )
        self.assertEqual(root.web_icon, "queue_job,static/description/icon.png")
        for xmlid, action_xmlid, sequence in (
            ("queue_job.menu_queue_job", "queue_job.action_queue_job", 10),
            (
                "queue_job.menu_queue_job_channel",
                "queue_job.action_queue_job_channel",
                12,
            ),
            (
                "queue_job.menu_queue_job_function",
                "queue_job.action_queue_job_function",
                14,
            ),
        ):
            menu = self.env.ref(xmlid)
            self.assertEqual(menu.action, self.env.ref(action_xmlid))
            self.assertEqual(menu.sequence, sequence)
            self.assertEqual(menu.parent_id, self.env.ref("queue_job.menu_queue"))

    def test_technical_menus(self):
        """Settings > Technical > Job Queue opens the same screens (issue 6)."""
        technical = self.env.ref("queue_job.menu_queue_job_technical")
        self.assertEqual(technical.parent_id, self.env.ref("base.menu_custom"))
        self.assertEqual(
            technical.groups_id, self.env.ref("queue_job.group_queue_job_manager")
        )
        self.assertEqual(
            technical.child_id.mapped("action"),
            self.env.ref("queue_job.menu_queue").child_id.mapped("action"),
        )
        self.assertEqual(technical.complete_name, "Settings/Technical/Job Queue")

    def test_manager_group(self):
        group = self.env.ref("queue_job.group_queue_job_manager")
        self.assertIn(self.env.ref("base.user_admin"), group.users)
        self.assertEqual(
            group.category_id, self.env.ref("queue_job.module_category_queue_job")
        )
