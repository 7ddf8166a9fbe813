"""Odoo's command line, runnable as a script by any Python that imports odoo.

A real script path (rather than ``python -c``) matters: the prefork server
re-executes ``sys.argv[0]`` to spawn its longpolling (gevent) process.
"""
import odoo.cli

if __name__ == "__main__":
    odoo.cli.main()
