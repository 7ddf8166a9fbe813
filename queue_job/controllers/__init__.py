from . import main
from . import paused_channels
from . import rescue
from . import runjob_dispatch
from . import metrics
