"""Moved to `nst.io.image` (pixels in `nst.io.frames`); this alias stays until no branch imports the old path."""
from .io.image import *  # noqa: F401,F403
from .io.image import __all__  # noqa: F401
