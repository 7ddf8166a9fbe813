"""Plans of the statements that find one job by its uuid and test its state.

Most jobs of a database are done: the statistics then say that hardly any
job is pending or enqueued, and a plan through the index on state would
check every job in that state (and every dead version of one) for the uuid,
at each dispatch of a large batch. These statements must look the uuid up.
"""
import pytest
from odoo.addons.queue_job.job_run import LOCK_ENQUEUED_JOB
from odoo.addons.queue_job.jobrunner import queries

STATEMENTS = {
    "mark enqueued": (queries.MARK_ENQUEUED, (["some-uuid"],)),
    "reset to pending": (queries.RESET_TO_PENDING, (["some-uuid"],)),
    "claim": (LOCK_ENQUEUED_JOB, ("some-uuid", "enqueued")),
}


@pytest.fixture(scope="module")
def done_jobs_statistics(odoo, db_name):
    """A cursor on a database whose statistics say that every job is done
    (rolled back at the end)."""
    with odoo.registry(db_name).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        model = env["test.queue.job"]
        for index in range(300):
            model.with_delay().testing_method(index)
        env["base"].flush()
        cr.execute("UPDATE queue_job SET state = 'done'")
        cr.execute("ANALYZE queue_job")
        cr.execute(
            "SELECT most_common_vals::text FROM pg_stats"
            " WHERE tablename = 'queue_job' AND attname = 'state'"
        )
        assert cr.fetchone()[0] == "{done}"
        yield cr
        cr.rollback()


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_job_found_by_uuid_whatever_the_statistics(done_jobs_statistics, name):
    cr = done_jobs_statistics
    statement, params = STATEMENTS[name]
    # the claim's first statement only sets the commit mode
    statement = statement.strip().split(";")[-1]
    cr.execute("EXPLAIN " + statement, params)
    plan = "\n".join(row[0] for row in cr.fetchall())
    assert "queue_job_uuid_index" in plan, plan
    assert "queue_job_state_index" not in plan, plan
