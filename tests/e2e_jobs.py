"""The base of the end-to-end tests' job helpers: test jobs delayed in
committed transactions and observed directly in the database."""
from contextlib import closing

import psycopg2


class DatabaseJobs:
    """Jobs of the test database ``db_name``, named with ``prefix``."""

    def __init__(self, db_name, committed_env, prefix):
        self.db_name = db_name
        self.committed_env = committed_env
        self.prefix = prefix
        self.uuids = []

    def sql(self, query, args=None):
        with closing(psycopg2.connect(dbname=self.db_name)) as conn:
            conn.autocommit = True
            with conn.cursor() as cr:
                cr.execute(query, args)
                return cr.fetchall() if cr.description else None
