# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Fill ``exc_name`` and ``exc_message`` of failed jobs from their traceback."""
import logging

_logger = logging.getLogger(__name__)

EXCEPTION_LINE_MARKERS = (
    "Error:",
    "requests.exceptions.MissingSchema",
    "botocore.errorfactory.NoSuchKey",
)


def parse_exception(exc_info):
    """``(exc_name, exc_message)`` from the last exception line of a traceback.

    Lines are scanned from the end; the first one naming an exception is
    split at its first colon. Returns None when no line matches.
    """
    for line in reversed(exc_info.splitlines()):
        if any(marker in line for marker in EXCEPTION_LINE_MARKERS):
            name, _sep, message = line.partition(":")
            return name.strip(), message.strip("()', \"")
    return None


def migrate(cr, version):
    cr.execute(
        "SELECT id, exc_info FROM queue_job"
        " WHERE state = 'failed' AND exc_info IS NOT NULL"
    )
    rows = cr.fetchall()
    _logger.info("Extracting the exception of %s failed jobs", len(rows))
    for job_id, exc_info in rows:
        parsed = parse_exception(exc_info)
        if parsed:
            cr.execute(
                "UPDATE queue_job SET exc_name = %s, exc_message = %s WHERE id = %s",
                (parsed[0], parsed[1], job_id),
            )
