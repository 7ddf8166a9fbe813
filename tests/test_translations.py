"""The translation template ``queue_job/i18n/queue_job.pot`` is current.

Odoo exports the template of the installed addon (the same export as
``odoo -d <db> --i18n-export=queue_job/i18n/queue_job.pot --modules=queue_job
--stop-after-init``); every term and where it comes from must be in the
committed file, and the file must hold no term that is gone.
"""
import io
from pathlib import Path

import polib
from harness.odoo_runtime import REPO_ROOT

POT_PATH = REPO_ROOT / "queue_job" / "i18n" / "queue_job.pot"
REGENERATE = (
    "Regenerate it: odoo -d <db with queue_job installed> "
    "--i18n-export=queue_job/i18n/queue_job.pot --modules=queue_job "
    "--stop-after-init, then drop its POT-Creation-Date and PO-Revision-Date "
    "lines."
)


def _terms(pot):
    return {
        (
            entry.msgid,
            tuple(sorted(occurrence for occurrence, _line in entry.occurrences)),
        )
        for entry in pot
        if not entry.obsolete
    }


def _exported_template(odoo, db_name):
    buffer = io.BytesIO()
    with odoo.registry(db_name).cursor() as cr:
        odoo.tools.trans_export(None, ["queue_job"], buffer, "po", cr)
    return polib.pofile(buffer.getvalue().decode())


def test_translation_template_is_current(odoo, db_name):
    committed = polib.pofile(str(POT_PATH))
    exported = _exported_template(odoo, db_name)
    missing = sorted(_terms(exported) - _terms(committed))
    stale = sorted(_terms(committed) - _terms(exported))
    assert (
        not missing and not stale
    ), "queue_job.pot is out of date.\nMissing: %s\nGone: %s\n%s" % (
        missing[:20],
        stale[:20],
        REGENERATE,
    )


def test_screens_and_messages_are_in_the_template():
    msgids = {entry.msgid for entry in polib.pofile(str(POT_PATH))}
    for text in (
        # menus, actions, wizards (views and data)
        "Job Queue",
        "Jobs",
        "Channels",
        "Job Functions",
        "Requeue Job",
        "Set to 'Done'",
        "Cancel job",
        "The selected jobs will be requeued.",
        "The selected jobs will be set to done.",
        "The selected jobs will be cancelled.",
        # fields and selections
        "Wait Dependencies",
        "Failed",
        "Exception Information",
        "Dependencies",
    ):
        assert text in msgids, text
    assert Path(POT_PATH).read_text().startswith("# Translation of Odoo Server.")
