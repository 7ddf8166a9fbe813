"""Test harness: locate Odoo, manage scratch databases and real servers."""
