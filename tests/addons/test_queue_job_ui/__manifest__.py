# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
{
    "name": "Queue Job UI Tests",
    "version": "15.0.1.0.0",
    "author": "queue_job maintainers",
    "website": "https://github.com/queue-job/queue_job",
    "license": "LGPL-3",
    "category": "Generic Modules",
    "summary": "Browser tours of the Job Queue screens (run by Odoo's HttpCase)",
    "depends": ["queue_job", "web_tour"],
    "assets": {
        "web.assets_tests": [
            "test_queue_job_ui/static/tests/tours/*.js",
        ],
    },
}
