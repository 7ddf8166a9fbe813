from . import compat_job
from . import test_queue_job_compat_log
from . import test_queue_job_compat
from . import queue_job
