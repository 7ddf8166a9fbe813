from . import main
from . import rescue
from . import runjob_dispatch
