"""Benchmark: the CPU of a runjob request in the worker, without HTTP server.

Not part of the test run (pytest collects ``test_*.py`` only). It creates a
scratch database, stores N trivial jobs marked enqueued (what the runner
does), then runs each by a ``GET /queue_job/runjob`` through Odoo's WSGI
application in this process, and prints the CPU per job of the thread that
serves them and of PostgreSQL (all its processes: run it on a quiet
machine), the wall time per job, and the machine's speed during the round
(see ``bench_host.py``).

Without the prefork server, the runner and the network, and with the
jobs run one after the other, its rounds agree within a few percent, where
those of ``bench_throughput.py`` can differ by a quarter. The machine's
speed still moves both from one run to the next: compare two versions of
the worker's code with this one, in alternating runs::

    python tests/bench_runjob.py [--jobs 2000] [--rounds 3] [--keep-db]
        [--variants fast,no-sql-store,no-claim-load,no-chained-commit,
                    no-short-dispatch,no-fast-paths]

(with the Python of an Odoo 15.0 installation). ``--variants`` runs each
round once per variant, in turn: ``fast`` as shipped, ``no-fast-paths``
with the switch ``ODOO_QUEUE_JOB_FAST_PATHS=0``, and ``no-<path>`` with
that one fast path turned off in this process, to weigh what each saves.
"""
import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_host  # noqa: E402
import bench_throughput  # noqa: E402
from harness import database, odoo_runtime  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

WARM_UP_JOBS = 100


def enqueued_jobs(odoo, db, count):
    """Store ``count`` trivial jobs, marked enqueued (what the runner does);
    return their uuids."""
    with odoo.registry(db).cursor() as cr:
        cr.execute("DELETE FROM queue_job")
    bench_throughput.enqueue(odoo, db, count)
    with odoo.registry(db).cursor() as cr:
        cr.execute("UPDATE queue_job SET state = 'enqueued' RETURNING uuid")
        return [uuid for (uuid,) in cr.fetchall()]


def run_jobs(odoo, db, uuids):
    """Run the jobs by runjob requests (their environ built beforehand)."""

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError("runjob answered %s" % status)

    environs = [
        EnvironBuilder(
            path="/queue_job/runjob", query_string={"db": db, "job_uuid": uuid}
        ).get_environ()
        for uuid in uuids
    ]
    # the CPU of this thread: the machine's speed is sampled by another one
    cpu_before, wall_before = time.thread_time(), time.perf_counter()
    for environ in environs:
        b"".join(odoo.http.root(environ, start_response))
    return time.thread_time() - cpu_before, time.perf_counter() - wall_before


@contextlib.contextmanager
def _commit_after_block(cr):
    yield
    cr.commit()


def variant(name):
    """A context manager running the jobs with one fast path off (see the
    module docstring)."""
    from odoo.addons.queue_job.fast_paths import (
        chained_commit,
        runjob_dispatch,
        sql_store,
    )
    from odoo.addons.queue_job.job import Job

    if name == "fast":
        return contextlib.nullcontext()
    if name == "no-fast-paths":
        return mock.patch.dict(os.environ, {"ODOO_QUEUE_JOB_FAST_PATHS": "0"})
    if name == "no-sql-store":
        return mock.patch.object(sql_store, "_trusted", return_value=False)
    if name == "no-claim-load":
        return mock.patch.object(Job, "_loads_as_defined_here", return_value=False)
    if name == "no-chained-commit":
        return mock.patch.object(
            chained_commit, "commit_with_last_statement", _commit_after_block
        )
    if name == "no-short-dispatch":
        return mock.patch.object(
            runjob_dispatch, "dispatch_hooks_are_odoo_own", return_value=False
        )
    raise ValueError("unknown variant %r" % name)


def measure(odoo, db, postmaster, count):
    """CPU ms per job of the thread serving the requests and of PostgreSQL,
    wall ms per job, and the machine's speed (see ``bench_host.HostMeter``)."""
    uuids = enqueued_jobs(odoo, db, WARM_UP_JOBS + count)
    run_jobs(odoo, db, uuids[:WARM_UP_JOBS])
    host = bench_host.HostMeter(count).start()
    pg_before = bench_throughput.postgresql_cpu_seconds(postmaster)
    cpu, wall = run_jobs(odoo, db, uuids[WARM_UP_JOBS:])
    pg = bench_throughput.postgresql_cpu_seconds(postmaster) - pg_before
    host = host.stop()
    with odoo.registry(db).cursor() as cr:
        cr.execute("SELECT count(*) FROM queue_job WHERE state != 'done'")
        if cr.fetchone()[0]:
            raise RuntimeError("some jobs are not done")
    return cpu * 1000 / count, pg * 1000 / count, wall * 1000 / count, host


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--variants",
        type=lambda value: value.split(","),
        default=["fast"],
        help="comma-separated: fast, no-fast-paths, no-sql-store, no-claim-load,"
        " no-chained-commit, no-short-dispatch",
    )
    args = parser.parse_args()

    odoo, _addons_path, db = bench_throughput.create_scratch_database(
        "qjbenchrunjob", ["--load=base,web,queue_job"]
    )
    import psycopg2

    try:
        odoo.service.server.load_server_wide_modules()
        with psycopg2.connect(
            **odoo_runtime.postgres_connect_kwargs(odoo, "postgres")
        ) as admin:
            postmaster = bench_throughput.postmaster_pid(admin)
        print(
            "runjob through Odoo's WSGI application, %d trivial jobs per round"
            % args.jobs
        )
        totals = {name: [] for name in args.variants}
        for round_number in range(1, args.rounds + 1):
            for name in args.variants:
                with variant(name):
                    worker, pg, wall, host = measure(odoo, db, postmaster, args.jobs)
                totals[name].append(worker + pg)
                print(
                    "round %d %s: CPU %.2f ms per job (worker %.2f, PostgreSQL"
                    " %.2f), wall %.2f ms; host: %s"
                    % (
                        round_number,
                        name,
                        worker + pg,
                        worker,
                        pg,
                        wall,
                        bench_host.describe(host),
                    ),
                    flush=True,
                )
        if len(args.variants) > 1:
            fast = statistics.median(totals[args.variants[0]])
            for name in args.variants:
                median = statistics.median(totals[name])
                print(
                    "median %-18s %.2f ms per job (%+.1f%% against %s)"
                    % (name, median, (median - fast) * 100 / fast, args.variants[0])
                )
    finally:
        if not args.keep_db:
            odoo.sql_db.close_db(db)
            database.drop_database(odoo, db)


if __name__ == "__main__":
    main()
