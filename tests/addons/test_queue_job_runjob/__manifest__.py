# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
{
    "name": "Queue Job Runjob Override Tests",
    "version": "15.0.1.0.0",
    "author": "queue_job maintainers",
    "website": "https://github.com/queue-job/queue_job",
    "license": "LGPL-3",
    "category": "Generic Modules",
    "summary": "An addon overriding /queue_job/runjob, for the tests of its dispatch",
    "depends": ["queue_job"],
}
