from . import base
from . import ir_model_fields
from . import queue_job
from . import queue_job_graph
from . import queue_job_maintenance
from . import queue_job_channel
from . import queue_job_function
from . import queue_job_overview
