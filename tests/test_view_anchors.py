"""The Job Queue views keep the structure other addons anchor on.

Addons extending these views use ``xpath`` expressions and ``<field
position=...>`` anchors written against the original 15.0 views. Every anchored
element below must keep its tag, its ``name``/``id``, its parent and its place
among its siblings, so that the same expressions find the same node. What this
addon adds goes inside or after those elements, never between (or before)
them, and no named field of a view appears twice in it.

``ANCHORS`` holds, for every view, its anchored elements as an indented
outline (indentation is nesting; elements holding only text, such as a
``span``, are not part of it). The checks run on the view's own arch and on
the arch Odoo serves (``fields_view_get``).
"""
import json
import re

from lxml import etree
from odoo.exceptions import ValidationError
from odoo.tests.common import TransactionCase
from odoo.tools.safe_eval import safe_eval

# xml id: (model, view type, outline)
ANCHORS = {
    "queue_job.view_queue_job_channel_form": (
        "queue.job.channel",
        "form",
        """
<form string='Channels'>
  <group>
    <field name='name'>
    <field name='parent_id'>
    <field name='complete_name'>
    <field name='removal_interval'>
  <group>
    <field name='job_function_ids' widget='many2many_tags'>
""",
    ),
    "queue_job.view_queue_job_channel_tree": (
        "queue.job.channel",
        "tree",
        """
<tree>
  <field name='complete_name'>
""",
    ),
    "queue_job.view_queue_job_channel_search": (
        "queue.job.channel",
        "search",
        """
<search string='Channels'>
  <field name='name'>
  <field name='complete_name'>
  <field name='parent_id'>
""",
    ),
    "queue_job.view_queue_job_function_form": (
        "queue.job.function",
        "form",
        """
<form string='Job Functions'>
  <group>
    <field name='name'>
    <field name='model_id'>
    <field name='method'>
    <field name='channel_id'>
    <field name='edit_retry_pattern' widget='ace'>
    <field name='edit_related_action' widget='ace'>
""",
    ),
    "queue_job.view_queue_job_function_tree": (
        "queue.job.function",
        "tree",
        """
<tree>
  <field name='name'>
  <field name='channel_id'>
""",
    ),
    "queue_job.view_queue_job_function_search": (
        "queue.job.function",
        "search",
        """
<search string='Job Functions'>
  <field name='name'>
  <field name='channel_id'>
  <group string='Group By'>
    <filter name='group_by_channel' string='Channel'>
""",
    ),
    "queue_job.view_queue_job_form": (
        "queue.job",
        "form",
        """
<form string='Jobs'>
  <header>
    <button name='requeue' class='oe_highlight' string='Requeue Job'>
    <button name='button_done' class='oe_highlight' string="Set to 'Done'">
    <button name='button_cancelled' class='oe_highlight' string='Cancel job'>
    <button name='open_related_action' string='Related'>
    <field name='state' widget='statusbar'>
  <sheet>
    <div class='oe_button_box' name='button_box'>
      <button name='open_graph_jobs' class='oe_stat_button'>
        <field name='graph_jobs_count' widget='statinfo' string='Graph Jobs'>
    <h1>
      <field name='name' class='oe_inline'>
    <group>
      <field name='uuid'>
      <field name='graph_uuid'>
      <field name='func_string'>
      <field name='job_function_id'>
      <field name='channel'>
    <group>
      <group>
        <field name='priority'>
        <field name='eta'>
        <field name='company_id'>
        <field name='user_id'>
        <field name='worker_pid'>
      <group>
        <field name='date_created'>
        <field name='date_enqueued'>
        <field name='date_started'>
        <field name='date_done'>
        <field name='exec_time' string='Time (s)'>
    <group>
      <div>
        <label string='Current try / max. retries'>
        <field name='retry' class='oe_inline'>
        <field name='max_retries' class='oe_inline'>
    <notebook>
      <page name='results' string='Results'>
        <group name='result' string='Result'>
          <field name='result'>
        <group name='exc_info' string='Exception Information'>
          <div id='exc_name'>
            <label string='Exception:'>
            <field name='exc_name' class='oe_inline'>
          <field name='exc_info'>
      <page name='dependencies' string='Dependencies'>
        <field name='dependency_graph' widget='job_directed_graph'>
  <div class='oe_chatter'>
    <field name='message_follower_ids' widget='mail_followers'>
    <field name='activity_ids' widget='mail_activity'>
    <field name='message_ids' widget='mail_thread'>
""",
    ),
    "queue_job.view_queue_job_tree": (
        "queue.job",
        "tree",
        """
<tree>
  <field name='name'>
  <field name='model_name'>
  <field name='state'>
  <field name='date_created'>
  <field name='eta' widget='remaining_days' string='Remaining days to execute'>
  <field name='date_done'>
  <field name='exec_time'>
  <field name='exc_name'>
  <field name='exc_message'>
  <field name='uuid'>
  <field name='channel'>
  <field name='company_id'>
""",
    ),
    "queue_job.view_queue_job_pivot": (
        "queue.job",
        "pivot",
        """
<pivot string='Jobs'>
  <field name='exec_time'>
  <field name='job_function_id'>
  <field name='date_done'>
""",
    ),
    "queue_job.view_queue_job_graph": (
        "queue.job",
        "graph",
        """
<graph string='Jobs'>
  <field name='job_function_id'>
  <field name='exec_time'>
""",
    ),
    "queue_job.view_queue_job_search": (
        "queue.job",
        "search",
        """
<search string='Jobs'>
  <field name='uuid'>
  <field name='graph_uuid'>
  <field name='name'>
  <field name='func_string'>
  <field name='channel'>
  <field name='job_function_id'>
  <field name='model_name'>
  <field name='exc_name'>
  <field name='exc_message'>
  <field name='exc_info'>
  <field name='result'>
  <field name='company_id' widget='selection'>
  <filter name='wait_dependencies' string='Wait Dependencies'>
  <filter name='pending' string='Pending'>
  <filter name='enqueued' string='Enqueued'>
  <filter name='started' string='Started'>
  <filter name='done' string='Done'>
  <filter name='failed' string='Failed'>
  <filter name='cancelled' string='Cancelled'>
  <group string='Group By'>
    <filter name='group_by_channel' string='Channel'>
    <filter name='group_by_job_function_id' string='Job Function'>
    <filter name='group_by_state' string='State'>
    <filter name='group_by_model_name' string='Model'>
    <filter name='group_by_exc_name' string='Exception'>
    <filter name='group_by_exc_message' string='Exception message'>
    <filter name='group_by_graph' string='Graph'>
""",
    ),
    "queue_job.view_set_jobs_cancelled": (
        "queue.jobs.to.cancelled",
        "form",
        """
<form>
  <group string='The selected jobs will be cancelled.'>
    <field name='job_ids'>
  <footer>
    <button name='set_cancelled' string='Cancel jobs' class='oe_highlight'>
    <button string='Cancel' class='oe_link'>
""",
    ),
    "queue_job.view_set_jobs_done": (
        "queue.jobs.to.done",
        "form",
        """
<form string='Set jobs done'>
  <group string='The selected jobs will be set to done.'>
    <field name='job_ids'>
  <footer>
    <button name='set_done' string='Set to done' class='oe_highlight'>
    <button string='Cancel' class='oe_link'>
""",
    ),
    "queue_job.view_requeue_job": (
        "queue.requeue.job",
        "form",
        """
<form string='Requeue Jobs'>
  <group string='The selected jobs will be requeued.'>
    <field name='job_ids'>
  <footer>
    <button name='requeue' string='Requeue' class='oe_highlight'>
    <button string='Cancel' class='oe_link'>
""",
    ),
}

# Expressions as extending addons write them: each finds exactly one node.
EXPRESSIONS = {
    "queue_job.view_queue_job_form": [
        "//page[@name='results']",
        "//page[@name='dependencies']",
        "//div[@id='exc_name']",
        "//field[@name='graph_uuid']",
        "//group[@name='result']",
        "//group[@name='exc_info']",
        "//div[@name='button_box']",
        "/form/header/field[@name='state']",
        "/form/sheet/group[1]/field[@name='graph_uuid']",
        "/form/sheet/group[2]/group[1]/field[@name='priority']",
        "/form/sheet/group[2]/group[2]/field[@name='date_done']",
        "/form/sheet/group[3]/div/field[@name='max_retries']",
        "/form/sheet/notebook/page[1][@name='results']",
        "/form/sheet/notebook/page[2][@name='dependencies']",
        "//page[@name='results']/group[@name='exc_info']/div[@id='exc_name']"
        "/field[@name='exc_name']",
        "//div[@id='exc_name']/following-sibling::field[1][@name='exc_info']",
        "//page[@name='dependencies']/field[@name='dependency_graph']",
        "/form/div[@class='oe_chatter']/field[@name='message_ids']",
    ],
    "queue_job.view_queue_job_channel_form": [
        "/form/group[1]/field[@name='name']",
        "/form/group[1]/field[@name='removal_interval']",
        "/form/group[2]/field[@name='job_function_ids']",
    ],
    "queue_job.view_queue_job_function_form": [
        "/form/group[1]/field[@name='name']",
        "/form/group[1]/field[@name='channel_id']",
        "/form/group/field[@name='edit_related_action']",
    ],
    "queue_job.view_queue_job_search": [
        "/search/field[@name='graph_uuid']",
        "/search/filter[1][@name='wait_dependencies']",
        "/search/group/filter[@name='group_by_graph']",
    ],
    "queue_job.view_queue_job_tree": [
        "/tree/field[1][@name='name']",
        "/tree/field[last()][@name='company_id']",
    ],
}

# Elements holding only text, left out of the outlines: they may stand
# anywhere.
TEXT_ONLY_TAGS = {"span", "p", "b", "strong", "i", "em", "br"}
# Attributes identifying an element among its siblings.
KEY_ATTRIBUTES = ("name", "id")
# Tags of views nested in a view (x2many sub-views): their fields belong to
# another view.
VIEW_TAGS = {"form", "tree", "kanban", "search", "pivot", "graph", "calendar"}

LINE = re.compile(r"^(?P<indent> *)<(?P<tag>\w+)\s*(?P<attrs>.*?)>$")
ATTRIBUTE = re.compile(r"""(\w+)=(?:'([^']*)'|"([^"]*)")""")


class Anchor:
    """An anchored element of an outline."""

    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children = []
        if parent is None:
            self.path = "/%s" % tag
        else:
            parent.children.append(self)
            rank = sum(1 for sibling in parent.children if sibling.tag == tag)
            self.path = "%s/%s[%d]" % (parent.path, tag, rank)

    def __iter__(self):
        yield self
        for child in self.children:
            yield from child

    def key(self):
        return (self.tag,) + tuple(self.attrs.get(name) for name in KEY_ATTRIBUTES)

    def __repr__(self):
        return "<%s %s>" % (
            self.tag,
            " ".join("%s=%r" % item for item in sorted(self.attrs.items())),
        )


def parse_outline(outline):
    """The root ``Anchor`` of an indented outline."""
    root = None
    stack = []  # (indent, anchor)
    for line in outline.strip("\n").splitlines():
        match = LINE.match(line)
        assert match, "bad outline line %r" % line
        indent = len(match.group("indent"))
        attrs = {
            name: single if single else double
            for name, single, double in ATTRIBUTE.findall(match.group("attrs"))
        }
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else None
        anchor = Anchor(match.group("tag"), attrs, parent)
        if parent is None:
            assert root is None, "several roots in the outline"
            root = anchor
        stack.append((indent, anchor))
    return root


def element_key(node):
    return (node.tag,) + tuple(node.get(name) for name in KEY_ATTRIBUTES)


def structural_children(node):
    """Children of ``node`` that are elements other than text-only ones."""
    return [
        child
        for child in node
        if isinstance(child.tag, str) and child.tag not in TEXT_ONLY_TAGS
    ]


def own_fields(arch):
    """Field nodes of the view itself (not of its nested sub-views)."""
    for node in arch.iter("field"):
        ancestor = node.getparent()
        while ancestor is not None and ancestor.tag not in VIEW_TAGS:
            ancestor = ancestor.getparent()
        if ancestor is arch:
            yield node


def anchor_problems(arch, root):
    """Everything in ``arch`` that differs from the outline ``root``."""
    problems = []
    if arch.tag != root.tag:
        return ["root is <%s>, expected <%s>" % (arch.tag, root.tag)]
    for anchor in root:
        nodes = arch.xpath(anchor.path) if anchor.parent else [arch]
        if len(nodes) != 1:
            problems.append("%s %r: %d nodes" % (anchor.path, anchor, len(nodes)))
            continue
        node = nodes[0]
        for name, expected in anchor.attrs.items():
            value = node.get(name)
            if name == "class":
                ok = set(expected.split()) <= set((value or "").split())
            else:
                ok = value == expected
            if not ok:
                problems.append(
                    "%s %r: %s=%r, expected %r"
                    % (anchor.path, anchor, name, value, expected)
                )
        # the anchored children come first, in this order: nothing is added
        # before or between them
        if anchor.children:
            actual = [
                element_key(child)
                for child in structural_children(node)[: len(anchor.children)]
            ]
            expected = [child.key() for child in anchor.children]
            if actual != expected:
                problems.append(
                    "%s: children start with %s, expected %s"
                    % (anchor.path, actual, expected)
                )
        # a named anchor is found by its name alone
        for attribute in KEY_ATTRIBUTES:
            value = anchor.attrs.get(attribute)
            if value:
                expression = "//%s[@%s='%s']" % (anchor.tag, attribute, value)
                count = len(arch.xpath(expression))
                if count != 1:
                    problems.append("%s finds %d nodes" % (expression, count))
    names = [node.get("name") for node in own_fields(arch)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append("fields more than once: %s" % twice)
    return problems


def eval_domain(domain, values):
    """Evaluate a modifier's domain on ``values`` as the web client does."""
    operators = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "in": lambda a, b: a in b,
        "not in": lambda a, b: a not in b,
    }
    stack = []
    for item in reversed(domain):
        if item == "!":
            stack.append(not stack.pop())
        elif item in ("&", "|"):
            first, second = stack.pop(), stack.pop()
            stack.append(first and second if item == "&" else first or second)
        else:
            name, operator, value = item
            stack.append(operators[operator](values[name], value))
    return all(stack)


class TestViewAnchors(TransactionCase):
    def own_arch(self, xmlid):
        return etree.fromstring(self.env.ref(xmlid).arch)

    def served_arch(self, xmlid, model, view_type, env=None):
        env = env or self.env
        result = env[model].fields_view_get(
            view_id=self.env.ref(xmlid).id, view_type=view_type
        )
        return etree.fromstring(result["arch"])

    def test_outlines(self):
        """The outlines themselves are well formed."""
        self.assertEqual(len(ANCHORS), 14)
        for xmlid, (_model, view_type, outline) in ANCHORS.items():
            root = parse_outline(outline)
            self.assertEqual(root.tag, view_type, xmlid)
        form = parse_outline(ANCHORS["queue_job.view_queue_job_form"][2])
        paths = {anchor.attrs.get("name"): anchor.path for anchor in form}
        self.assertEqual(paths["priority"], "/form/sheet[1]/group[2]/group[1]/field[1]")
        self.assertEqual(
            paths["exc_name"],
            "/form/sheet[1]/notebook[1]/page[1]/group[2]/div[1]/field[1]",
        )

    def test_own_arch_keeps_the_anchors(self):
        for xmlid, (model, view_type, outline) in ANCHORS.items():
            with self.subTest(view=xmlid):
                view = self.env.ref(xmlid)
                self.assertEqual((view.model, view.type), (model, view_type))
                self.assertFalse(view.inherit_id)
                problems = anchor_problems(self.own_arch(xmlid), parse_outline(outline))
                self.assertFalse(problems, "\n".join(problems))

    def test_served_arch_keeps_the_anchors(self):
        for xmlid, (model, view_type, outline) in ANCHORS.items():
            with self.subTest(view=xmlid):
                arch = self.served_arch(xmlid, model, view_type)
                problems = anchor_problems(arch, parse_outline(outline))
                self.assertFalse(problems, "\n".join(problems))

    def test_served_arch_for_a_manager_without_debug_keeps_the_anchors(self):
        """Groups (debug, multi-company) hide elements, they never remove
        anchors."""
        manager = self.env["res.users"].create(
            {
                "name": "Job Queue Manager (anchors)",
                "login": "qj_anchors_manager",
                "groups_id": [
                    (
                        6,
                        0,
                        (
                            self.env.ref("base.group_user")
                            | self.env.ref("queue_job.group_queue_job_manager")
                        ).ids,
                    )
                ],
            }
        )
        env = self.env(user=manager)
        # neither in debug mode (no request) nor multi-company
        self.assertFalse(env["base"].user_has_groups("base.group_no_one"))
        self.assertFalse(env["base"].user_has_groups("base.group_multi_company"))
        for xmlid, (model, view_type, outline) in ANCHORS.items():
            with self.subTest(view=xmlid):
                arch = self.served_arch(xmlid, model, view_type, env=env)
                problems = anchor_problems(arch, parse_outline(outline))
                self.assertFalse(problems, "\n".join(problems))

    def test_expressions_of_extending_addons(self):
        for xmlid, expressions in EXPRESSIONS.items():
            model, view_type, _outline = ANCHORS[xmlid]
            for source, arch in (
                ("own", self.own_arch(xmlid)),
                ("served", self.served_arch(xmlid, model, view_type)),
            ):
                for expression in expressions:
                    with self.subTest(view=xmlid, arch=source, xpath=expression):
                        self.assertEqual(len(arch.xpath(expression)), 1)

    def test_problems_are_reported(self):
        """The checks see a field added between anchors, or twice."""
        root = parse_outline(ANCHORS["queue_job.view_queue_job_channel_form"][2])
        arch = etree.fromstring(
            "<form string='Channels'><group>"
            "<field name='name'/><field name='parent_id'/>"
            "<field name='job_function_ids'/>"
            "<field name='complete_name'/><field name='removal_interval'/>"
            "</group><group><field name='job_function_ids'/></group></form>"
        )
        problems = anchor_problems(arch, root)
        self.assertTrue(any("children start with" in p for p in problems), problems)
        self.assertTrue(any("more than once" in p for p in problems), problems)
        arch = etree.fromstring(
            "<form string='Channels'><sheet><group>"
            "<field name='name'/></group></sheet></form>"
        )
        self.assertTrue(anchor_problems(arch, root))


class TestRootChannelForm(TransactionCase):
    XMLID = "queue_job.view_queue_job_channel_form"

    def setUp(self):
        super().setUp()
        self.root = self.env.ref("queue_job.channel_root")
        self.child = self.env["queue.job.channel"].create(
            {"name": "qj_anchors", "parent_id": self.root.id}
        )

    def _values(self, channel):
        return {
            "id": channel.id,
            "name": channel.name,
            "parent_id": channel.parent_id.id,
        }

    def _readonly(self, domain_or_bool, values):
        if isinstance(domain_or_bool, bool):
            return domain_or_bool
        return eval_domain(domain_or_bool, values)

    def _name_readonly_modifier(self, arch):
        nodes = arch.xpath("//field[@name='name']")
        self.assertEqual(len(nodes), 1)
        return json.loads(nodes[0].get("modifiers") or "{}").get("readonly", False)

    def test_name_readonly_for_the_root_channel_in_the_view(self):
        arch = etree.fromstring(self.env.ref(self.XMLID).arch)
        node = arch.xpath("//field[@name='name']")[0]
        self.assertNotIn("readonly", node.attrib)
        readonly = safe_eval(node.get("attrs"))["readonly"]
        self.assertTrue(eval_domain(readonly, self._values(self.root)))
        self.assertFalse(eval_domain(readonly, self._values(self.child)))
        new = {"id": False, "name": False, "parent_id": False}
        self.assertFalse(eval_domain(readonly, new))

    def test_name_readonly_for_the_root_channel_as_served(self):
        result = self.env["queue.job.channel"].fields_view_get(
            view_id=self.env.ref(self.XMLID).id, view_type="form"
        )
        readonly = self._name_readonly_modifier(etree.fromstring(result["arch"]))
        self.assertTrue(self._readonly(readonly, self._values(self.root)))
        self.assertFalse(self._readonly(readonly, self._values(self.child)))
        self.assertFalse(
            self._readonly(readonly, {"id": False, "name": False, "parent_id": False})
        )
        # the model's field stays writable (the root is protected by write())
        self.assertFalse(result["fields"]["name"].get("readonly"))

    def test_parent_of_the_root_channel_stays_protected(self):
        arch = etree.fromstring(self.env.ref(self.XMLID).arch)
        attrs = safe_eval(arch.xpath("//field[@name='parent_id']")[0].get("attrs"))
        self.assertTrue(eval_domain(attrs["readonly"], self._values(self.root)))
        self.assertFalse(eval_domain(attrs["required"], self._values(self.root)))
        self.assertTrue(eval_domain(attrs["required"], self._values(self.child)))


class TestInheritingViews(TransactionCase):
    """Views of other addons, written against the anchors, validate and
    apply where they aim."""

    def _extend(self, xmlid, arch):
        base = self.env.ref(xmlid)
        try:
            return self.env["ir.ui.view"].create(
                {
                    "name": "%s.qj_anchors_test" % base.name,
                    "model": base.model,
                    "inherit_id": base.id,
                    "arch": arch,
                }
            )
        except ValidationError as exc:
            self.fail("the extension of %s does not apply: %s" % (xmlid, exc))

    def _served(self, xmlid, view_type="form"):
        base = self.env.ref(xmlid)
        result = self.env[base.model].fields_view_get(
            view_id=base.id, view_type=view_type
        )
        return etree.fromstring(result["arch"]), result["fields"]

    def assertOne(self, arch, expression):
        self.assertEqual(len(arch.xpath(expression)), 1, expression)

    def test_job_form_extension(self):
        self._extend(
            "queue_job.view_queue_job_form",
            """
            <data>
                <xpath expr="//page[@name='results']" position="inside">
                    <group name="qj_probe_results" string="Probe" />
                </xpath>
                <xpath expr="//page[@name='dependencies']" position="after">
                    <page name="qj_probe_page" string="Probe" />
                </xpath>
                <xpath expr="//div[@id='exc_name']" position="after">
                    <div id="qj_probe_exc" />
                </xpath>
                <xpath expr="//field[@name='graph_uuid']" position="after">
                    <field name="model_name" />
                </xpath>
                <xpath expr="/form/sheet/group[2]/group[1]" position="inside">
                    <field name="identity_key" />
                </xpath>
                <field name="date_done" position="after">
                    <field name="date_cancelled" />
                </field>
                <field name="exc_name" position="attributes">
                    <attribute name="class">oe_inline qj_probe</attribute>
                </field>
            </data>
            """,
        )
        arch, fields = self._served("queue_job.view_queue_job_form")
        self.assertOne(arch, "//page[@name='results']/group[@name='qj_probe_results']")
        self.assertOne(
            arch,
            "/form/sheet/notebook/page[@name='dependencies']"
            "/following-sibling::page[1][@name='qj_probe_page']",
        )
        self.assertOne(
            arch,
            "//group[@name='exc_info']/div[@id='exc_name']"
            "/following-sibling::*[1][self::div[@id='qj_probe_exc']]",
        )
        self.assertOne(
            arch,
            "/form/sheet/group[1]/field[@name='graph_uuid']"
            "/following-sibling::field[1][@name='model_name']",
        )
        self.assertOne(
            arch, "/form/sheet/group[2]/group[1]/field[@name='identity_key']"
        )
        self.assertOne(
            arch,
            "/form/sheet/group[2]/group[2]/field[@name='date_done']"
            "/following-sibling::field[1][@name='date_cancelled']",
        )
        self.assertOne(arch, "//div[@id='exc_name']/field[@class='oe_inline qj_probe']")
        self.assertIn("identity_key", fields)

    def test_channel_form_extension(self):
        self._extend(
            "queue_job.view_queue_job_channel_form",
            """
            <data>
                <xpath expr="/form/group[2]" position="inside">
                    <field name="display_name" />
                </xpath>
                <xpath expr="/form/group[1]" position="after">
                    <div id="qj_probe_channel" />
                </xpath>
                <field name="removal_interval" position="after">
                    <field name="create_date" />
                </field>
            </data>
            """,
        )
        arch, _fields = self._served("queue_job.view_queue_job_channel_form")
        self.assertOne(
            arch,
            "/form/group[2]/field[@name='job_function_ids']"
            "/following-sibling::field[1][@name='display_name']",
        )
        self.assertOne(
            arch, "/form/group[1]/following-sibling::*[1][@id='qj_probe_channel']"
        )
        self.assertOne(
            arch,
            "/form/group[1]/field[@name='removal_interval']"
            "/following-sibling::field[1][@name='create_date']",
        )

    def test_function_form_extension(self):
        self._extend(
            "queue_job.view_queue_job_function_form",
            """
            <data>
                <xpath expr="/form/group[1]" position="after">
                    <group name="qj_probe_function">
                        <field name="channel" />
                    </group>
                </xpath>
                <xpath expr="/form/group[1]/field[@name='channel_id']" position="after">
                    <field name="display_name" />
                </xpath>
            </data>
            """,
        )
        arch, _fields = self._served("queue_job.view_queue_job_function_form")
        self.assertOne(
            arch, "/form/group[2][@name='qj_probe_function']/field[@name='channel']"
        )
        self.assertOne(
            arch,
            "/form/group[1]/field[@name='channel_id']"
            "/following-sibling::field[1][@name='display_name']",
        )

    def test_search_and_list_extensions(self):
        self._extend(
            "queue_job.view_queue_job_search",
            """
            <data>
                <field name="graph_uuid" position="after">
                    <field name="identity_key" />
                </field>
                <filter name="group_by_graph" position="after">
                    <filter name="qj_probe_group_by" string="Probe"
                            context="{'group_by': 'priority'}" />
                </filter>
            </data>
            """,
        )
        self._extend(
            "queue_job.view_queue_job_tree",
            """
            <field name="company_id" position="after">
                <field name="priority" />
            </field>
            """,
        )
        arch, _fields = self._served("queue_job.view_queue_job_search", "search")
        self.assertOne(
            arch,
            "/search/field[@name='graph_uuid']"
            "/following-sibling::field[1][@name='identity_key']",
        )
        self.assertOne(arch, "/search/group/filter[last()][@name='qj_probe_group_by']")
        arch, _fields = self._served("queue_job.view_queue_job_tree", "tree")
        self.assertOne(arch, "/tree/field[last()][@name='priority']")
