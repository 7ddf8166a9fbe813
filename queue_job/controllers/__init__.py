from . import main
from . import metrics
from . import paused_channels
from . import rescue
