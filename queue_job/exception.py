# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Exceptions a job method raises to tell the queue what to do next."""


class BaseQueueJobError(Exception):
    """Base of every error of the job queue."""


class JobError(BaseQueueJobError):
    """A job could not be executed."""


class NoSuchJobError(JobError):
    """The job does not exist (any longer) in the storage."""


class FailedJobError(JobError):
    """The job failed for good: it will not be retried automatically."""


class RetryableJobError(JobError):
    """The job must be tried again later.

    ``seconds`` is the delay before the next try: an int, or a ``(min, max)``
    pair for a random delay in that inclusive range; when falsy, the retry
    pattern of the job function (or ``RETRY_INTERVAL``) decides.

    With ``ignore_retry``, this try does not count toward ``max_retries``.
    """

    def __init__(self, msg, seconds=None, ignore_retry=False):
        super().__init__(msg)
        self.seconds = seconds
        self.ignore_retry = ignore_retry


class JobTimeoutError(JobError):
    """The job ran longer than its timeout and was interrupted.

    Raised inside the running job (see ``queue_job.job_timeout``); ``timeout``
    is the one it exceeded, in seconds. Not a ``RetryableJobError``: the job
    is retried only when its job function says timeouts are retryable.
    """

    timeout = None


class NothingToDoJob(JobError):
    """The job has nothing to do: it is set to done (deprecated)."""


class ChannelNotFound(BaseQueueJobError):
    """A channel could not be found by the job runner."""


class WorkerDiedError(JobError):
    """The worker running the job died before the job ended.

    Never raised: the job runner records it as the failure (``exc_name``)
    of a job it finds started without a live worker (its lease is free)
    once its tries are exhausted (``max_retries``).
    """
