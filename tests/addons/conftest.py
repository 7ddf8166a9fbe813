"""The Odoo addons the suite installs; nothing here is collected by pytest.

Their ``tests`` packages are Odoo test modules (``HttpCase`` tours among
them) that only Odoo's own test runner can run, with its HTTP server:
``tests/test_browser_tours.py`` runs them that way.
"""
collect_ignore_glob = ["*"]
