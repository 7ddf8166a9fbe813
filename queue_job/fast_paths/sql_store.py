# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``Job.store()`` in one SQL statement, when that is what the ORM would do.

``Job.store()`` writes ``queue_job`` rows with the values of
``Job._store_values()``. Through the ORM, ``create()`` and ``write()`` of
``queue.job`` also run mail.thread (tracking, auto-subscription of
followers), the Python constraints and the recomputations, and a write after
a commit first reads the whole row back (for the tracking). For the values
of a job, none of that changes anything in a standard installation, yet it
costs more than a millisecond of Python per row: about as much as running a
trivial job. Here the row is inserted or updated with one statement instead
(several rows with one INSERT), but only when the outcome is provably the
ORM's; otherwise the caller goes through the ORM.

Everything that decides is read at each call from what is live: the model
class as it is now (an automated action patches ``create``/``write`` on it
when its rule is created or changed), the defaults, the tracked fields and
the mail auto-subscriptions (through Odoo's own caches, which Odoo clears
when they change), and the switch ``queue_job.fast_paths``. Only what a
model class cannot change without being rebuilt (its fields, their columns
and the triggers between them) is kept, per model class (:func:`_schema`).

* ``create``/``write`` of ``queue.job`` and the hooks they run are those of
  Odoo, mail and queue_job only (``KNOWN_MODULES``): an addon overriding or
  patching them (e.g. an automated action on jobs) means the ORM;
* a value is written in SQL only to a *plain column*: stored, not computed,
  related, translated, company-dependent, inherited nor inverse, no Python
  constraint on it, no field of another record or stored field computed
  from it (the non-stored fields computed from it are invalidated in the
  cache), no one2many pointing back through it;
* a job is inserted in SQL only if the model has no stored computed field
  and the columns it leaves out have no default;
* every value is for a plain column (values of ``_job_store_values`` hooks
  are fine when they are);
* creation: no ``default_*`` context key for a missing column, no tracked
  field set (mail would post its track templates), no field of a mail
  auto-subscription set (mail would subscribe followers);
* update: the state is not ``failed`` (failure message and followers), the
  user is not changed (the records are rebound to it), no ORM write of the
  row is pending in the environment, and the tracked fields keep their value
  in the database (checked by the UPDATE itself: when a value changes, no
  row is updated and the ORM writes it, tracking the change).
"""
import collections
import weakref

from odoo import fields

from .. import fast_paths
from . import chained_commit

# The modules whose create()/write() and mail hooks are known: what they do
# for the values of a job is void or done here.
KNOWN_MODULES = frozenset(
    {
        "odoo.models",
        # import of external ids (not used with jobs)
        "odoo.addons.base.models.ir_fields",
        "odoo.addons.mail.models.mail_thread",
        "odoo.addons.mail.models.mail_activity_mixin",
        "odoo.addons.queue_job.models.queue_job",
    }
)
# What queue.job's create() and write() run, directly or through mail.thread.
CREATE_METHODS = (
    "create",
    "_create",
    "_validate_fields",
    "modified",
    "_message_auto_subscribe",
    "_message_auto_subscribe_followers",
    "_message_track_post_template",
)
WRITE_METHODS = (
    "write",
    "_write",
    "_validate_fields",
    "modified",
    "_prepare_tracking",
    "_message_auto_subscribe",
    "_message_auto_subscribe_followers",
)

# Rows per INSERT statement: large enough to amortise the round trip, small
# enough to keep statements of a reasonable size (PostgreSQL parses them).
INSERT_BATCH_SIZE = 1000

StorePlan = collections.namedtuple(
    "StorePlan",
    [
        # {name: field} of the plain columns
        "columns",
        # whether rows may be inserted, updated in SQL
        "can_create",
        "can_update",
        # columns that get a value when the ORM creates a row without it
        "defaulted",
        # tracked fields (mail.thread)
        "tracked",
        # fields whose value subscribes followers (mail auto-subscription)
        "subscribing",
        # {name: [fields to invalidate in the cache when the column changes]}
        "invalidations",
        # {column names: INSERT statement parts}, filled as rows are inserted
        "statements",
        # columns whose empty value (False, None) is NULL: left out of the
        # INSERT when empty, which is the same
        "null_when_empty",
    ],
)


def _known_methods(model_class, method_names):
    """Whether every definition of these methods comes from KNOWN_MODULES."""
    for name in method_names:
        for klass in model_class.__mro__:
            func = vars(klass).get(name)
            if func is not None and func.__module__ not in KNOWN_MODULES:
                return False
    return True


def _plain_column(model, field, constrained):
    """The fields to invalidate when ``field`` is written in SQL, or None if
    it is not a plain column (see the module docstring)."""
    registry = model.pool
    if not (
        field.store
        and field.column_type
        and field.name != "id"
        and not field.compute
        and not field.related
        and not field.inherited
        and not field.translate
        and not field.company_dependent
        and not field.inverse
        and field.name not in constrained
        and not registry.field_inverses[field]
    ):
        return None
    invalidate = [field]
    for key, dependents in registry.field_triggers.get(field, {}).items():
        if key is not None:
            return None  # fields of other records depend on it
        for dependent in dependents:
            if dependent.store or dependent.model_name != model._name:
                return None
            invalidate.append(dependent)
    return invalidate


# model class -> Schema; a class is rebuilt when its fields change
_schemas = weakref.WeakKeyDictionary()

Schema = collections.namedtuple(
    "Schema",
    ["columns", "invalidations", "statements", "null_when_empty", "field_defaults"],
)


def _schema(model):
    """What the model class alone decides: its plain columns."""
    model_class = type(model)
    schema = _schemas.get(model_class)
    if schema is None:
        constrained = {
            name for method in model._constraint_methods for name in method._constrains
        }
        invalidations = {}
        for name, field in model._fields.items():
            invalidate = _plain_column(model, field, constrained)
            if invalidate is not None:
                invalidations[name] = invalidate
        columns = {name: model._fields[name] for name in invalidations}
        schema = _schemas[model_class] = Schema(
            columns=columns,
            invalidations=invalidations,
            statements={},
            null_when_empty=frozenset(
                name for name, field in columns.items() if _empty_is_null(field, model)
            ),
            field_defaults=frozenset(
                name for name, f in model._fields.items() if f.default is not None
            ),
        )
    return schema


def build_plan(model, insert=True):
    """The conditions of the SQL paths for ``queue.job``, as they are now.

    ``model``: a ``queue.job`` recordset in superuser mode. ``insert``:
    whether the plan is for an insert; otherwise what only matters there
    is left out (``can_create`` False, ``defaulted`` None).
    """
    schema = _schema(model)
    model_class = type(model)
    enabled = fast_paths.enabled()
    generic = enabled and not model._check_company_auto and not model._parent_store
    can_create = (
        insert
        and generic
        and _known_methods(model_class, CREATE_METHODS)
        and not any(f.store and f.compute for f in model._fields.values())
    )
    can_update = generic and _known_methods(model_class, WRITE_METHODS)
    defaulted = None
    if insert:
        defaulted = set(schema.field_defaults)
        defaulted.update(model.env["ir.default"].get_model_defaults(model._name))
        defaulted = frozenset(defaulted)
    tracked = model._get_tracked_fields()
    subtypes = model.env["mail.message.subtype"]
    relations = subtypes._get_auto_subscription_subtypes(model._name)[4]
    subscribing = {name for names in relations.values() for name in names}
    user_field = model._fields.get("user_id")
    if user_field is not None and (
        getattr(user_field, "tracking", None)
        or getattr(user_field, "track_visibility", None)
    ):
        # mail subscribes the user set in a tracked user_id
        subscribing.add("user_id")
    return StorePlan(
        columns=schema.columns,
        can_create=can_create,
        can_update=can_update,
        defaulted=defaulted,
        tracked=tuple(sorted(tracked)),
        subscribing=frozenset(subscribing),
        invalidations=schema.invalidations,
        statements=schema.statements,
        null_when_empty=schema.null_when_empty,
    )


def _empty_is_null(field, model):
    """Whether the column of ``field`` is NULL for both False and None."""
    try:
        return all(
            field.convert_to_column(empty, model) is None for empty in (False, None)
        )
    except (TypeError, ValueError):  # a field type without empty values
        return False


def _trusted(model):
    """Superuser, with the edit sentinel of Job.store(): access rights and
    write protections are passed in the ORM as well."""
    return model.env.su and (
        model.env.context.get("_job_edit_sentinel") is model.EDIT_SENTINEL
    )


def can_insert(plan, job_model, vals):
    """Whether :func:`insert` would store ``vals`` as ``create()`` would."""
    if not (plan.can_create and _trusted(job_model)):
        return False
    columns = plan.columns
    if any(name not in columns for name in vals):
        return False
    if any(vals.get(name) for name in plan.tracked):
        return False
    if any(vals.get(name) for name in plan.subscribing):
        return False
    if any(name not in vals for name in plan.defaulted):
        return False
    for key in job_model.env.context:
        if key.startswith("default_") and key[8:] in columns and key[8:] not in vals:
            return False
    return True


def insert(job_model, vals_list):
    """Insert rows (``can_insert`` must hold for each); return their ids.

    One statement per INSERT_BATCH_SIZE rows having the same columns. Values
    are converted to columns as ``create()`` does.
    """
    schema = _schema(job_model)
    return insert_rows(
        job_model, [insert_row(schema, job_model, vals) for vals in vals_list]
    )


def insert_row(schema, job_model, vals):
    """The row :func:`insert_rows` inserts for ``vals``: ``(columns,
    params)``, its values converted to columns now (a value changed
    afterwards is not what is inserted). ``schema``: a plan or the
    model's ``_schema()``."""
    null_when_empty = schema.null_when_empty
    names = tuple(
        sorted(
            name
            for name, value in vals.items()
            if not ((value is None or value is False) and name in null_when_empty)
        )
    )
    fields, _head, _row_sql = _insert_statement(schema, job_model, names)
    params = [job_model._sequence]
    params.extend(
        field.convert_to_column(vals[field.name], job_model, vals) for field in fields
    )
    return names, params


def insert_rows(job_model, rows):
    """Insert ``rows`` made by :func:`insert_row`; return their ids."""
    schema = _schema(job_model)
    cr = job_model.env.cr
    ids = [None] * len(rows)
    by_columns = collections.OrderedDict()
    for index, (names, _params) in enumerate(rows):
        by_columns.setdefault(names, []).append(index)
    for names, indexes in by_columns.items():
        _fields, head, row_sql = _insert_statement(schema, job_model, names)
        for start in range(0, len(indexes), INSERT_BATCH_SIZE):
            batch = indexes[start : start + INSERT_BATCH_SIZE]
            params = []
            for index in batch:
                params.extend(rows[index][1])
            cr.execute(
                head + ", ".join([row_sql] * len(batch)) + " RETURNING id", params
            )
            # PostgreSQL returns the rows of an INSERT ... VALUES in order
            for index, (new_id,) in zip(batch, cr.fetchall()):
                ids[index] = new_id
    return ids


def _insert_statement(schema, job_model, names):
    """``(fields, head, row)`` of the INSERT of the columns ``names``.

    Kept with the model's schema: the jobs of an addon mostly have the same
    columns.
    """
    statement = schema.statements.get(names)
    if statement is None:
        fields = [schema.columns[name] for name in names]
        head = 'INSERT INTO "{}" ("id", {}) VALUES '.format(
            job_model._table, ", ".join('"%s"' % name for name in names)
        )
        row_sql = "(nextval(%s), {})".format(
            ", ".join(field.column_format for field in fields)
        )
        statement = schema.statements[names] = (fields, head, row_sql)
    return statement


def _written_column_value(field, value, record):
    """The column value ``write()`` sends to the database for ``value``.

    As ``Field.write()`` computes it: the cache value, which is already the
    column value for strings, else converted back through the write format.
    """
    cache_value = field.convert_to_cache(value, record)
    if isinstance(field, fields._String):
        return cache_value
    return field.convert_to_column(field.convert_to_write(cache_value, record), record)


def update(record, vals, returning=None):
    """Write ``vals`` on the ``queue.job`` ``record`` in SQL if equivalent.

    Returns False, having written nothing, when the ORM must write them;
    else True, or with ``returning`` (``(sql, params)`` of an expression
    the UPDATE returns, in the same round trip), a 1-tuple of its value.
    An UPDATE without ``returning`` nor guard carries the commit that a
    block of ``chained_commit.commit_with_last_statement()`` asks for.
    Values are converted to columns as ``write()`` does (through the cache
    format), and the written fields are invalidated in the cache.
    """
    if not _trusted(record):
        return False
    plan = build_plan(record, insert=False)
    if not plan.can_update:
        return False
    if vals.get("user_id") or vals.get("state") == "failed":
        return False
    columns = plan.columns
    if any(name not in columns or name in plan.subscribing for name in vals):
        return False
    pending = record.env.all.towrite.get(record._name)
    if pending and record.id in pending:
        return False
    assignments = []
    params = []
    for name, value in vals.items():
        field = columns[name]
        assignments.append('"%s" = %s' % (name, field.column_format))
        params.append(_written_column_value(field, value, record))
    params.append(record.id)
    guards = ""
    for name in plan.tracked:
        if name in vals:
            guards += ' AND "%s" IS NOT DISTINCT FROM %s' % (
                name,
                columns[name].column_format,
            )
            params.append(params[list(vals).index(name)])
    statement = 'UPDATE "{}" SET {} WHERE id = %s{}'.format(
        record._table, ", ".join(assignments), guards
    )
    cr = record.env.cr
    if returning is not None:
        statement += " RETURNING " + returning[0]
        params.extend(returning[1])
    if returning is not None or guards:
        cr.execute(statement, params)
        written = cr.rowcount
    else:
        # may carry a commit (and lose the row count): without guard, the
        # row, which whoever asks for the commit has locked, is updated
        written = chained_commit.execute(cr, statement, params) or cr.rowcount
    if not written:
        return False
    record.env.cache.invalidate(
        [(field, record.ids) for name in vals for field in plan.invalidations[name]]
    )
    if returning is not None:
        return (cr.fetchone()[0],)
    return True
