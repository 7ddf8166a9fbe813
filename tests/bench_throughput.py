"""Benchmark: where each millisecond of a queue job goes.

Not part of the test run (pytest collects ``test_*.py`` only). It creates a
scratch database, starts a real prefork Odoo server with the job runner, and
prints, for each scenario:

* throughput: jobs/s and wall time for N trivial jobs;
* CPU ms per job, split between the HTTP workers, the runner process and
  PostgreSQL (live backends plus the backends that exited, read from the
  postmaster's reaped-children counters);
* new PostgreSQL connections and committed transactions per job
  (``pg_stat_database``), and SQL statements per job on the job database and
  on ``postgres`` (from PostgreSQL's statement log, in a separate short run
  because logging costs time);
* latency from enqueue commit to the ``done`` notification at low load;
* the HTTP floor: requests/s and CPU per request of a no-op route whose
  session names the database, i.e. Odoo's own cost of a request, which no
  job can go below;
* ``with_delay()`` cost per job, one by one and in bulk (``delay_many``),
  1000 jobs in one transaction, its commit included;
* the machine's speed during the throughput runs (see ``bench_host.py``):
  compare CPU figures only between runs of like speed.

Usage (with the Python of an Odoo 15.0 installation)::

    python tests/bench_throughput.py [--jobs 2000] [--channels root:2]
        [--workers 2] [--runs 1] [--latency-jobs 100] [--floor-requests 2000]
        [--show-statements N] [--keep-db]

With ``--runs N``, the throughput scenario runs N times, each printed on a
line of its own; the report's figures are those of the run of median CPU.

The jobs are ``test.queue.job.testing_method`` of the test addon (returning
its arguments, with a ``_job_store_values`` hook). CPU figures are those of
the processes of this run, but wall times, and to a lesser extent CPU times,
suffer from whatever else the machine runs: the load average is printed; run
it on a quiet machine, and more than once.
"""
import argparse
import http.client
import json
import os
import re
import select
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_host  # noqa: E402
from harness import database, odoo_runtime  # noqa: E402
from harness.server import OdooServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid, children=False):
    """utime+stime of ``pid`` (plus its reaped children when asked)."""
    with open("/proc/%s/stat" % pid) as stat_file:
        fields = stat_file.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (3rd field of stat): utime is field 14.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    total = utime + stime + ((cutime + cstime) if children else 0)
    return total / CLOCK_TICKS


def proc_title(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as cmd:
            return cmd.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def proc_children(ppid):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat_file:
                fields = stat_file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            children.append(int(entry))
    return children


class CpuProbe:
    """CPU seconds of the Odoo server group and of PostgreSQL, by role."""

    def __init__(self, server, postmaster_pid):
        self.server = server
        self.postmaster_pid = postmaster_pid

    def sample(self):
        roles = {"http": 0.0, "runner": 0.0, "odoo_other": 0.0, "postgresql": 0.0}
        master = self.server.process.pid
        roles["odoo_other"] += proc_cpu_seconds(master)
        for pid in self.server.child_pids():
            title = proc_title(pid)
            try:
                cpu = proc_cpu_seconds(pid)
            except OSError:
                continue
            if "WorkerJobRunner" in title:
                roles["runner"] += cpu
            elif "WorkerHTTP" in title:
                roles["http"] += cpu
            else:
                roles["odoo_other"] += cpu
        roles["postgresql"] = postgresql_cpu_seconds(self.postmaster_pid)
        return roles

    @staticmethod
    def delta(before, after):
        return {key: after[key] - before[key] for key in before}


def postgresql_cpu_seconds(postmaster_pid):
    """CPU seconds of PostgreSQL's processes, including the backends that
    exited (accounted in the postmaster's reaped-children counters)."""
    total = proc_cpu_seconds(postmaster_pid, children=True)
    for pid in proc_children(postmaster_pid):
        try:
            total += proc_cpu_seconds(pid)
        except OSError:
            continue
    return total


def pg_counters(conn, db):
    with conn.cursor() as cr:
        cr.execute(
            "SELECT datname, xact_commit, sessions FROM pg_stat_database"
            " WHERE datname IN (%s, 'postgres')",
            (db,),
        )
        rows = {name: (commits, sessions) for name, commits, sessions in cr.fetchall()}
    return rows


def postmaster_pid(conn):
    with conn.cursor() as cr:
        cr.execute("SHOW data_directory")
        data_dir = cr.fetchone()[0]
    with open(os.path.join(data_dir, "postmaster.pid")) as pid_file:
        return int(pid_file.readline())


def enqueue(odoo, db, count, channel="root", bulk=False):
    """Delay ``count`` trivial jobs in one transaction; return seconds spent,
    commit included (delayed jobs are inserted when the transaction flushes)."""
    registry = odoo.registry(db)
    start = time.perf_counter()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        model = env["test.queue.job"]
        if bulk:
            from odoo.addons.queue_job.delay import delay_many

            delay_many(
                [
                    model.delayable(channel=channel).testing_method(i)
                    for i in range(count)
                ]
            )
        else:
            for i in range(count):
                model.with_delay(channel=channel).testing_method(i)
    return time.perf_counter() - start


# Through the index on state: polling must cost PostgreSQL next to nothing.
NOT_DONE_STATES = ["wait_dependencies", "pending", "enqueued", "started", "failed"]


def jobs_left(conn):
    with conn.cursor() as cr:
        cr.execute(
            "SELECT EXISTS (SELECT 1 FROM queue_job WHERE state = ANY(%s))",
            (NOT_DONE_STATES,),
        )
        return cr.fetchone()[0]


def wait_all_done(conn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not jobs_left(conn):
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError("jobs not done within %ss" % timeout)


def clear_jobs(conn):
    with conn.cursor() as cr:
        cr.execute("DELETE FROM queue_job")


def run_throughput(odoo, db, server, admin, job_conn, jobs, channel):
    clear_jobs(job_conn)
    host = bench_host.HostMeter(jobs).start()
    probe = CpuProbe(server, postmaster_pid(admin))
    counters_before = pg_counters(admin, db)
    cpu_before = probe.sample()
    start = time.monotonic()
    enqueue_seconds = enqueue(odoo, db, jobs, channel=channel)
    committed = time.monotonic()
    end = wait_all_done(job_conn, timeout=600)
    cpu = CpuProbe.delta(cpu_before, probe.sample())
    counters_after = pg_counters(admin, db)
    wall = end - committed
    per_job = {k: v * 1000.0 / jobs for k, v in cpu.items()}
    new_conns = sum(
        counters_after[name][1] - counters_before[name][1] for name in counters_after
    )
    commits = counters_after[db][0] - counters_before[db][0]
    return {
        "jobs": jobs,
        "enqueue_s": enqueue_seconds,
        "total_s": end - start,
        "wall_s": wall,
        "jobs_per_s": jobs / wall,
        "cpu_ms_per_job": per_job,
        "cpu_ms_total_per_job": sum(per_job.values()),
        "new_connections_per_job": new_conns / jobs,
        "commits_per_job": commits / jobs,
        "host": host.stop(),
    }


def run_latency(odoo, db, job_conn, count, interval=0.1):
    clear_jobs(job_conn)
    listen = job_conn
    with listen.cursor() as cr:
        cr.execute("LISTEN queue_job")
    latencies = []
    registry = odoo.registry(db)
    for _i in range(count):
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            job = env["test.queue.job"].with_delay().testing_method()
            uuid = job.uuid
        committed = time.perf_counter()
        deadline = committed + 30
        done_at = None
        while done_at is None and time.perf_counter() < deadline:
            if select.select([listen], [], [], 1.0)[0]:
                listen.poll()
                while listen.notifies:
                    notify = listen.notifies.pop(0)
                    payload = _parse_payload(notify.payload)
                    if payload.get("uuid") == uuid and payload.get("state") == "done":
                        done_at = time.perf_counter()
        if done_at is None:
            raise RuntimeError("job %s not done within 30 s" % uuid)
        latencies.append((done_at - committed) * 1000.0)
        time.sleep(interval)
    with listen.cursor() as cr:
        cr.execute("UNLISTEN queue_job")
    latencies.sort()
    return {
        "count": count,
        "p50_ms": statistics.median(latencies),
        "p90_ms": latencies[int(len(latencies) * 0.9) - 1],
        "max_ms": latencies[-1],
    }


def run_floor(server, admin, count, clients=2):
    """Odoo's own cost per request: a no-op route, with a session naming the
    database (as the runner's requests have), ``clients`` at a time.

    What a job cannot go below on this server; measured in the same run as
    the jobs, so that the machine's load affects both alike.
    """
    cookie = _session_cookie(server)
    body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}})

    def client(requests):
        for _i in range(requests):
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            conn.request(
                "POST",
                "/web/webclient/version_info",
                body=body,
                headers={"Cookie": cookie, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                raise RuntimeError("no-op route answered %s" % response.status)

    client(20)
    probe = CpuProbe(server, postmaster_pid(admin))
    cpu_before = probe.sample()
    start = time.monotonic()
    threads = [
        threading.Thread(target=client, args=(count // clients,))
        for _i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    cpu = CpuProbe.delta(cpu_before, probe.sample())
    done = count // clients * clients
    return {
        "requests_per_s": done / wall,
        "cpu_ms_per_request": {k: v * 1000.0 / done for k, v in cpu.items()},
    }


def _session_cookie(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/queue_job/session?db=%s" % server.db)
    response = conn.getresponse()
    response.read()
    conn.close()
    cookie = response.getheader("Set-Cookie")
    if response.status != 200 or not cookie:
        raise RuntimeError("no session from /queue_job/session")
    return cookie.split(";", 1)[0]


def _parse_payload(payload):
    try:
        value = json.loads(payload)
    except ValueError:
        return {"uuid": payload}
    return value if isinstance(value, dict) else {"uuid": payload}


def run_statement_count(odoo, db, addons_path, args, admin, job_conn):
    """Statements and new connections per job seen by PostgreSQL, by role.

    A fresh server runs with ``log_statement = all`` for its own sessions
    only (``PGOPTIONS``, which libpq reads), in a separate short run because
    logging costs time: the statements of other programs on the machine are
    not logged. Roles: ``workers`` (the server's sessions on the job
    database but the runner's: the HTTP workers), ``runner`` (told apart by
    its ``application_name``), ``postgres_db`` (the server's sessions on the
    ``postgres`` database, which Odoo opens to list the databases). Kinds:
    ``queries`` (what does the work), ``reset`` (``DISCARD ALL`` sent by
    Odoo's connection pool when a cursor is borrowed), ``transaction``
    (``BEGIN``/``COMMIT``/``ROLLBACK``) of which ``commits``, and
    ``connections``: sessions whose first statement falls in the measured
    run (every session runs one at least).
    """
    server = OdooServer(
        db,
        addons_path,
        workers=args.workers,
        env={
            "ODOO_QUEUE_JOB_CHANNELS": args.channels,
            "PGOPTIONS": "-c log_statement=all",
        },
        extra_args=["--log-level=warn"],
        name="bench-sql",
    )
    marker_server = log_size(args.pg_log)
    try:
        server.start()
        clear_jobs(job_conn)
        enqueue(odoo, db, 20)
        wait_all_done(job_conn, timeout=120)
        time.sleep(0.5)
        marker_start = log_size(args.pg_log)
        enqueue(odoo, db, args.statement_jobs)
        wait_all_done(job_conn, timeout=300)
        time.sleep(0.5)
        marker_end = log_size(args.pg_log)
        with admin.cursor() as cr:
            cr.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                ("queue_job_runner",),
            )
            runner_pids = {str(row[0]) for row in cr.fetchall()}
    finally:
        server.stop()
    kinds = ("queries", "reset", "transaction", "commits", "connections")
    counts = {
        role: dict.fromkeys(kinds, 0) for role in ("workers", "runner", "postgres_db")
    }
    examples = {}
    seen = set()
    pattern = re.compile(r"\[(\d+)\] \S*@(\S+) LOG:  (?:statement|execute [^:]*): (.*)")
    with open(args.pg_log, "rb") as log:
        log.seek(marker_server)
        before = log.read(marker_start - marker_server).decode(errors="replace")
        text = log.read(marker_end - marker_start).decode(errors="replace")
    for line in before.splitlines():
        match = pattern.search(line)
        if match:
            seen.add(match.group(1))
    for line in text.splitlines():
        match = pattern.search(line)
        if not match:
            continue
        pid, dbname, statement = match.groups()
        if dbname == "postgres":
            role = "postgres_db"
        elif dbname == db:
            role = "runner" if pid in runner_pids else "workers"
        else:
            continue
        if pid not in seen:
            seen.add(pid)
            counts[role]["connections"] += 1
        kind = _statement_kind(statement)
        counts[role][kind] += 1
        if kind == "transaction" and statement.strip().upper() == "COMMIT":
            counts[role]["commits"] += 1
        examples.setdefault(role, []).append((pid, statement.strip()))
    if args.show_statements:
        _print_statement_examples(examples, args.show_statements)
    return {
        role: {kind: value / args.statement_jobs for kind, value in values.items()}
        for role, values in counts.items()
    }


def _statement_kind(statement):
    word = statement.strip().split(None, 1)[0].upper() if statement.strip() else ""
    if word in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
        return "transaction"
    if word == "DISCARD":
        return "reset"
    return "queries"


def _print_statement_examples(examples, count):
    """The last ``count`` statements of a worker and of the runner."""
    for role in ("workers", "runner", "postgres_db"):
        statements = examples.get(role)
        if not statements:
            continue
        print("-- last %d statements of role %s:" % (count, role))
        for pid, statement in statements[-count:]:
            print("   [%s] %s" % (pid, statement[:160]))


def log_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def run_enqueue(odoo, db, job_conn, count):
    clear_jobs(job_conn)
    one_by_one = enqueue(odoo, db, count) * 1000.0 / count
    clear_jobs(job_conn)
    try:
        bulk = enqueue(odoo, db, count, bulk=True) * 1000.0 / count
    except ImportError:
        bulk = None
    clear_jobs(job_conn)
    return {"with_delay_ms": one_by_one, "bulk_ms": bulk}


def create_scratch_database(prefix, options=()):
    """``(odoo, addons_path, db)``: Odoo configured for a new database named
    after ``prefix``, created with the benchmark's modules."""
    odoo = odoo_runtime.import_odoo()
    addons_path = odoo_runtime.odoo_addons_paths(odoo)
    db = database.unique_db_name(prefix)
    odoo.tools.config.parse_config(
        [
            "--addons-path=%s" % ",".join(addons_path),
            "--database=%s" % db,
            "--log-level=warn",
            *options,
        ]
    )
    odoo_runtime.check_postgresql(odoo)
    print("creating database %s ..." % db, flush=True)
    database.create_database(odoo, db, addons_path, database.BENCHMARK_MODULES)
    return odoo, addons_path, db


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--channels", default="root:2")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--runs", type=int, default=1, help="runs of the throughput scenario"
    )
    parser.add_argument("--latency-jobs", type=int, default=100)
    parser.add_argument("--statement-jobs", type=int, default=200)
    parser.add_argument("--floor-requests", type=int, default=2000)
    parser.add_argument(
        "--pg-log", default="/var/log/postgresql/postgresql-15-main.log"
    )
    parser.add_argument(
        "--show-statements",
        type=int,
        default=0,
        metavar="N",
        help="print the last N statements logged for each role",
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    odoo, addons_path, db = create_scratch_database("qjbench")
    import psycopg2

    admin = psycopg2.connect(**odoo_runtime.postgres_connect_kwargs(odoo, "postgres"))
    admin.autocommit = True
    job_conn = psycopg2.connect(**odoo_runtime.postgres_connect_kwargs(odoo, db))
    job_conn.autocommit = True
    server = OdooServer(
        db,
        addons_path,
        workers=args.workers,
        env={"ODOO_QUEUE_JOB_CHANNELS": args.channels},
        extra_args=["--log-level=warn"],
        name="bench",
    )
    results = {"load_before": os.getloadavg()[0]}
    try:
        server.start()
        # Warm up: every worker loads its registry before measuring.
        run_throughput(odoo, db, server, admin, job_conn, 50, "root")
        results["throughput_runs"] = [
            run_throughput(odoo, db, server, admin, job_conn, args.jobs, "root")
            for _run in range(args.runs)
        ]
        by_cpu = sorted(
            results["throughput_runs"], key=lambda run: run["cpu_ms_total_per_job"]
        )
        results["throughput"] = by_cpu[(len(by_cpu) - 1) // 2]
        results["latency"] = run_latency(odoo, db, job_conn, args.latency_jobs)
        results["floor"] = run_floor(server, admin, args.floor_requests)
        server.stop()
        results["enqueue"] = run_enqueue(odoo, db, job_conn, 1000)
        if os.access(args.pg_log, os.R_OK):
            results["statements_per_job"] = run_statement_count(
                odoo, db, addons_path, args, admin, job_conn
            )
        results["load_after"] = os.getloadavg()[0]
    finally:
        server.stop()
        job_conn.close()
        admin.close()
        if not args.keep_db:
            database.drop_database(odoo, db)
    print_report(args, results)


def print_report(args, results):
    thr = results["throughput"]
    cpu = thr["cpu_ms_per_job"]
    print()
    print(
        "queue_job benchmark: %s trivial jobs, channels %s, --workers=%s, %s CPUs"
        % (args.jobs, args.channels, args.workers, os.cpu_count())
    )
    print(
        "load average %.2f before, %.2f after (other processes count in the"
        " wall times; CPU figures are this run's processes only)"
        % (results["load_before"], results["load_after"])
    )
    print("-" * 72)
    runs = results["throughput_runs"]
    if len(runs) > 1:
        for number, run in enumerate(runs, 1):
            print(
                "run %d: %.1f jobs/s, CPU %.2f ms per job (HTTP workers %.2f,"
                " runner %.2f, PostgreSQL %.2f); host: %s"
                % (
                    number,
                    run["jobs_per_s"],
                    run["cpu_ms_total_per_job"],
                    run["cpu_ms_per_job"]["http"],
                    run["cpu_ms_per_job"]["runner"],
                    run["cpu_ms_per_job"]["postgresql"],
                    bench_host.describe(run["host"]),
                )
            )
        usual_ms = bench_host.usual_python_ms([run["host"] for run in runs])
        for slowed, label in (
            (False, "at the machine's usual speed"),
            (True, "slowed by the host (see bench_host.slowed)"),
        ):
            cpus = [
                run["cpu_ms_total_per_job"]
                for run in runs
                if bench_host.slowed(run["host"], usual_ms) is slowed
            ]
            if cpus:
                print(
                    "runs %s: %d, CPU %.2f-%.2f ms per job (median %.2f)"
                    % (label, len(cpus), min(cpus), max(cpus), statistics.median(cpus))
                )
        print("figures of the run of median CPU:")
    print(
        "throughput           %8.1f jobs/s  (%.2f s wall)"
        % (thr["jobs_per_s"], thr["wall_s"])
    )
    print(
        "CPU per job          %8.2f ms  (HTTP workers %.2f, runner %.2f,"
        " PostgreSQL %.2f, other Odoo %.2f)"
        % (
            thr["cpu_ms_total_per_job"],
            cpu["http"],
            cpu["runner"],
            cpu["postgresql"],
            cpu["odoo_other"],
        )
    )
    print("host speed           %s" % bench_host.describe(thr["host"]))
    floor = results["floor"]
    floor_cpu = floor["cpu_ms_per_request"]
    print(
        "HTTP floor           %8.1f req/s  (no-op route, session naming the db;"
        " CPU per request %.2f ms: HTTP workers %.2f, PostgreSQL %.2f)"
        % (
            floor["requests_per_s"],
            sum(floor_cpu.values()),
            floor_cpu["http"],
            floor_cpu["postgresql"],
        )
    )
    print(
        "new PG connections   %8.3f per job (pg_stat_database sessions of the job"
        " db and 'postgres': other programs count)" % thr["new_connections_per_job"]
    )
    print(
        "transactions         %8.2f per job in the job db (pg_stat_database"
        " xact_commit: read-only ones, the pool's DISCARD ALL, the runner's"
        " autocommit statements and the enqueue included)" % thr["commits_per_job"]
    )
    statements = results.get("statements_per_job")
    if statements:
        for role, label in (
            ("workers", "HTTP workers"),
            ("runner", "runner"),
            ("postgres_db", "db 'postgres'"),
        ):
            kinds = statements[role]
            print(
                "SQL per job %-14s %5.2f queries, %.2f DISCARD ALL,"
                " %.2f BEGIN/COMMIT/ROLLBACK (%.2f COMMIT), %.3f new connections"
                % (
                    label,
                    kinds["queries"],
                    kinds["reset"],
                    kinds["transaction"],
                    kinds["commits"],
                    kinds["connections"],
                )
            )
    lat = results["latency"]
    print(
        "latency commit->done p50 %.1f ms, p90 %.1f ms, max %.1f ms"
        " (%s jobs, 1 per 100 ms)"
        % (lat["p50_ms"], lat["p90_ms"], lat["max_ms"], lat["count"])
    )
    enq = results["enqueue"]
    print(
        "enqueue              %8.3f ms per with_delay()%s (commit included)"
        % (
            enq["with_delay_ms"],
            ""
            if enq["bulk_ms"] is None
            else ", %.3f ms per job in bulk" % enq["bulk_ms"],
        )
    )


if __name__ == "__main__":
    main()
