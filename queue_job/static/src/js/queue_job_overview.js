odoo.define("queue_job.overview", function (require) {
    "use strict";

    const AbstractAction = require("web.AbstractAction");
    const core = require("web.core");

    const QWeb = core.qweb;
    // Refresh period of the figures while the screen is shown.
    const REFRESH_MILLISECONDS = 5000;

    /**
     * Humane duration of `seconds`: "42 s", "7 min", "3 h", "2 d".
     *
     * @param {Number} seconds
     * @returns {String}
     */
    function formatAge(seconds) {
        const units = [
            [86400, "d"],
            [3600, "h"],
            [60, "min"],
        ];
        for (const [size, unit] of units) {
            if (seconds >= size) {
                return `${Math.floor(seconds / size)} ${unit}`;
            }
        }
        return `${Math.floor(seconds)} s`;
    }

    /**
     * Job Queue > Overview: a card per channel and the runner panel, read
     * from `queue.job.overview` and refreshed every few seconds while the
     * screen is shown. A figure opens the list of its jobs.
     */
    const QueueJobOverview = AbstractAction.extend({
        contentTemplate: "queue_job.Overview",
        hasControlPanel: true,
        events: {
            "click .o_qj_figure": "_onFigureClick",
        },

        init: function () {
            this._super.apply(this, arguments);
            this._timer = null;
            this._data = null;
            this._renders = 0;
        },

        willStart: function () {
            return Promise.all([this._super.apply(this, arguments), this._load()]);
        },

        start: function () {
            return this._super.apply(this, arguments).then(() => this._render());
        },

        on_attach_callback: function () {
            this._super.apply(this, arguments);
            this._stopTimer();
            this._timer = setInterval(() => this._refresh(), REFRESH_MILLISECONDS);
        },

        on_detach_callback: function () {
            this._stopTimer();
            this._super.apply(this, arguments);
        },

        destroy: function () {
            this._stopTimer();
            this._super.apply(this, arguments);
        },

        _stopTimer: function () {
            if (this._timer) {
                clearInterval(this._timer);
                this._timer = null;
            }
        },

        _load: function () {
            return this._rpc(
                {model: "queue.job.overview", method: "overview_data", args: []},
                {shadow: true}
            ).then((data) => {
                this._data = data;
            });
        },

        _refresh: function () {
            return this._load().then(() => this._render());
        },

        _render: function () {
            this._renders += 1;
            this.$(".o_qj_overview_body").html(
                QWeb.render("queue_job.OverviewBody", {
                    data: this._data,
                    formatAge: formatAge,
                    updated: new Date().toLocaleTimeString(),
                })
            );
            // How many times the figures were read and drawn (tours wait
            // for the automatic refresh with it).
            this.$(".o_qj_overview").attr("data-refreshes", this._renders);
        },

        _onFigureClick: function (ev) {
            ev.preventDefault();
            const target = ev.currentTarget;
            return this._rpc({
                model: "queue.job.overview",
                method: "jobs_action",
                args: [target.dataset.channel, target.dataset.figure],
            }).then((action) => this.do_action(action));
        },
    });

    core.action_registry.add("queue_job_overview", QueueJobOverview);

    return {QueueJobOverview: QueueJobOverview, formatAge: formatAge};
});
