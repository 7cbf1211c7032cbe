"""nst: neural style transfer for photos, videos and live cameras.

    >>> import nst
    >>> img = nst.stylize("photo.jpg", "starry_night", method="adain", size=512)
    >>> img.save("out.png")

Nothing heavy happens on import: weights load on first use.
"""

from .api import list_styles, load_style, stylize, stylize_tensor
from .device import tune_allocator
from .errors import InputError, NSTError, OptionError, OutputError, ResourceError
from .io.image import load_image, save_image
from .methods import Stylizer, make_stylizer, method_names, register
from .methods.adain import AdaINOptions
from .methods.net import NetOptions
from .optimize import OptimizeOptions
from .progress import Progress

__version__ = "0.1.0"

__all__ = ["stylize", "stylize_tensor", "load_style", "list_styles", "load_image", "save_image", "make_stylizer",
           "method_names", "register", "Stylizer", "OptimizeOptions", "AdaINOptions", "NetOptions", "Progress",
           "tune_allocator", "NSTError", "InputError", "OptionError", "OutputError", "ResourceError", "__version__"]
