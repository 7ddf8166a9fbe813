"""The end the runner's SQL rescue writes for each job, decided by
``lifecycle.decide_after_run`` (no database: the rows are given)."""
from datetime import datetime

from odoo.addons.queue_job.jobrunner.sql_rescue import (
    WORKER_DIED_ERROR,
    RescuableJob,
    rescued_end,
)

STARTED_AT = datetime(2026, 1, 1, 12, 0, 0)
NOW = datetime(2026, 1, 1, 12, 5, 0)


def _job(retry=0, max_retries=5, worker_pid=4242, duplicate_uuid=None):
    return RescuableJob(
        id=7,
        uuid="u-7",
        retry=retry,
        max_retries=max_retries,
        worker_pid=worker_pid,
        date_started=STARTED_AT,
        date_cancelled=None,
        exc_name="previous.Error",
        exc_message="previous",
        exc_info="previous traceback",
        result="previous result",
        duplicate_uuid=duplicate_uuid,
        now=NOW,
    )


def _end(values):
    names = (
        "id state retry date_started worker_pid date_cancelled exc_name"
        " exc_message exc_info result"
    ).split()
    return dict(zip(names, values))


def test_dead_worker_requeues_counting_the_try():
    end = _end(rescued_end(_job(retry=1), interrupted=False))
    assert (end["state"], end["retry"]) == ("pending", 2)
    assert end["date_started"] is None and end["worker_pid"] is None
    assert end["exc_name"] is None and end["exc_message"] is None
    assert end["exc_info"] == "previous traceback"
    assert end["result"] == "Requeued: the worker running the job (pid 4242) died."


def test_dead_worker_on_the_last_try_fails():
    end = _end(rescued_end(_job(retry=4), interrupted=False))
    assert (end["state"], end["retry"]) == ("failed", 5)
    assert end["exc_name"] == WORKER_DIED_ERROR
    assert end["exc_message"] == end["exc_info"]
    assert "(pid 4242) died" in end["exc_message"]
    assert "max. retries: 5" in end["exc_message"]
    # what the failure keeps
    assert end["date_started"] == STARTED_AT and end["worker_pid"] == 4242
    assert end["result"] == "previous result"


def test_dead_worker_with_a_waiting_duplicate_is_cancelled():
    end = _end(rescued_end(_job(duplicate_uuid="u-8"), interrupted=False))
    assert (end["state"], end["retry"], end["date_cancelled"]) == ("cancelled", 1, NOW)
    assert "job u-8 with the same identity key" in end["result"]


def test_interrupted_requeues_without_counting_the_try():
    end = _end(rescued_end(_job(retry=4, worker_pid=None), interrupted=True))
    assert (end["state"], end["retry"]) == ("pending", 4)
    # the previous failure is kept, and a NULL pid reads as nothing
    assert (end["exc_name"], end["exc_message"]) == ("previous.Error", "previous")
    assert end["result"] == (
        "Requeued: PostgreSQL restarted while the job ran (worker pid );"
        " not counted as a try."
    )
