# isort: skip_file
# queue_requeue_job first: the two other wizards inherit from it.
from . import queue_requeue_job
from . import queue_jobs_to_done
from . import queue_jobs_to_cancelled
