# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Drop the identity key index: ``queue.job.init()`` re-creates it."""


def migrate(cr, version):
    cr.execute("DROP INDEX IF EXISTS queue_job_identity_key_state_partial_index")
