"""JSON of job data: JobEncoder, JobDecoder
and the JobSerialized field."""
import json
from datetime import date, datetime

from lxml import etree
from odoo import fields, models
from odoo.addons.queue_job.fields import JobDecoder, JobEncoder, JobSerialized
from odoo.tests.common import TransactionCase
from odoo.tools.func import lazy


class TestJson(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo_user = cls.env["res.users"].create(
            {
                "name": "Demo JSON",
                "login": "qj_demo_json",
                "groups_id": [(6, 0, [cls.env.ref("base.group_user").id])],
            }
        )
        cls.partner = cls.env["res.partner"].create({"name": "Partner"})

    def _decode(self, text, env=None):
        return json.loads(text, cls=JobDecoder, env=env or self.env)

    def test_encoder_recordset(self):
        partner = self.partner.with_user(self.demo_user)
        value_json = json.dumps(partner, cls=JobEncoder)
        self.assertEqual(
            value_json,
            json.dumps(
                {
                    "_type": "odoo_recordset",
                    "model": "res.partner",
                    "ids": [self.partner.id],
                    "uid": self.demo_user.id,
                    "su": False,
                    "context": {},
                }
            ),
        )

    def test_encoder_recordset_sudo(self):
        value = json.loads(json.dumps(self.partner.sudo(), cls=JobEncoder))
        self.assertIs(value["su"], True)

    def test_encoder_context_allow_list(self):
        record = (
            self.env["test.queue.job"]
            .with_user(self.demo_user)
            .with_context(tz="Europe/Paris", lang="en_US", not_json=object())
        )
        value = json.loads(json.dumps(record, cls=JobEncoder))
        self.assertEqual(value["context"], {"tz": "Europe/Paris", "lang": "en_US"})
        self.assertEqual(value["uid"], self.demo_user.id)

    def test_encoder_context_default_empty(self):
        value = json.loads(
            json.dumps(self.partner.with_context(tz="Europe/Paris"), cls=JobEncoder)
        )
        self.assertEqual(value["context"], {})

    def test_decoder_recordset(self):
        demo_partner = self.partner.with_user(self.demo_user)
        value = self._decode(json.dumps(demo_partner, cls=JobEncoder))
        self.assertEqual(value, self.partner)
        self.assertEqual(value.env.uid, self.demo_user.id)
        self.assertFalse(value.env.su)
        sudo_value = self._decode(json.dumps(demo_partner.sudo(), cls=JobEncoder))
        self.assertTrue(sudo_value.env.su)
        self.assertEqual(sudo_value.env.uid, self.demo_user.id)

    def test_decoder_recordset_without_user(self):
        value_json = '{"_type": "odoo_recordset", "model": "res.users", "ids": [1]}'
        value = self._decode(value_json)
        self.assertEqual(value, self.env["res.users"].browse(1))
        self.assertEqual(value.env.uid, self.env.uid)
        self.assertEqual(value.env.su, self.env.su)

    def test_decoder_recordset_context(self):
        value_json = json.dumps(
            {
                "_type": "odoo_recordset",
                "model": "res.partner",
                "ids": [self.partner.id],
                "uid": self.demo_user.id,
                "context": {"tz": "Europe/Brussels"},
            }
        )
        value = self._decode(value_json)
        self.assertEqual(value.env.context.get("tz"), "Europe/Brussels")
        self.assertFalse(value.env.su)

    def test_decoder_needs_env(self):
        with self.assertRaises(KeyError):
            json.loads("{}", cls=JobDecoder)

    def test_dates(self):
        value = [datetime(2017, 4, 19, 8, 48, 50, 1), date(2017, 4, 19)]
        value_json = json.dumps(value, cls=JobEncoder)
        self.assertEqual(
            json.loads(value_json),
            [
                {"_type": "datetime_isoformat", "value": "2017-04-19T08:48:50.000001"},
                {"_type": "date_isoformat", "value": "2017-04-19"},
            ],
        )
        decoded = self._decode(value_json)
        self.assertEqual(decoded, value)
        self.assertIsInstance(decoded[0], datetime)
        self.assertIsInstance(decoded[1], date)
        self.assertNotIsInstance(decoded[1], datetime)

    def test_etree(self):
        value_xml = etree.fromstring('<root attr="val"><child attr="val"/></root>')
        value_json = json.dumps(value_xml, cls=JobEncoder)
        self.assertEqual(
            json.loads(value_json),
            {
                "_type": "etree_element",
                "value": '<root attr="val"><child attr="val"/></root>',
            },
        )
        decoded = self._decode(value_json)
        self.assertEqual(etree.tostring(decoded), etree.tostring(value_xml))

    def test_lazy(self):
        value = lazy(lambda: {"a": self.partner})
        decoded = self._decode(json.dumps(value, cls=JobEncoder))
        self.assertEqual(decoded, {"a": self.partner})

    def test_unknown_type(self):
        self.assertEqual(
            self._decode('{"_type": "other", "v": 1}'), {"_type": "other", "v": 1}
        )
        with self.assertRaisesRegex(TypeError, "not JSON serializable"):
            json.dumps(object(), cls=JobEncoder)

    def test_nested(self):
        value = {
            "partners": self.partner,
            "dates": (date(2020, 1, 1),),
            1: "int key",
        }
        decoded = self._decode(json.dumps(value, cls=JobEncoder))
        self.assertEqual(
            decoded,
            {"partners": self.partner, "dates": [date(2020, 1, 1)], "1": "int key"},
        )


class TestJobSerializedField(TransactionCase):
    def test_column_is_text(self):
        self.env.cr.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'queue_job'"
            " AND column_name IN ('records', 'args', 'kwargs')"
        )
        self.assertEqual(
            dict(self.env.cr.fetchall()),
            dict.fromkeys(("records", "args", "kwargs"), "text"),
        )
        field = self.env["queue.job"]._fields["args"]
        self.assertIsInstance(field, JobSerialized)
        self.assertEqual(field.type, "job_serialized")

    def test_ir_model_fields_ttype(self):
        ttypes = dict(self.env["ir.model.fields"]._fields["ttype"].selection)
        self.assertEqual(ttypes["job_serialized"], "Job Serialized")
        field = self.env["ir.model.fields"]._get("queue.job", "kwargs")
        self.assertEqual(field.ttype, "job_serialized")

    def test_unsupported_base_type(self):
        # Python < 3.12 wraps errors of __set_name__ in a RuntimeError
        with self.assertRaises(Exception) as cm:

            class Unsupported(models.Model):
                _name = "queue.job.unsupported.field"
                _description = "Never registered"
                _register = False

                bad = JobSerialized(base_type=int)

        error = cm.exception
        if not isinstance(error, ValueError):
            error = error.__cause__
        self.assertIsInstance(error, ValueError)
        self.assertIn("is not a supported base type", str(error))

    def test_empty_values(self):
        job_model = self.env["queue.job"]
        new = job_model.new({})
        self.assertEqual(new.kwargs, {})
        self.assertEqual(new.args, [])
        self.assertEqual(new.records, self.env["base"])
        self.assertEqual(new.records.env.uid, self.env.uid)

    def test_write_read(self):
        job_ = self.env["test.queue.job"].with_delay().testing_method(1)
        record = job_.db_record()
        partner = self.env["res.partner"].create({"name": "Json"})
        record.with_context(_job_edit_sentinel=record.EDIT_SENTINEL).write(
            {"kwargs": {"partner": partner, "day": date(2020, 2, 2)}, "args": (1, 2)}
        )
        record.invalidate_cache()
        self.assertEqual(record.kwargs, {"partner": partner, "day": date(2020, 2, 2)})
        self.assertEqual(record.args, [1, 2])
        self.env.cr.execute("SELECT args FROM queue_job WHERE id = %s", (record.id,))
        self.assertEqual(self.env.cr.fetchone()[0], "[1, 2]")
        # already encoded JSON is stored as is
        record.with_context(_job_edit_sentinel=record.EDIT_SENTINEL).write(
            {"args": "[3]"}
        )
        record.invalidate_cache()
        self.assertEqual(record.args, [3])


def test_field_declaration_keeps_base_type():
    field = JobSerialized(string="X", base_type=dict)
    assert field.args["_base_type"] is dict
    assert field.args["string"] == "X"
    assert fields.Field in type(field).__mro__
