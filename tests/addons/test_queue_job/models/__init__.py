from . import (
    queue_job,
    test_queue_channel,
    test_queue_job,
    test_queue_job_execution,
    test_related_action,
    test_reliability_job,
    test_runner_job,
)
