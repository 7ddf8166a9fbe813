# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
{
    "name": "Queue Job Compatibility Tests",
    "version": "15.0.1.0.0",
    "author": "queue_job maintainers",
    "license": "LGPL-3",
    "category": "Generic Modules",
    "summary": "A third-party addon extending queue_job the way public addons "
    "extend the original Job Queue",
    "depends": ["queue_job", "base_automation"],
    "data": [
        "security/ir.model.access.csv",
        "data/queue_job_function_data.xml",
        "views/queue_job_views.xml",
    ],
    "installable": True,
}
