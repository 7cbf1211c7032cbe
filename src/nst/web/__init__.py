"""The web page, `nst serve`: upload, pick a painting, watch it paint, download; video jobs; the webcam.

A front end like `nst.cli`, sharing everything underneath with it: styles come from `nst.registry`,
methods from `nst.methods` (`resolve_method`, `make_stylizer`), the form's fields, bounds and
defaults from the options metadata (`nst.options`), progress from `nst.Progress` events, and every
error message from the `nst.NSTError` the library raised.

    limits.py   ServerLimits: the server's limits (an options dataclass: `nst serve` flags come from it)
    forms.py    the form schema from the options metadata; form values -> validated method options
    jobs.py     Job and JobQueue: bounded queue, worker threads, private folders, progress, cancel
    work.py     the jobs themselves (image, examine, video) and the webcam's stylizers
    app.py      the aiohttp application: routes, auth, limits, one-line errors
    static/     the page (one HTML file, one script, one stylesheet; nothing from the internet)

Only this package imports the web stack (aiohttp, the `nst[web]` extra); the library never does.
"""

from .limits import ServerLimits

__all__ = ["ServerLimits"]
