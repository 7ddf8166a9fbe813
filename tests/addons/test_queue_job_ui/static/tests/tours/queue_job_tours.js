/* eslint-disable no-console */
// The browser console is how tours talk to the test (Odoo's HttpCase).
odoo.define("test_queue_job_ui.tours", function (require) {
    "use strict";

    const tour = require("web_tour.tour");

    // Background colour of a node of a done job (queue.job graph data).
    const DONE_NODE_RGB = [0xc2, 0xfa, 0xbc];

    /**
     * Steps asking the test (Python side) for a screenshot named `name` once
     * `trigger` is visible, then waiting until it was taken: the test adds
     * the class `o_qj_shot_<name>` to the body when the picture is saved.
     */
    function screenshot(name, trigger) {
        return [
            {
                content: `Screenshot ${name}`,
                trigger: trigger,
                run: function () {
                    $(trigger)[0].scrollIntoView({block: "center"});
                    // Let transitions (dialogs, dropdowns) end first.
                    setTimeout(() => console.log(`queue_job_screenshot:${name}`), 400);
                },
            },
            {
                content: `Wait for screenshot ${name}`,
                trigger: `body.o_qj_shot_${name}`,
                // Looked for in the whole page even when a dialog is open.
                in_modal: false,
                run: function () {
                    // Nothing to do: waiting for the screenshot.
                },
            },
        ];
    }

    function openJobQueueApp() {
        return [
            tour.stepUtils.showAppsMenuItem(),
            {
                content: "Open the Job Queue app",
                trigger: '.o_app[data-menu-xmlid="queue_job.menu_queue_job_root"]',
            },
        ];
    }

    function openQueueMenu(menuXmlid) {
        return [
            {
                content: "Open the Queue menu",
                trigger: '.o_menu_sections [data-menu-xmlid="queue_job.menu_queue"]',
            },
            {
                content: `Open ${menuXmlid}`,
                trigger: `.o_menu_sections [data-menu-xmlid="${menuXmlid}"]`,
            },
        ];
    }

    /**
     * @returns {Array} steps selecting the row of job `name` in the list
     *     and running the list action (wizard) `action` on it
     */
    function runListAction(name, action) {
        return [
            {
                content: `Select ${name}`,
                trigger: `.o_data_row:contains("${name}") .o_list_record_selector input`,
                extra_trigger:
                    ".o_list_view:not(:has(.o_list_record_selector input:checked))",
            },
            {
                content: "Open the Action menu",
                trigger: '.o_cp_action_menus .dropdown-toggle:contains("Action")',
            },
            {
                content: `Run ${action}`,
                trigger: `.o_cp_action_menus .dropdown-item:contains("${action}")`,
            },
        ];
    }

    /**
     * @returns {Object|null} centre, in client coordinates, of the pixels of
     *     `canvas` having the colour `rgb`
     */
    function findColour(canvas, rgb) {
        const {width, height} = canvas;
        const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
        let count = 0;
        let sumX = 0;
        let sumY = 0;
        for (let i = 0; i < pixels.length; i += 4) {
            if (
                Math.abs(pixels[i] - rgb[0]) <= 2 &&
                Math.abs(pixels[i + 1] - rgb[1]) <= 2 &&
                Math.abs(pixels[i + 2] - rgb[2]) <= 2
            ) {
                count++;
                sumX += (i / 4) % width;
                sumY += Math.floor(i / 4 / width);
            }
        }
        if (!count) {
            return null;
        }
        const box = canvas.getBoundingClientRect();
        return {
            x: box.left + ((sumX / count) * box.width) / width,
            y: box.top + ((sumY / count) * box.height) / height,
        };
    }

    function pointer(type, target, point) {
        target.dispatchEvent(
            new PointerEvent(type, {
                bubbles: true,
                cancelable: true,
                clientX: point.x,
                clientY: point.y,
                pointerId: 1,
                pointerType: "mouse",
                isPrimary: true,
                button: 0,
                buttons: type === "pointerup" ? 0 : 1,
            })
        );
    }

    const GRAPH_CANVAS =
        ".o_field_job_directed_graph.o_job_directed_graph_drawn canvas";

    tour.register(
        "queue_job_requeue_failed_job",
        {test: true, url: "/web"},
        [].concat(
            openJobQueueApp(),
            openQueueMenu("queue_job.menu_queue_job"),
            [
                {
                    content: "The jobs list shows the jobs to do",
                    trigger: '.o_list_view .o_data_row:contains("QJ UI pending job")',
                    run: function () {
                        // Only waiting for the list.
                    },
                },
            ],
            screenshot("jobs_list", ".o_list_view .o_data_row"),
            [
                {
                    content: "Remove the default filters",
                    trigger: ".o_searchview_facet .o_facet_remove",
                },
                {
                    content: "Open the filters",
                    trigger: ".o_filter_menu .dropdown-toggle",
                },
                {
                    content: "Show failed jobs only",
                    trigger: '.o_filter_menu .dropdown-item:contains("Failed")',
                },
                {
                    content: "Only the failed job is listed",
                    trigger: '.o_data_row:contains("QJ UI failed job")',
                    extra_trigger:
                        '.o_list_view:not(:has(.o_data_row:contains("QJ UI pending job")))',
                    run: function () {
                        // Only checking the list.
                    },
                },
                {
                    content: "Open the failed job",
                    trigger: '.o_data_row:contains("QJ UI failed job") td[name="name"]',
                },
                {
                    content: "The form shows the exception",
                    trigger:
                        '.o_form_view .o_field_widget[name="exc_info"]:contains("ZeroDivisionError")',
                    extra_trigger:
                        '.o_statusbar_status button.btn-primary[data-value="failed"]',
                    run: function () {
                        // Only checking the form.
                    },
                },
                {
                    content: "The exception's name and message are above its traceback",
                    trigger:
                        '.o_form_view #exc_name:has(.o_field_widget[name="exc_name"]:contains("ZeroDivisionError")) .o_field_widget[name="exc_message"]:contains("division by zero")',
                    run: function () {
                        // Only checking the form.
                    },
                },
            ],
            screenshot("job_form", '.o_form_view button[name="requeue"]'),
            [
                {
                    content: "Requeue the job",
                    trigger: '.o_form_view button[name="requeue"]',
                },
                {
                    content: "The job is pending again",
                    trigger:
                        '.o_statusbar_status button.btn-primary[data-value="pending"]',
                    extra_trigger:
                        '.o_form_view:not(:has(button[name="requeue"]:visible))',
                    run: function () {
                        // Only checking the state.
                    },
                },
            ]
        )
    );

    tour.register(
        "queue_job_dependency_graph",
        // Started by the test on the page it opens.
        {test: true},
        [].concat(
            [
                {
                    content:
                        "The failed job opens on its results, the graph not drawn yet",
                    trigger: '.o_form_view .nav-link.active:contains("Results")',
                    extra_trigger:
                        ".o_form_view:not(:has(.o_field_job_directed_graph canvas))",
                    run: function () {
                        // Only checking the form.
                    },
                },
                {
                    content: "Show the dependencies",
                    trigger: '.o_form_view .nav-link:contains("Dependencies")',
                },
                {
                    content: "The graph is drawn, with the done job in green",
                    trigger: GRAPH_CANVAS,
                    run: function () {
                        const canvas = $(GRAPH_CANVAS)[0];
                        if (!canvas.width || !canvas.height) {
                            throw new Error("The graph canvas has no size");
                        }
                        if (!findColour(canvas, DONE_NODE_RGB)) {
                            throw new Error("No node of a done job in the graph");
                        }
                    },
                },
            ],
            screenshot("job_graph", GRAPH_CANVAS),
            [
                {
                    content: "Hover the node of the done job",
                    trigger: GRAPH_CANVAS,
                    run: function () {
                        const canvas = $(GRAPH_CANVAS)[0];
                        const point = findColour(canvas, DONE_NODE_RGB);
                        canvas.dispatchEvent(
                            new MouseEvent("mousemove", {
                                bubbles: true,
                                clientX: point.x,
                                clientY: point.y,
                            })
                        );
                    },
                },
                {
                    content: "Its tooltip shows the job's name, in bold, and function",
                    trigger:
                        '.vis-tooltip:contains("_test_job") strong:contains("QJ UI graph: extract")',
                    run: function () {
                        // Only checking the tooltip.
                    },
                },
                {
                    content: "Back to the results",
                    trigger: '.o_form_view .nav-link:contains("Results")',
                },
                {
                    content: "Show the dependencies again",
                    trigger: '.o_form_view .nav-link:contains("Dependencies")',
                    extra_trigger: '.o_form_view .nav-link.active:contains("Results")',
                },
                {
                    content: "The graph is fitted in view again",
                    trigger: `.tab-pane.active ${GRAPH_CANVAS}`,
                    run: function () {
                        const canvas = $(GRAPH_CANVAS)[0];
                        if (!findColour(canvas, DONE_NODE_RGB)) {
                            throw new Error("The done job left the view");
                        }
                    },
                },
                {
                    content: "Edit the job",
                    trigger: ".o_form_button_edit",
                },
                {
                    content: "The graph is drawn in edit mode too",
                    trigger: `.o_form_editable ${GRAPH_CANVAS}`,
                    run: function () {
                        const canvas = $(GRAPH_CANVAS)[0];
                        if (!findColour(canvas, DONE_NODE_RGB)) {
                            throw new Error("No node of a done job in edit mode");
                        }
                    },
                },
                {
                    content: "Back to read mode",
                    trigger: ".o_form_button_cancel",
                },
                {
                    content: "Click the node of the done job",
                    extra_trigger: `.o_form_readonly ${GRAPH_CANVAS}`,
                    trigger: GRAPH_CANVAS,
                    run: function () {
                        const canvas = $(GRAPH_CANVAS)[0];
                        const point = findColour(canvas, DONE_NODE_RGB);
                        pointer("pointerdown", canvas, point);
                        pointer("pointerup", canvas, point);
                    },
                },
                {
                    content: "The form of the clicked job is open",
                    trigger:
                        '.o_form_view .o_field_widget[name="name"]:contains("QJ UI graph: extract")',
                    extra_trigger:
                        '.o_statusbar_status button.btn-primary[data-value="done"]',
                    run: function () {
                        // Only checking the form.
                    },
                },
            ]
        )
    );

    tour.register(
        "queue_job_large_graph",
        // Started by the test on the page it opens.
        {test: true},
        [].concat(
            [
                {
                    content: "Show the dependencies",
                    trigger: '.o_form_view .nav-link:contains("Dependencies")',
                    run: function (actions) {
                        window.qjGraphShownAt = performance.now();
                        actions.click();
                    },
                },
                {
                    content: "The large graph is drawn",
                    trigger: GRAPH_CANVAS,
                    run: function () {
                        const elapsed = performance.now() - window.qjGraphShownAt;
                        console.log(
                            `queue_job large graph drawn in ${Math.round(elapsed)} ms`
                        );
                        const canvas = $(GRAPH_CANVAS)[0];
                        if (!findColour(canvas, [0xd2, 0xe5, 0xff])) {
                            throw new Error("No node of a waiting job in the graph");
                        }
                    },
                },
            ],
            screenshot("job_graph_large", GRAPH_CANVAS),
            [
                {
                    content: "List the jobs of the graph",
                    trigger: '.o_form_view button[name="open_graph_jobs"]',
                },
                {
                    content: "The 300 jobs of the graph are listed",
                    trigger: '.o_pager_limit:contains("300")',
                    extra_trigger:
                        '.o_list_view .o_data_row:contains("QJ UI large graph")',
                    run: function () {
                        // Only checking the list.
                    },
                },
            ]
        )
    );

    tour.register(
        "queue_job_wizards",
        // Started by the test on the page it opens.
        {test: true},
        [].concat(
            [
                {
                    content: "The jobs list is shown",
                    trigger: '.o_list_view .o_data_row:contains("QJ UI wizard failed")',
                    run: function () {
                        // Only waiting for the list.
                    },
                },
            ],
            runListAction("QJ UI wizard failed", "Requeue Jobs"),
            screenshot("wizard_requeue", '.modal-footer button[name="requeue"]'),
            [
                {
                    content: "Requeue",
                    trigger: '.modal-footer button[name="requeue"]',
                },
                {
                    content: "The requeued job is pending",
                    trigger:
                        '.o_data_row:contains("QJ UI wizard failed") td[name="state"]:contains("Pending")',
                    extra_trigger: "body:not(:has(.modal))",
                    run: function () {
                        // Only checking the list.
                    },
                },
            ],
            runListAction("QJ UI wizard done", "Set jobs to done"),
            [
                {
                    content: "Set to done",
                    trigger: '.modal-footer button[name="set_done"]',
                },
                {
                    content: "The done job left the list (done jobs are filtered out)",
                    trigger:
                        '.o_list_view:not(:has(.o_data_row:contains("QJ UI wizard done")))',
                    extra_trigger: "body:not(:has(.modal))",
                    run: function () {
                        // Only checking the list.
                    },
                },
            ],
            runListAction("QJ UI wizard cancel", "Cancel jobs"),
            [
                {
                    content: "Cancel the jobs",
                    trigger: '.modal-footer button[name="set_cancelled"]',
                },
                {
                    content: "The cancelled job left the list",
                    trigger:
                        '.o_list_view:not(:has(.o_data_row:contains("QJ UI wizard cancel")))',
                    extra_trigger: "body:not(:has(.modal))",
                    run: function () {
                        // Only checking the list.
                    },
                },
            ]
        )
    );

    tour.register(
        "queue_job_channels_and_functions",
        {test: true, url: "/web"},
        [].concat(
            openJobQueueApp(),
            openQueueMenu("queue_job.menu_queue_job_channel"),
            screenshot("channels", '.o_list_view .o_data_row:contains("root")'),
            [
                {
                    content: "Open the root channel",
                    trigger: '.o_data_row:contains("root") td[name="complete_name"]',
                },
                {
                    content: "Edit the root channel",
                    trigger: ".o_form_button_edit",
                },
                {
                    content: "The name and parent of the root channel are read-only",
                    trigger:
                        '.o_form_editable .o_field_widget.o_readonly_modifier[name="name"]:contains("root")',
                    extra_trigger:
                        '.o_form_editable .o_field_widget.o_readonly_modifier[name="parent_id"]',
                    run: function () {
                        // Only checking the form.
                    },
                },
                {
                    content: "Its vacuum interval stays editable",
                    trigger:
                        '.o_form_editable input.o_field_widget[name="removal_interval"]',
                    run: function () {
                        // Only checking the form.
                    },
                },
                {
                    content: "Back to read mode",
                    trigger: ".o_form_button_cancel",
                },
            ],
            screenshot(
                "channel_form",
                '.o_form_readonly .o_field_widget[name="complete_name"]'
            ),
            openQueueMenu("queue_job.menu_queue_job_function"),
            screenshot(
                "job_functions",
                '.o_list_view .o_data_row:contains("<queue.job>._test_job")'
            ),
            [
                {
                    content: "Open the test job function",
                    trigger:
                        '.o_data_row:contains("<queue.job>._test_job") td[name="name"]',
                },
            ],
            screenshot(
                "job_function_form",
                '.o_form_view .o_field_widget[name="method"]'
            )
        )
    );

    // The channel root.qj_ui_pause is created by the test, with pending jobs.
    const PAUSE_ROW = '.o_data_row:contains("root.qj_ui_pause")';
    tour.register(
        "queue_job_pause_channel",
        {test: true, url: "/web"},
        [].concat(
            openJobQueueApp(),
            openQueueMenu("queue_job.menu_queue_job_channel"),
            [
                {
                    content: "The channels list is loaded",
                    trigger: `.o_list_view ${PAUSE_ROW} td[name="effective_state"]:contains("Running")`,
                    run: function () {
                        // Only waiting for the list.
                    },
                },
                {
                    content: "Select the channel in the list",
                    trigger: `${PAUSE_ROW} .o_list_record_selector input`,
                    extra_trigger:
                        ".o_list_view:not(:has(.o_list_record_selector input:checked))",
                },
                {
                    content: "Pause it from the list",
                    trigger: 'button[name="action_pause"]:visible',
                },
                {
                    content: "The list shows it paused",
                    trigger: `${PAUSE_ROW}.text-warning td[name="effective_state"]:contains("Paused")`,
                    run: function () {
                        // Only checking the list.
                    },
                },
            ],
            screenshot(
                "channels_paused",
                `.o_list_view:not(:has(.o_list_record_selector input:checked)) ${PAUSE_ROW}.text-warning`
            ),
            openQueueMenu("queue_job.menu_queue_job"),
            screenshot(
                "jobs_list_paused",
                '.o_has_banner .alert-warning:contains("Channel root.qj_ui_pause is paused: 1 pending jobs wait")'
            ),
            openQueueMenu("queue_job.menu_queue_job_channel"),
            [
                {
                    content: "Open the paused channel",
                    trigger: `${PAUSE_ROW} td[name="complete_name"]`,
                },
                {
                    content: "The form shows the applied settings and their source",
                    trigger:
                        '.o_form_view .o_field_widget[name="effective_capacity"]:contains("configuration file / environment")',
                    run: function () {
                        // Only checking the form.
                    },
                },
            ],
            screenshot(
                "channel_form_paused",
                '.o_form_readonly .o_field_widget[name="effective_state"]:contains("Paused")'
            ),
            [
                {
                    content: "Resume it from the form",
                    trigger: '.o_form_view button[name="action_resume"]',
                },
                {
                    content: "It runs again",
                    trigger:
                        '.o_form_view .o_field_widget[name="effective_state"]:contains("Running")',
                    extra_trigger: '.o_form_view button[name="action_pause"]:visible',
                },
                {
                    content: "Pause it from the form",
                    trigger: '.o_form_view button[name="action_pause"]',
                },
                {
                    content: "Paused again",
                    trigger:
                        '.o_form_view .o_field_widget[name="effective_state"]:contains("Paused")',
                },
                {
                    content: "Resume it again",
                    trigger: '.o_form_view button[name="action_resume"]',
                },
                {
                    content: "Running at the end",
                    trigger:
                        '.o_form_view .o_field_widget[name="effective_state"]:contains("Running")',
                    extra_trigger: '.o_form_view button[name="action_pause"]:visible',
                    run: function () {
                        // Only checking the form.
                    },
                },
            ]
        )
    );

    const OVERVIEW_CHANNEL = "root.qj_ui_overview";
    const OVERVIEW_CARD = `.o_qj_channel_card[data-channel="${OVERVIEW_CHANNEL}"]`;

    /**
     * @param {String} figure name of the figure (see queue.job.overview)
     * @param {String} value shown
     * @returns {String} selector of `figure` of the tour's channel card
     */
    function overviewFigure(figure, value) {
        return `${OVERVIEW_CARD} .o_qj_figure_${figure} .o_qj_figure_value:contains("${value}")`;
    }

    tour.register(
        "queue_job_overview",
        {test: true, url: "/web"},
        [].concat(
            openJobQueueApp(),
            [
                {
                    content: "The app opens on the overview, the runner panel is green",
                    trigger: ".o_qj_overview .o_qj_runner_panel.o_qj_runner_up",
                    extra_trigger: OVERVIEW_CARD,
                    run: function () {
                        // Only checking the panel.
                    },
                },
                {
                    content: "The card counts the channel's jobs",
                    trigger: overviewFigure("pending", "2"),
                    extra_trigger: [
                        overviewFigure("failed", "1"),
                        overviewFigure("done_5", "1"),
                        overviewFigure("done_60", "2"),
                        overviewFigure("wait_dependencies", "0"),
                        overviewFigure("running", "0 / 3"),
                    ].join(", "),
                    run: function () {
                        // Only checking the figures.
                    },
                },
                {
                    content: "The overview refreshes by itself",
                    trigger: '.o_qj_overview[data-refreshes="2"]',
                    timeout: 20000,
                    run: function () {
                        // Only waiting for a refresh.
                    },
                },
            ],
            screenshot("overview", OVERVIEW_CARD),
            [
                {
                    content: "Open the failed jobs of the channel",
                    trigger: `${OVERVIEW_CARD} .o_qj_figure_failed`,
                },
                {
                    content: "The list shows the failed job only",
                    trigger:
                        '.o_list_view .o_data_row:contains("QJ UI overview failed")',
                    extra_trigger:
                        '.o_list_view:not(:has(.o_data_row:contains("QJ UI overview pending")))',
                    run: function () {
                        // Only checking the list.
                    },
                },
                {
                    content: "Back to the overview",
                    trigger: ".o_control_panel .breadcrumb-item:first a",
                },
                {
                    content: "Open the jobs done in the last 60 minutes",
                    trigger: `${OVERVIEW_CARD} .o_qj_figure_done_60`,
                },
                {
                    content: "The list shows the two recent done jobs",
                    trigger: '.o_list_view .o_data_row:contains("QJ UI overview done")',
                    extra_trigger:
                        '.o_list_view:has(.o_data_row:contains("QJ UI overview done")):not(:has(.o_data_row:contains("QJ UI overview pending")))',
                    run: function () {
                        if (
                            $('.o_data_row:contains("QJ UI overview done")').length !==
                            2
                        ) {
                            console.error("expected the 2 jobs done in the last hour");
                        }
                    },
                },
            ]
        )
    );

    tour.register(
        "queue_job_overview_runner_down",
        {test: true, url: "/web"},
        [].concat(
            openJobQueueApp(),
            [
                {
                    content: "Without a runner the panel is red",
                    trigger: ".o_qj_overview .o_qj_runner_panel.o_qj_runner_down",
                    run: function () {
                        // Only checking the panel.
                    },
                },
            ],
            screenshot("overview_runner_down", ".o_qj_runner_panel.o_qj_runner_down")
        )
    );
});
