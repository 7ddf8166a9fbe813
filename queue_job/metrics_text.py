# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The figures of a database (``job_figures.collect``) as Prometheus metrics.

Written in the text exposition format (version 0.0.4) by this module, so
that serving metrics needs no library. Every metric has the ``db`` label;
per-channel metrics have ``channel``; ``queue_job_jobs`` has a sample for
every state of every channel, 0 included. A capacity without limit is
``+Inf``. See docs/observability.rst for the meaning of each metric.
"""
import math

from .job_figures import RUNNER_LIVENESS_SECONDS, STATE_NAMES, last_leader
from .jobrunner.served_database import LEADER

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (name, type, help, the value from the figures of a channel)
CHANNEL_METRICS = (
    (
        "queue_job_channel_running",
        "gauge",
        "Jobs enqueued or started in the channel.",
        lambda figures: figures["running"],
    ),
    (
        "queue_job_channel_capacity",
        "gauge",
        "Jobs the channel may run at once, as the leading runner applies it"
        " (+Inf: no limit, or no runner).",
        lambda figures: figures["capacity"],
    ),
    (
        "queue_job_channel_paused",
        "gauge",
        "1 while the channel is paused.",
        lambda figures: int(figures["paused"]),
    ),
    (
        "queue_job_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest job waiting to run in the channel (since its"
        " creation or its eta), 0 when none waits.",
        lambda figures: figures["oldest_pending_age"],
    ),
)
COUNTER_METRICS = (
    ("done", "Jobs done in the channel."),
    ("failed", "Jobs that failed in the channel."),
    (
        "retried",
        "Tries that ended with the job queued again (retryable error).",
    ),
    (
        "rescued",
        "Jobs whose worker died, queued again or failed by the rescue.",
    ),
)
RUNNER_COUNTERS = (
    ("dispatched", "Jobs the runner dispatched since it started."),
    ("rescued", "Jobs the runner rescued (or had Odoo rescue) since it started."),
    ("reset", "Jobs reset to pending after a failed dispatch since it started."),
)


def escape(value):
    """A label value, escaped as the text format wants."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value):
    if value is None:
        return "+Inf"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value)
    return str(int(value))


def _sample(name, labels, value):
    text = ",".join('%s="%s"' % (key, escape(val)) for key, val in labels.items())
    return "%s{%s} %s" % (name, text, format_value(value))


def _family(name, kind, help_text, samples):
    lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
    lines.extend(_sample(name, labels, value) for labels, value in samples)
    return lines


def render(db_name, figures):
    """The metrics of one database, as the text of a scrape."""
    channels = figures["channels"]
    lines = _family(
        "queue_job_jobs",
        "gauge",
        "Jobs in the table per channel and state.",
        [
            ({"db": db_name, "channel": name, "state": state}, fig["states"][state])
            for name, fig in channels.items()
            for state in STATE_NAMES
        ],
    )
    for name, kind, help_text, value_of in CHANNEL_METRICS:
        lines += _family(
            name,
            kind,
            help_text,
            [
                ({"db": db_name, "channel": channel}, value_of(fig))
                for channel, fig in channels.items()
            ],
        )
    for counter, help_text in COUNTER_METRICS:
        lines += _family(
            "queue_job_jobs_%s_total" % counter,
            "counter",
            help_text,
            [
                ({"db": db_name, "channel": channel}, fig["totals"][counter])
                for channel, fig in channels.items()
            ],
        )
    lines += _runner_lines(db_name, figures)
    return "\n".join(lines) + "\n"


def _runner_lines(db_name, figures):
    leader = figures["leader"]
    last = last_leader(figures["runners"])
    alive = [row for row in figures["runners"] if row["alive"]]
    lines = _family(
        "queue_job_runner_up",
        "gauge",
        "1 while a job runner leads the database and looped within the last"
        " %d seconds." % RUNNER_LIVENESS_SECONDS,
        [({"db": db_name}, int(leader is not None))],
    )
    lines += _family(
        "queue_job_runner_last_loop_age_seconds",
        "gauge",
        "Seconds since the leading runner last looped (NaN: never led).",
        [({"db": db_name}, last["last_seen_age"] if last else math.nan)],
    )
    lines += _family(
        "queue_job_runner_info",
        "gauge",
        "1 per job runner seen lately, with its host, pid and role"
        " (leader or standby).",
        [
            (
                {
                    "db": db_name,
                    "host": row["host"],
                    "pid": row["pid"],
                    "role": row["role"],
                },
                1,
            )
            for row in alive
        ],
    )
    for counter, help_text in RUNNER_COUNTERS:
        lines += _family(
            "queue_job_runner_%s_total" % counter,
            "counter",
            help_text,
            [
                ({"db": db_name, "host": row["host"], "pid": row["pid"]}, row[counter])
                for row in alive
                if row["role"] == LEADER
            ],
        )
    return lines
