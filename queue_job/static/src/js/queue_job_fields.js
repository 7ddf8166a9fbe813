/* global vis */
odoo.define("queue_job.fields", function (require) {
    "use strict";

    const AbstractField = require("web.AbstractField");
    const core = require("web.core");
    const field_registry = require("web.field_registry");

    // Same seed for every drawing: a graph keeps its shape between reloads.
    const LAYOUT_SEED = 2;
    // Above this many jobs, a force-directed layout takes seconds to settle
    // and keeps the CPU busy: large graphs are laid out by dependency level,
    // without physics.
    const PHYSICS_MAX_NODES = 100;
    // Spacing of the level layout of large graphs, in canvas pixels.
    const LEVEL_SPACING = {node: 40, row: 50, level: 110};

    /**
     * Positions the nodes of a large graph by dependency level: a job sits
     * one level below the deepest of its parents. A wide level (a group of
     * hundreds of jobs) is wrapped into rows, so that the whole graph keeps
     * a readable scale once fitted in the widget.
     *
     * @param {Array} nodeIds
     * @param {Array} edges pairs [parent_id, child_id]
     * @returns {Map} node id -> {x, y}
     */
    function levelLayout(nodeIds, edges) {
        const children = new Map(nodeIds.map((id) => [id, []]));
        const parentCount = new Map(nodeIds.map((id) => [id, 0]));
        for (const [parent, child] of edges) {
            if (children.has(parent) && children.has(child)) {
                children.get(parent).push(child);
                parentCount.set(child, parentCount.get(child) + 1);
            }
        }
        // Longest path from the roots, in topological order (Kahn).
        const level = new Map();
        const queue = nodeIds.filter((id) => parentCount.get(id) === 0);
        queue.forEach((id) => level.set(id, 0));
        for (let i = 0; i < queue.length; i++) {
            const id = queue[i];
            for (const child of children.get(id)) {
                level.set(child, Math.max(level.get(child) || 0, level.get(id) + 1));
                parentCount.set(child, parentCount.get(child) - 1);
                if (parentCount.get(child) === 0) {
                    queue.push(child);
                }
            }
        }
        // A cycle cannot come from delayed graphs; if data has one, its
        // nodes go below the others rather than being lost.
        const deepest = Math.max(0, ...level.values());
        nodeIds
            .filter((id) => !level.has(id))
            .forEach((id) => level.set(id, deepest + 1));

        const levels = new Map();
        for (const id of nodeIds) {
            const members = levels.get(level.get(id)) || [];
            members.push(id);
            levels.set(level.get(id), members);
        }
        const perRow = Math.max(8, Math.ceil(Math.sqrt(nodeIds.length) * 1.5));
        const positions = new Map();
        let y = 0;
        for (const depth of [...levels.keys()].sort((a, b) => a - b)) {
            const members = levels.get(depth).sort((a, b) => a - b);
            const rows = Math.ceil(members.length / perRow);
            const levelTop = y;
            members.forEach((id, index) => {
                const row = Math.floor(index / perRow);
                const inRow = Math.min(perRow, members.length - row * perRow);
                positions.set(id, {
                    x: ((index % perRow) - (inRow - 1) / 2) * LEVEL_SPACING.node,
                    y: levelTop + row * LEVEL_SPACING.row,
                });
            });
            y += (rows - 1) * LEVEL_SPACING.row + LEVEL_SPACING.level;
        }
        return positions;
    }

    /**
     * Draws the dependency graph of a job (field `dependency_graph`, a dict
     * `{nodes: [...], edges: [[parent_id, child_id], ...]}`) with vis-network.
     *
     * The network is built the first time the widget is visible: inside a
     * notebook page that is not shown yet its container has no size, and the
     * layout of a large graph is not computed for nothing. It is re-fitted
     * whenever its page becomes visible again.
     */
    const JobDirectedGraph = AbstractField.extend({
        className: "o_field_job_directed_graph",
        supportedFieldTypes: ["job_serialized", "serialized"],

        init: function () {
            this._super.apply(this, arguments);
            this.network = null;
            this.nodeIds = new Set();
            this.wasVisible = false;
        },

        start: function () {
            core.bus.on("DOM_updated", this, this._onDOMUpdated);
            return this._super.apply(this, arguments);
        },

        destroy: function () {
            core.bus.off("DOM_updated", this, this._onDOMUpdated);
            this._destroyNetwork();
            this._super.apply(this, arguments);
        },

        /**
         * Called by the renderer once the form is in the DOM.
         */
        on_attach_callback: function () {
            this._onDOMUpdated();
        },

        /**
         * @override
         */
        isSet: function () {
            return Boolean(this.value && this.value.nodes && this.value.nodes.length);
        },

        // ------------------------------------------------------------------
        // Private
        // ------------------------------------------------------------------

        /**
         * @override
         */
        _render: function () {
            this._destroyNetwork();
            this.$el.empty();
            this.el.classList.remove("o_job_directed_graph_drawn");
            this.wasVisible = false;
            this._onDOMUpdated();
        },

        _destroyNetwork: function () {
            if (this.network) {
                this.network.destroy();
                this.network = null;
            }
        },

        _isVisible: function () {
            return document.body.contains(this.el) && this.el.offsetWidth > 0;
        },

        /**
         * @returns {Object} vis-network options suited to the graph's size
         */
        _networkOptions: function (large) {
            return {
                autoResize: true,
                layout: {
                    randomSeed: LAYOUT_SEED,
                    improvedLayout: !large,
                },
                physics: {
                    enabled: !large,
                    stabilization: {enabled: !large, fit: true},
                },
                nodes: {
                    shape: "dot",
                    size: 12,
                    borderWidth: 2,
                    borderWidthSelected: 5,
                },
                edges: {
                    arrows: "to",
                    color: {color: "#8D8D8D", highlight: "#4A4A4A"},
                    smooth: large ? false : {type: "dynamic"},
                },
                interaction: {
                    hover: true,
                    tooltipDelay: 200,
                    hideEdgesOnDrag: large,
                    hideEdgesOnZoom: large,
                },
            };
        },

        /**
         * @returns {Object} a vis-network node from a node of the field value
         */
        _visNode: function (node) {
            const colors = {background: node.color, border: node.border};
            // vis-network shows string titles as plain text; the server
            // escapes the job's name and function before building this HTML.
            const tooltip = document.createElement("div");
            tooltip.innerHTML = node.title || "";
            return {
                id: node.id,
                title: tooltip,
                shadow: node.shadow,
                color: Object.assign({}, colors, {highlight: colors, hover: colors}),
            };
        },

        _buildNetwork: function () {
            const nodes = this.value.nodes.map((node) => this._visNode(node));
            this.nodeIds = new Set(nodes.map((node) => node.id));
            const pairs = this.value.edges || [];
            const edges = pairs.map((edge) => ({from: edge[0], to: edge[1]}));
            const large = nodes.length > PHYSICS_MAX_NODES;
            if (large) {
                const positions = levelLayout([...this.nodeIds], pairs);
                nodes.forEach((node) => Object.assign(node, positions.get(node.id)));
            }
            const container = document.createElement("div");
            container.className = "o_job_directed_graph_canvas";
            this.el.appendChild(container);
            this.network = new vis.Network(
                container,
                {nodes: nodes, edges: edges},
                this._networkOptions(large)
            );
            // Marks the first complete drawing (after stabilisation for small
            // graphs), e.g. for styling or for tours waiting on the graph.
            this.network.once("afterDrawing", () =>
                this.el.classList.add("o_job_directed_graph_drawn")
            );
            this.network.on("click", this._onNetworkClick.bind(this));
            this.network.on("dragEnd", this._selectCurrentJob.bind(this));
            this.network.on("deselectNode", this._selectCurrentJob.bind(this));
            this.network.fit();
            this._selectCurrentJob();
        },

        /**
         * The job of the form stays selected whatever the user clicks or drags.
         */
        _selectCurrentJob: function () {
            const jobId = this.record.res_id;
            if (this.network && this.nodeIds.has(jobId)) {
                this.network.selectNodes([jobId], false);
            }
        },

        _openJob: function (jobId) {
            return this._rpc({
                model: "queue.job",
                method: "get_formview_action",
                args: [[jobId]],
            }).then((action) => this.do_action(action));
        },

        // ------------------------------------------------------------------
        // Handlers
        // ------------------------------------------------------------------

        /**
         * Builds the network the first time the widget is visible, re-fits it
         * when it becomes visible again (e.g. its notebook page is shown).
         */
        _onDOMUpdated: function () {
            const visible = this._isVisible();
            if (visible && !this.wasVisible && this.isSet()) {
                if (this.network) {
                    this.network.redraw();
                    this.network.fit();
                } else {
                    this._buildNetwork();
                }
            }
            this.wasVisible = visible;
        },

        _onNetworkClick: function (params) {
            // params.nodes lists the selected nodes, and the current job is
            // kept selected: the clicked node is the one under the pointer.
            const jobId = this.network.getNodeAt(params.pointer.DOM);
            if (jobId !== undefined && jobId !== this.record.res_id) {
                this._openJob(jobId);
            }
            this._selectCurrentJob();
        },
    });

    field_registry.add("job_directed_graph", JobDirectedGraph);

    return {
        JobDirectedGraph: JobDirectedGraph,
    };
});
