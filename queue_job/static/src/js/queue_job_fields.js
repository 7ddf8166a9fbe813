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
        _networkOptions: function (nodeCount) {
            const large = nodeCount > PHYSICS_MAX_NODES;
            const options = {
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
            if (large) {
                options.layout.hierarchical = {
                    enabled: true,
                    direction: "UD",
                    sortMethod: "directed",
                    shakeTowards: "roots",
                    nodeSpacing: 40,
                    levelSeparation: 120,
                };
            }
            return options;
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
            const edges = (this.value.edges || []).map((edge) => ({
                from: edge[0],
                to: edge[1],
            }));
            const container = document.createElement("div");
            container.className = "o_job_directed_graph_canvas";
            this.el.appendChild(container);
            this.network = new vis.Network(
                container,
                {nodes: nodes, edges: edges},
                this._networkOptions(nodes.length)
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
            const jobId = params.nodes.length ? params.nodes[0] : null;
            if (jobId !== null && jobId !== this.record.res_id) {
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
