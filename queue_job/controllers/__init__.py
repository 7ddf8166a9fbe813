from . import main
from . import paused_channels
from . import runjob_dispatch

runjob_dispatch.install()
