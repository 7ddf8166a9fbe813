from . import main
from . import paused_channels
from . import rescue
