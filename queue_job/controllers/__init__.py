from . import main
from . import runjob_dispatch

runjob_dispatch.install()
