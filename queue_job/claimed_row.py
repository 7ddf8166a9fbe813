# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""A ``queue_job`` row read by the runjob claim, seen as its record.

``Job._load_from_db_record()`` reads a job from the attributes of a
``queue.job`` record. The claim of a job reads its row in SQL (see
``RunJobController._lock_enqueued_job``): :class:`ClaimedRow` gives the
row's values as the record would, converted as the ORM converts what it
reads (``convert_to_cache()``, then ``convert_to_record()``), without the
cache and prefetching of a record: a job is loaded from a few fields read
once each.

For the plain fields of the row (strings, numbers, dates), those two
conversions of a value read from PostgreSQL boil down to an expression,
which is used instead (:func:`plain_converter`): the job is loaded for
each run, and the conversions were a tenth of the CPU of loading it.
"""
import weakref

from odoo import fields

# model class -> {field name: converter or None}, computed once per registry
_converters = weakref.WeakKeyDictionary()


def _false_if_none(value):
    return False if value is None else value


def _false_if_empty(value):
    return value or False


def _zero_if_empty(value):
    return value or 0


def _float(value):
    return float(value or 0.0)


def plain_converter(field):
    """The function that converts a value of ``field`` read from
    PostgreSQL as ``field.convert_to_record(field.convert_to_cache(value))``
    does, or None when there is no simpler way."""
    kind = type(field)
    if kind in (fields.Char, fields.Text):
        if field.translate or getattr(field, "size", None):
            return None
        return _false_if_none
    if kind is fields.Selection:
        # (the cache conversion without validation: ``value or None``)
        return _false_if_empty
    if kind is fields.Datetime:
        # timestamps without time zone: naive datetimes, or None
        return _false_if_empty
    if kind is fields.Integer:
        return _zero_if_empty
    if kind is fields.Float and field._digits is None:
        return _float
    return None


def _converters_of(model_class):
    converters = _converters.get(model_class)
    if converters is None:
        converters = _converters[model_class] = {
            name: plain_converter(field) for name, field in model_class._fields.items()
        }
    return converters


class ClaimedRow:
    """Columns of a ``queue_job`` row, read as attributes of its record."""

    __slots__ = ("_record", "_values", "_converters", "env", "id")

    def __init__(self, record, values):
        self._record = record
        self._values = values
        self._converters = _converters_of(type(record))
        self.env = record.env
        self.id = record.id

    def __getattr__(self, name):
        converter = self._converters.get(name)
        if converter is not None:
            return converter(self._values[name])
        record = self._record
        field = record._fields[name]
        value = field.convert_to_cache(self._values[name], record, validate=False)
        return field.convert_to_record(value, record)
