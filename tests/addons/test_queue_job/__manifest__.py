# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
{
    "name": "Queue Job Tests",
    "version": "15.0.1.0.0",
    "author": "queue_job maintainers",
    "license": "LGPL-3",
    "category": "Generic Modules",
    "summary": "Models, channels and job functions used by the queue_job tests",
    "depends": ["queue_job"],
    "data": [
        "security/ir.model.access.csv",
        "data/queue_job_channel_data.xml",
        "data/queue_job_function_data.xml",
    ],
    "installable": True,
}
