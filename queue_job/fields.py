# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The JSON representation of job data: recordsets, dates and XML survive a
round-trip through a plain ``text`` column."""
import contextlib
import json
from datetime import date, datetime

import dateutil.parser
from lxml import etree
from odoo import fields, models
from odoo.tools.func import lazy


class JobSerialized(fields.Field):
    """JSON stored in a ``text`` column, decoded with the reading environment.

    ``base_type`` is the Python type of the value (``dict``, ``list``,
    ``tuple`` or ``BaseModel``): a value of that type is encoded on write,
    anything else is taken as already encoded JSON text.
    """

    type = "job_serialized"
    column_type = ("text", "text")

    _base_type = None

    # JSON of an empty column, per base type
    _default_json_mapping = {
        dict: "{}",
        list: "[]",
        tuple: "[]",
        models.BaseModel: lambda env: json.dumps(
            {"_type": "odoo_recordset", "model": "base", "ids": [], "uid": env.uid}
        ),
    }

    def __init__(self, string=fields.Default, base_type=fields.Default, **kwargs):
        super().__init__(string=string, _base_type=base_type, **kwargs)

    def _setup_attrs(self, model_class, name):
        res = super()._setup_attrs(model_class, name)
        if self._base_type not in self._default_json_mapping:
            raise ValueError("%s is not a supported base type" % self._base_type)
        return res

    def _base_type_default_json(self, env):
        default_json = self._default_json_mapping[self._base_type]
        if callable(default_json):
            default_json = default_json(env)
        return default_json

    def convert_to_column(self, value, record, values=None, validate=True):
        return self.convert_to_cache(value, record, validate=validate)

    def convert_to_cache(self, value, record, validate=True):
        # cache format: the JSON text, or None
        # (a tuple reads back as a list, which the ORM writes back as such)
        base_type = (tuple, list) if self._base_type is tuple else self._base_type
        if isinstance(value, base_type):
            return json.dumps(value, cls=JobEncoder)
        return value or None

    def convert_to_record(self, value, record):
        default = self._base_type_default_json(record.env)
        return json.loads(value or default, cls=JobDecoder, env=record.env)


class JobEncoder(json.JSONEncoder):
    """Encode recordsets, dates and lxml elements as ``_type``-tagged objects."""

    def default(self, obj):
        if isinstance(obj, models.BaseModel):
            return {
                "_type": "odoo_recordset",
                "model": obj._name,
                "ids": obj.ids,
                "uid": obj.env.uid,
                "su": obj.env.su,
                "context": obj._job_prepare_context_before_enqueue(),
            }
        # datetime is a subclass of date: test it first
        if isinstance(obj, datetime):
            return {"_type": "datetime_isoformat", "value": obj.isoformat()}
        if isinstance(obj, date):
            return {"_type": "date_isoformat", "value": obj.isoformat()}
        if isinstance(obj, etree._Element):
            return {
                "_type": "etree_element",
                "value": etree.tostring(obj, encoding=str),
            }
        if isinstance(obj, lazy):
            return obj._value
        return super().default(obj)


class JobDecoder(json.JSONDecoder):
    """Decode the objects produced by :class:`JobEncoder`.

    Recordsets are bound to the stored user and superuser flag, on the
    environment (cursor) given as the mandatory ``env`` keyword.
    """

    def __init__(self, *args, **kwargs):
        env = kwargs.pop("env")
        super().__init__(*args, object_hook=self.object_hook, **kwargs)
        assert env is not None, "JobDecoder needs an Odoo environment"
        self.env = env

    def object_hook(self, obj):
        type_ = obj.get("_type")
        if type_ is None:
            return obj
        if type_ == "odoo_recordset":
            model = self.env(user=obj.get("uid"), su=obj.get("su"))[obj["model"]]
            if obj.get("context"):
                model = model.with_context(**obj["context"])
            return model.browse(obj["ids"])
        if type_ == "datetime_isoformat":
            return dateutil.parser.parse(obj["value"])
        if type_ == "date_isoformat":
            return dateutil.parser.parse(obj["value"]).date()
        if type_ == "etree_element":
            return etree.fromstring(obj["value"])
        return obj


class _OffenderTrackingEncoder(JobEncoder):
    """Remember the value the JSON encoder gave up on, for the error message."""

    offender = None

    def default(self, obj):
        try:
            return super().default(obj)
        except TypeError:
            self.offender = obj
            raise


def _short_repr(value, limit=200):
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def serialization_error(function_name, key, value, err):
    """The error to raise when ``value``, the ``key`` (records, args or
    kwargs) of a job of ``function_name``, cannot be encoded: ``err``'s
    type, naming the value JSON cannot represent, so that a bad argument
    fails when the job is delayed, not when the transaction commits."""
    # encoded again, to know which value JSON cannot represent
    encoder = _OffenderTrackingEncoder()
    with contextlib.suppress(TypeError, ValueError):
        encoder.encode(value)
    if encoder.offender is not None:
        detail = "value %s of type %s" % (
            _short_repr(encoder.offender),
            type(encoder.offender).__name__,
        )
    else:
        detail = "value %s" % _short_repr(value)
    return type(err)(
        "Cannot delay %s: its %s cannot be stored as JSON (%s): %s"
        % (function_name, key, detail, err)
    )
