# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job loaded from the row its claim read.

The runjob claim reads the whole ``queue_job`` row while it locks it: put
in the record's cache as the ORM would read it, the row spares the load of
the job a query. Taken only when reading ``queue.job`` records is Odoo's
own (an addon overriding ``read``/``_read`` may change what is read) and
``Job.load()`` is not overridden; see ``JobStorage._load_claimed()``.
"""
from .sql_store import _known_methods


def reads_as_odoo(model):
    """Whether reading ``queue.job`` records is Odoo's own (no addon
    overrides ``read``/``_read``): then a record whose row is put in its
    cache reads what the ORM would have read."""
    return _known_methods(type(model), ("read", "_read"))


def claimed_record(env, names, values):
    """The ``queue.job`` record of a row read by the caller in the current
    transaction, the row's columns ``names`` with ``values`` put in its
    cache as the ORM would read them: loading the job from it
    (``Job._load_from_db_record()``) reads nothing more, whatever columns an
    override reads."""
    model = env["queue.job"]
    if not env.su:
        model = model.sudo()
    row = dict(zip(names, values))
    record = model.browse(row["id"])
    cache = env.cache
    for name, value in row.items():
        field = model._fields.get(name)
        if field is None or not field.store or not field.column_type:
            continue
        cache.set(record, field, field.convert_to_cache(value, record, validate=False))
    return record
