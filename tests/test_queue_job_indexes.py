"""The indexes of columns empty for most jobs hold their values only."""
from odoo.addons.queue_job.models.queue_job import MOSTLY_EMPTY_INDEXED_COLUMNS
from odoo.tests.common import TransactionCase


class TestMostlyEmptyColumnIndexes(TransactionCase):
    def _index_definition(self, column):
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes"
            " WHERE tablename = 'queue_job' AND indexname = %s",
            ("queue_job_%s_index" % column,),
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    def _plan(self, statement, params=None):
        self.env.cr.execute("SET LOCAL enable_seqscan TO off")
        self.env.cr.execute("EXPLAIN " + statement, params)
        return "\n".join(row[0] for row in self.env.cr.fetchall())

    def test_columns(self):
        self.assertEqual(
            MOSTLY_EMPTY_INDEXED_COLUMNS, ("graph_uuid", "message_main_attachment_id")
        )
        for column in MOSTLY_EMPTY_INDEXED_COLUMNS:
            self.assertTrue(self.env["queue.job"]._fields[column].index, column)

    def test_partial_after_install(self):
        for column in MOSTLY_EMPTY_INDEXED_COLUMNS:
            self.assertTrue(
                self._index_definition(column).endswith(
                    "WHERE (%s IS NOT NULL)" % column
                ),
                self._index_definition(column),
            )

    def test_full_index_replaced_at_update(self):
        # what Odoo creates for index=True, and what earlier versions kept
        for column in MOSTLY_EMPTY_INDEXED_COLUMNS:
            self.env.cr.execute(
                'DROP INDEX "queue_job_{column}_index"; CREATE INDEX'
                ' "queue_job_{column}_index" ON queue_job ("{column}")'.format(
                    column=column
                )
            )
            self.assertNotIn("WHERE", self._index_definition(column))
        self.env["queue.job"].init()
        for column in MOSTLY_EMPTY_INDEXED_COLUMNS:
            self.assertIn("IS NOT NULL", self._index_definition(column))
        # and a partial index is left as it is
        self.env.cr.execute(
            "SELECT oid FROM pg_class WHERE relname = 'queue_job_graph_uuid_index'"
        )
        oid = self.env.cr.fetchone()[0]
        self.env["queue.job"].init()
        self.env.cr.execute(
            "SELECT oid FROM pg_class WHERE relname = 'queue_job_graph_uuid_index'"
        )
        self.assertEqual(self.env.cr.fetchone()[0], oid)

    def test_graph_lookups_use_the_index(self):
        for domain in (
            [("graph_uuid", "=", "some-graph")],
            [("graph_uuid", "in", ["some-graph", "other-graph"])],
        ):
            query = self.env["queue.job"]._where_calc(domain)
            from_clause, where_clause, params = query.get_sql()
            plan = self._plan(
                "SELECT id FROM %s WHERE %s" % (from_clause, where_clause), params
            )
            self.assertIn("queue_job_graph_uuid_index", plan)

    def test_attachment_deletion_uses_the_index(self):
        # the statement of the foreign key's ON DELETE SET NULL, planned for
        # any attachment (a generic plan, as PostgreSQL's RI triggers use)
        self.env.cr.execute("SET LOCAL plan_cache_mode TO force_generic_plan")
        self.env.cr.execute(
            "PREPARE queue_job_attachment_deleted(integer) AS"
            " UPDATE queue_job SET message_main_attachment_id = NULL"
            " WHERE message_main_attachment_id = $1"
        )
        try:
            plan = self._plan("EXECUTE queue_job_attachment_deleted(1)")
        finally:
            self.env.cr.execute("DEALLOCATE queue_job_attachment_deleted")
        self.assertIn("queue_job_message_main_attachment_id_index", plan)

    def test_attachment_deletion_clears_the_job(self):
        job = self.env["test.queue.job"].with_delay().testing_method()
        record = job.db_record()
        attachment = self.env["ir.attachment"].create(
            {"name": "report.txt", "raw": b"x", "res_model": "queue.job"}
        )
        record.message_main_attachment_id = attachment
        record.flush()
        attachment.unlink()
        record.invalidate_cache()
        self.assertFalse(record.message_main_attachment_id)
