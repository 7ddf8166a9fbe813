from . import controllers
from . import fields
from . import models
from . import wizards
from . import jobrunner
from .post_init_hook import post_init_hook
from .odoo_hooks import post_load

# shortcut
from .job import identity_exact
