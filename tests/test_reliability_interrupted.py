"""A worker whose database connection is cut while its job runs (session
terminated by an administrator, server going away) puts the job back to
pending itself, without counting a try: the worker is alive, the job did
not fail. On a real prefork server without job runner, so that nothing but
the worker handles the job."""
import threading
import time

from odoo.addons.queue_job.job import ENQUEUED, PENDING, Job
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE
from test_controller import runjob
from test_controller import server as server  # noqa: F401 (fixture)


def test_worker_cut_from_the_database_requeues_its_job_without_a_try(
    server, committed_env  # noqa: F811
):
    with committed_env() as env:
        job = Job(
            env["test.runner.job"].record_run, args=("interrupted-by-admin", None, 3)
        )
        job.store()
        record = env["queue.job"].search([("uuid", "=", job.uuid)])
        record.with_context(_job_edit_sentinel=record.EDIT_SENTINEL).write(
            {"state": ENQUEUED}
        )
        job_id, uuid = record.id, job.uuid
    try:
        answers = []
        request = threading.Thread(
            target=lambda: answers.append(runjob(server, uuid)), daemon=True
        )
        request.start()
        deadline = time.monotonic() + 20
        terminated = []
        while not terminated and time.monotonic() < deadline:
            with committed_env() as env:
                # once the job is committed started, while it sleeps
                env.cr.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted"
                    " AND classid = %s AND objid = %s AND objsubid = 2"
                    " AND (SELECT state FROM queue_job WHERE id = %s) = 'started'",
                    (JOB_LEASE_NAMESPACE, job_id, job_id),
                )
                terminated = env.cr.fetchall()
            time.sleep(0.05)
        assert terminated == [(True,)]
        request.join(30)
        assert answers and answers[0][0] == 500
        with committed_env() as env:
            record = env["queue.job"].browse(job_id)
            values = record.read(["state", "retry", "result", "worker_pid"])[0]
            executions = env["test.runner.job"].search_count(
                [("name", "=", "interrupted-by-admin")]
            )
        assert (values["state"], values["retry"], values["worker_pid"]) == (
            PENDING,
            0,
            0,
        )
        assert "database connection of its worker" in values["result"]
        assert executions == 0
        server.wait_for_log("job %s put back to pending" % uuid, timeout=10)
    finally:
        with committed_env() as env:
            env["queue.job"].browse(job_id).unlink()
            env["test.runner.job"].search(
                [("name", "=", "interrupted-by-admin")]
            ).unlink()
