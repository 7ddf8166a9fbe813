"""The machine's speed while a benchmark runs, so that runs can be compared.

On a virtual machine, the CPU time of the same work moves with what the
host runs besides (seen on the 2-vCPU machine of the README's figures: up
to 40 % within an hour). A CPU figure of a benchmark means little without
the speed of the machine at that moment, so the benchmarks measure, around
each run of jobs:

* a Python reference, before, during and after the run: the CPU time of a
  fixed pure-Python workload (dicts, strings, calls, JSON: the kind of work
  of Odoo's request handling); before and after, the least of a few
  rounds; during the run, the median of a tenth of it run five times a
  second by a thread of the benchmark (1 % of a CPU, not counted in the
  run's figures: the speed of other machines on the same host comes and
  goes within a second);
* before the run, the same reference on one CPU while the other CPUs spin:
  whether busy CPUs slow each other down at the moment (see
  :func:`python_reference_ms_others_busy`); a throughput run keeps both
  CPUs busy, so when they do, every CPU figure of the run grows with it;
* the steal time during the run: the share of the CPU time that the
  hypervisor gave to other machines (``/proc/stat``);
* the cross-CPU wake-ups during the run: the inter-processor interrupts
  that a CPU sends to wake another one up for a task (``/proc/interrupts``,
  rescheduling and function-call interrupts), per job.

Runs compare only with like references, and like references do not make
them equal: on the machine of the README's figures, runs with the same
references differed by up to a quarter (probably the host's load slowing the
kernel's and the hypervisor's paths, which a Python loop hardly uses).
Judge CPU figures over several runs (``bench_throughput.py --runs N``),
which it sorts into runs at the machine's usual speed and runs slowed by
the host (:func:`slowed`).

Why the wake-ups are counted: on a virtual machine whose idle CPUs halt at
once (seen here: a Firecracker VM booted with
``haltpoll.guest_halt_poll_ns=0``), each wake-up of a halted CPU is an
interrupt through the hypervisor, which costs both sides CPU time. A
``SELECT 1`` round trip to PostgreSQL costs about 115 µs of CPU (client and
server) when client and server run on different CPUs, which is 2 wake-ups,
and about 30 µs when they share a CPU (measured with the other CPU kept
busy: no wake-up at all). A job is a chain of such hops (worker and
PostgreSQL, runner and worker, PostgreSQL and runner): about 5 of them per
job crossed CPUs in the throughput runs here, where both CPUs are busy, and
about 12 in ``bench_runjob.py``'s, one job at a time.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

# The least of a few rounds: noise only ever adds.
PYTHON_ROUNDS = 5
WORKLOAD_SIZE = 5000
# during a run: a tenth of the workload, every 0.2 s
PROBE_SHARE = 10
PROBE_INTERVAL = 0.2
# time for a spinning process to start (a Python interpreter) and run
SPINNER_START_SECONDS = 0.3
# A run is at the machine's usual speed when its reference with the other
# CPUs busy, and during the run, stays within this factor of the least
# reference alone (seen here: within 1.16 at the usual speed, 1.25 to 2 in
# the host's slow phases).
SLOWED_FACTOR = 1.2


def _python_workload(size=WORKLOAD_SIZE):
    total = 0
    for number in range(size):
        record = {"id": number, "name": "job %d" % number, "state": "done"}
        total += len(json.dumps(record)) + len(sorted(record)) + len(str(number))
    return total


def python_reference_ms():
    """CPU time of the fixed Python workload in the calling thread, in ms
    (the benchmark's other threads, such as a probe, do not count)."""
    spent = []
    for _round in range(PYTHON_ROUNDS):
        start = time.thread_time()
        _python_workload()
        spent.append(time.thread_time() - start)
    return min(spent) * 1000.0


def python_reference_ms_others_busy():
    """The Python reference on one CPU while a spinning process keeps each
    other CPU busy, in ms; None on a single CPU.

    On a virtual machine, two busy vCPUs may share a physical core (its
    hyperthreads) or more: then each runs slower when the other one works,
    by a factor that depends on where the host placed them at the moment.
    Seen on the machine of the README's figures: 19.5 ms alone, 31 to 40 ms
    with the other CPU busy, at times; at others, no difference.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    here, others = cpus[0], cpus[1:]
    spinners = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os\nos.sched_setaffinity(0, {%d})\nwhile True: pass" % cpu,
            ]
        )
        for cpu in others
    ]
    try:
        time.sleep(SPINNER_START_SECONDS)
        # (the calling thread only: the benchmark's others keep their CPUs)
        os.sched_setaffinity(0, {here})
        try:
            return python_reference_ms()
        finally:
            os.sched_setaffinity(0, cpus)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _cpu_ticks():
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest times are in user)
    return sum(fields[:8]), fields[7]


def _wake_up_interrupts():
    """Rescheduling and function-call interrupts received by all CPUs so
    far (the kernel wakes a task on a remote CPU with either)."""
    total = 0
    with open("/proc/interrupts") as interrupts:
        for line in interrupts:
            name, _sep, rest = line.partition(":")
            if name.strip() in ("RES", "CAL"):
                total += sum(int(count) for count in rest.split() if count.isdigit())
    return total


class HostMeter:
    """The machine's speed around a run of ``jobs`` jobs: :meth:`start`
    before, :meth:`stop` after, which returns ``{"python_ms_before",
    "python_ms_others_busy", "python_ms_during", "python_ms_after", "steal",
    "wake_ups_per_job"}`` (steal: share of the machine's CPU time in
    between; wake-ups: cross-CPU, of all programs)."""

    def __init__(self, jobs):
        self.jobs = jobs
        self._stopping = threading.Event()
        self._probes = []
        self._prober = threading.Thread(target=self._probe, daemon=True)

    def _probe(self):
        while not self._stopping.wait(PROBE_INTERVAL):
            start = time.thread_time()
            _python_workload(WORKLOAD_SIZE // PROBE_SHARE)
            self._probes.append((time.thread_time() - start) * PROBE_SHARE)

    def start(self):
        self._python_ms_before = python_reference_ms()
        self._python_ms_others_busy = python_reference_ms_others_busy()
        self._ticks_before = _cpu_ticks()
        self._wake_ups_before = _wake_up_interrupts()
        self._prober.start()
        return self

    def stop(self):
        self._stopping.set()
        self._prober.join()
        wake_ups = _wake_up_interrupts() - self._wake_ups_before
        total, steal = (
            after - before for after, before in zip(_cpu_ticks(), self._ticks_before)
        )
        return {
            "python_ms_before": self._python_ms_before,
            "python_ms_others_busy": self._python_ms_others_busy,
            "python_ms_during": (
                statistics.median(self._probes) * 1000.0 if self._probes else None
            ),
            "python_ms_after": python_reference_ms(),
            "steal": steal / total if total else 0.0,
            "wake_ups_per_job": wake_ups / self.jobs,
        }


def usual_python_ms(hosts):
    """The machine's usual speed over runs: the least Python reference alone,
    before or after any of them (what :meth:`HostMeter.stop` returned)."""
    return min(min(host["python_ms_before"], host["python_ms_after"]) for host in hosts)


def slowed(host, usual_ms):
    """Whether the host slowed the run down: the Python reference with the
    other CPUs busy before the run, or during the run, took
    ``SLOWED_FACTOR`` times or more ``usual_ms`` (see
    :func:`usual_python_ms`)."""
    limit = usual_ms * SLOWED_FACTOR
    return any(
        reference is not None and reference >= limit
        for reference in (host["python_ms_others_busy"], host["python_ms_during"])
    )


def describe(host):
    """One line for a report, of what :meth:`HostMeter.stop` returned."""
    during = host["python_ms_during"]
    others_busy = host["python_ms_others_busy"]
    return (
        "Python reference %.1f ms before%s, %s during, %.1f after;"
        " steal %.1f%%; %.1f cross-CPU wake-ups per job"
        % (
            host["python_ms_before"],
            ""
            if others_busy is None
            else " (%.1f with the other CPUs busy)" % others_busy,
            "-" if during is None else "%.1f" % during,
            host["python_ms_after"],
            host["steal"] * 100.0,
            host["wake_ups_per_job"],
        )
    )
