# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Values of ``queue_job.state`` as the runner reads them: those of
``queue_job.lifecycle`` (pure Python, no Odoo import), under the names the
scheduler has always used."""
from ..lifecycle import (  # noqa: F401 (the scheduler's names)
    CANCELLED,
    DONE,
    ENQUEUED,
    FAILED,
)
from ..lifecycle import NOT_DONE_STATES as NOT_DONE  # noqa: F401
from ..lifecycle import (  # noqa: F401 (the scheduler's names)
    PENDING,
    STARTED,
    WAIT_DEPENDENCIES,
)
