# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
# Public test helpers live in common.py; the test suite lives in the repository.
